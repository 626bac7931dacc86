"""gradient_descent's float path (the book's options, few parameters): the general path's bits."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum


def general(f, x0, lr, step_num, **kw):
    # h as a NumPy float takes numerical_gradient each step (the same step 1e-4)
    return nnnum.gradient_descent(f, x0, lr=lr, step_num=step_num, h=np.float64(1e-4), **kw)


def quartic(v):
    return float(np.sum(v**4 - 3.0 * v**2 + v))


@settings(max_examples=40, deadline=None)
@given(
    x0=hnp.arrays(np.float64, st.integers(1, 70), elements=st.floats(-3, 3)),
    lr=st.floats(1e-4, 0.05),
    steps=st.integers(0, 30),
)
def test_float_path_equals_the_general_path_bit_for_bit(x0, lr, steps):
    a, ha = nnnum.gradient_descent(quartic, x0, lr=lr, step_num=steps, history=True)
    b, hb = general(quartic, x0, lr, steps, history=True)
    assert a.tobytes() == b.tobytes() and ha.tobytes() == hb.tobytes()


def test_shapes_and_numpy_scalars_and_ints():
    x0 = np.arange(6.0).reshape(2, 3) / 7
    for f in (
        lambda v: np.sum(v**2),  # a NumPy scalar
        lambda v: float(np.sum(v**2)),
        lambda v: np.float32(np.sum(v**2)),  # another real type: checked
    ):
        a, ha = nnnum.gradient_descent(f, x0, lr=0.1, step_num=7, history="full")
        b, hb = general(f, x0, 0.1, 7, history="full")
        assert a.tobytes() == b.tobytes() and a.shape == (2, 3)
        assert hb.x.tobytes() == ha.x.tobytes() and ha.f.tobytes() == hb.f.tobytes()


def test_init_x_never_modified_and_a_bad_result_named():
    x0 = np.array([1.0, 2.0])
    nnnum.gradient_descent(lambda v: float(v @ v), x0, lr=0.1, step_num=5)
    assert np.array_equal(x0, [1.0, 2.0])
    with pytest.raises(TypeError, match=r"returned None at x\[0\] \+ h"):
        nnnum.gradient_descent(lambda v: None, x0, lr=0.1, step_num=5)


@pytest.mark.parametrize("lr", [10.0, 1e308])
def test_divergence_is_the_same_warning_and_point(lr):
    f = lambda v: float(v[0] ** 2 + v[1] ** 2)  # noqa: E731
    with pytest.warns(nnnum.DivergenceWarning) as wa:
        a, ha = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), lr=lr, step_num=200, history=True)
    with pytest.warns(nnnum.DivergenceWarning) as wb:
        b, hb = general(f, np.array([-3.0, 4.0]), lr, 200, history=True)
    assert a.tobytes() == b.tobytes() and ha.tobytes() == hb.tobytes()
    assert str(wa[0].message) == str(wb[0].message)


def test_a_step_that_rounds_hands_over_to_the_general_path():
    # x grows until x + h rounds: the float path stops before calling f for that step, and
    # the general path warns (StepRoundingWarning), then raises (divergence) as it always did
    f = lambda v: float(-v[0])  # noqa: E731
    out = []
    for run in (nnnum.gradient_descent, general):
        calls = []

        def g(v, calls=calls):
            calls.append(1)
            return f(v)

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            x = (
                run(g, np.array([1e10]), lr=1e11, step_num=40)
                if run is general
                else run(g, np.array([1e10]), lr=1e11, step_num=40)
            )
        out.append((x.tobytes(), [str(w.message) for w in caught], len(calls)))
    assert out[0] == out[1]
    assert any("rounded" in m for m in out[0][1])


def test_nan_at_init_x_raises_as_itself():
    with pytest.raises(FloatingPointError, match=r"x\[0\] \+ h"):
        nnnum.gradient_descent(lambda v: float("nan"), np.array([1.0]), lr=0.1, step_num=3)


def test_f_raising_mid_step_passes_through():
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 9:
            raise KeyError("mine")
        return float(v @ v)

    with pytest.raises(KeyError, match="mine"):
        nnnum.gradient_descent(f, np.array([1.0, 2.0]), lr=0.1, step_num=5)


@pytest.mark.parametrize("n", [32, 100])  # the float path and the general path
def test_divergence_swallowed_by_rounding_still_warns(n):
    # at |x| ~ 5e10 the perturbation h is lost in the rounding of f: the gradient is exactly 0
    f = lambda v: float(np.sum(v**2))  # noqa: E731
    with pytest.warns(nnnum.DivergenceWarning, match="exactly zero after"):
        nnnum.gradient_descent(f, np.full(n, 3.0), lr=10, step_num=100)


def test_exact_convergence_to_zero_is_not_divergence():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = nnnum.gradient_descent(lambda v: float(np.sum(v**2)), np.full(3, 3.0), 0.5, 10)
    assert np.array_equal(x, np.zeros(3))


@pytest.mark.parametrize(
    "f, x0",
    [
        (lambda x: (x[0] - x[1]) ** 2, [1.0, 1.0]),  # flat along the diagonal
        (lambda x: (x[0] - x[1]) ** 4, [3.0, 3.0]),
        (lambda x: float(np.cos(2 * np.pi * x[0] / 1e-3)), [0.0]),  # periodic in the probe
        (lambda w: max(w[0], 0.0) + max(w[1], 0.0), [-1.0, -2.0]),  # a dead ReLU
        (lambda w: float(np.floor(w[0])), [0.5]),  # flat almost everywhere
    ],
)
def test_an_f_of_its_argument_that_is_locally_flat_is_not_refused(f, x0):
    x = nnnum.gradient_descent(f, np.array(x0), lr=0.1, step_num=5)
    np.testing.assert_array_equal(x, x0)
