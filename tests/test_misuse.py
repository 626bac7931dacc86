"""Misuse that once gave a silently wrong answer, a crash or an unclear error.

Each test names the class of defect it keeps fixed: overlapping memory, the step ``h`` checked
alike everywhere, complex and object input, inconsistent parameters, matrix x, the messages."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import nnnum
from nnnum._regions import has_internal_overlap

from .fresh_python import run_python


# ---------------------------------------------------------- 2. overlapping memory
def test_overlapping_writable_view_is_rejected():
    base = np.arange(5.0)
    x = np.lib.stride_tricks.sliding_window_view(base, 3, writeable=True)
    with pytest.raises(ValueError, match="share memory"):
        nnnum.numerical_gradient(lambda w: float(np.sum(w)), x)
    np.testing.assert_array_equal(base, np.arange(5.0))


@pytest.mark.parametrize(
    "make, overlap",
    [
        (lambda: np.zeros((3, 4)), False),
        (lambda: np.zeros((3, 4))[:, ::2], False),
        (lambda: np.zeros((3, 4))[::-1, ::-2], False),
        (lambda: np.zeros((4, 3)).T, False),
        (lambda: np.lib.stride_tricks.as_strided(np.zeros(8), (2, 2), (16, 24)), False),
        (lambda: np.lib.stride_tricks.as_strided(np.zeros(8), (3, 3), (8, 16)), True),
        (lambda: np.lib.stride_tricks.sliding_window_view(np.zeros(6), 2), True),
        (lambda: np.zeros(0), False),
        (lambda: np.zeros(()), False),
    ],
)
def test_internal_overlap_detection(make, overlap):
    assert has_internal_overlap(make()) is overlap


def test_broadcast_view_gets_the_broadcast_message_not_read_only():
    with pytest.raises(ValueError, match="broadcast"):
        nnnum.numerical_gradient(lambda w: float(w.sum()), np.broadcast_to(np.ones(1), (3,)))


# ----------------------------------------------------------------- 3-4. one h check
BAD_H = [
    (True, TypeError),
    ("1e-4", TypeError),
    (-1e-4, ValueError),
    (0, ValueError),
    (np.nan, ValueError),
    (np.inf, ValueError),
]


@pytest.mark.parametrize("h, exc", BAD_H)
@pytest.mark.parametrize("method", ["structured", "brute"])
def test_network_gradient_checks_h(h, exc, method, backend):
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    with pytest.raises(exc, match="h"):
        net.numerical_gradient(np.ones((2, 3)), np.array([0, 1]), method=method, h=h)


@pytest.mark.parametrize("h, exc", BAD_H)
def test_every_entry_point_checks_h_alike(h, exc):
    f = lambda w: float(np.sum(w**2))  # noqa: E731
    for call in (
        lambda: nnnum.numerical_gradient(f, np.ones(2), h=h),
        lambda: nnnum.numerical_diff(lambda v: v**2, 1.0, h=h),
        lambda: nnnum.batched_numerical_gradient(lambda X: (X**2).sum(axis=1), np.ones(2), h=h),
        lambda: nnnum.gradient_descent(f, np.ones(2), h=h),
    ):
        with pytest.raises(exc, match="h"):
            call()


def test_h_none_is_the_default_step_everywhere():
    f = lambda w: float(np.sum(w**3))  # noqa: E731
    x = np.array([0.5, 1.5, -2.0])
    for call in (
        lambda h: nnnum.numerical_gradient(f, x, h=h),
        lambda h: nnnum.numerical_diff(lambda v: v**3, x, h=h),
        lambda h: nnnum.batched_numerical_gradient(lambda X: (X**3).sum(axis=1), x, h=h),
        lambda h: nnnum.gradient_descent(f, x, step_num=3, h=h),
    ):
        assert np.array_equal(call(None), call(1e-4))
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    xs, t = np.ones((2, 3)), np.array([0, 1])
    for method in ("structured", "brute"):
        a = net.numerical_gradient(xs, t, method=method, h=None)
        b = net.numerical_gradient(xs, t, method=method, h=1e-4)
        assert all(np.array_equal(a[k], b[k]) for k in a)


def test_gradcheck_never_swallows_errors():
    net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((4, 5)), np.array([0, 1, 2, 0])
    with pytest.raises(TypeError, match="h"):
        nnnum.gradcheck(net, x, t, h="1e-3")
    with pytest.raises(TypeError, match="h"):
        nnnum.gradcheck(net, x, t, method="brute", h="1e-3")
    with pytest.raises(ValueError, match="method"):
        nnnum.gradcheck(net, x, t, method="fast")


def test_gradcheck_on_a_net_without_options():
    class Plain(nnnum.TwoLayerNet):
        def numerical_gradient(self, x, t):  # the book's signature
            return super().numerical_gradient(x, t, method="brute")

    net = Plain(5, 4, 3, weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(0).random((4, 5)), np.array([0, 1, 2, 0])
    assert nnnum.gradcheck(net, x, t)
    with pytest.raises(TypeError, match="'h'"):
        nnnum.gradcheck(net, x, t, h=1e-3)


# ------------------------------------------------------------------- 5. complex input
def test_complex_input_is_a_type_error_everywhere(backend):
    net = nnnum.TwoLayerNet(2, 2, 2, seed=0)
    xc = np.array([[1 + 1j, 2.0]])
    calls = {
        "numerical_diff": lambda: nnnum.numerical_diff(lambda v: v**2, 1 + 1j),
        "numerical_gradient": lambda: nnnum.numerical_gradient(lambda v: 0.0, np.ones(2, complex)),
        "batched": lambda: nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), [1 + 1j]),
        "loss": lambda: net.loss(xc, [0]),
        "predict": lambda: net.predict(xc),
        "gradient": lambda: net.gradient(xc, [0]),
        "accuracy": lambda: net.accuracy(xc, [0]),
        "numerical": lambda: net.numerical_gradient(xc, [0]),
        "softmax": lambda: nnnum.softmax(np.ones(3, complex)),
    }
    for name, call in calls.items():
        with pytest.raises(TypeError, match="complex|real"):
            call()
        del name


def test_object_and_complex_x_messages_say_what_is_wrong():
    with pytest.raises(TypeError, match="complex"):
        nnnum.numerical_gradient(lambda v: 0.0, np.ones(2, complex))
    with pytest.raises(TypeError, match="object") as info:
        nnnum.numerical_gradient(lambda v: 0.0, np.array([1.0, "a"], dtype=object))
    assert "integer" not in str(info.value)
    with pytest.raises(TypeError, match="None"):
        nnnum.numerical_gradient(lambda v: 0.0, None)


# ---------------------------------------------------------- 7. inconsistent params
def test_inconsistent_params_are_rejected_before_any_kernel():
    # in a subprocess: before the fix this corrupted the heap in half the runs
    out = run_python(
        """
        import numpy as np, nnnum
        rng = np.random.default_rng(0)
        x, t = rng.standard_normal((6, 5)), np.array([0, 1, 2, 0, 1, 2])
        cases = {
            "W2 rows": ("W2", np.ones((5, 3))),
            "W2 1-D": ("W2", np.ones(4)),
            "b1 length": ("b1", np.zeros(7)),
            "b2 length": ("b2", np.zeros(2)),
            "W1 1-D": ("W1", np.ones(5)),
            "W1 rows": ("W1", np.ones((9, 4))),
            "b2 2-D": ("b2", np.zeros((3, 1))),
            "W2 list": ("W2", [[1.0] * 3] * 4),
            "W1 complex": ("W1", np.ones((5, 4), complex)),
        }
        for backend in ("numba", "numpy"):
            with nnnum.use_backend(backend):
                for name, (key, value) in cases.items():
                    for method in ("predict", "loss", "gradient", "structured", "brute", "accuracy"):
                        net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
                        net.params[key] = value
                        try:
                            if method == "predict":
                                net.predict(x)
                            elif method in ("loss", "gradient", "accuracy"):
                                getattr(net, method)(x, t)
                            else:
                                net.numerical_gradient(x, t, method=method)
                        except (ValueError, TypeError) as exc:
                            ok = key in str(exc) or (key == "W1" and "inputs per sample" in str(exc))
                            assert ok, (name, method, str(exc))
                        else:
                            raise SystemExit(f"no error for {name} / {method} / {backend}")
        print("all rejected")
        """
    )
    assert out.returncode == 0, out.stdout[-1000:] + out.stderr[-2000:]
    assert "all rejected" in out.stdout


def test_float_params_of_any_layout_still_work():
    net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    ref_net = nnnum.TwoLayerNet(5, 4, 3, weight_init_std=0.5, seed=0)
    net.params["W1"] = np.asfortranarray(net.params["W1"])
    net.params["W2"] = net.params["W2"].astype(np.float32).astype(np.float64)
    ref_net.params["W2"] = net.params["W2"].copy()
    x, t = np.random.default_rng(1).standard_normal((6, 5)), np.arange(6) % 3
    a, b = net.numerical_gradient(x, t), ref_net.numerical_gradient(x, t)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_object_mode_f_runs_as_python():
    f = numba.jit(forceobj=True)(lambda v: float(np.sum(v**2)))
    np.testing.assert_allclose(nnnum.numerical_gradient(f, np.array([1.0, 2.0])), [2, 4], atol=1e-6)


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_x_is_perturbed_in_place_and_f_sees_a_matrix():
    m = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    seen = []

    def f(w):
        seen.append(type(w))
        return float(np.sum(np.asarray(w) ** 2))

    g = nnnum.numerical_gradient(f, m)
    np.testing.assert_allclose(g, 2 * np.asarray(m), atol=1e-6)
    assert set(seen) == {np.matrix}
    np.testing.assert_array_equal(m, [[1.0, 2.0], [3.0, 4.0]])


# --------------------------------------------------------------- 22. messages
def test_batched_nan_x_says_not_finite():
    with pytest.raises(ValueError, match="not finite"):
        nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), np.array([1.0, np.nan]))


def test_t_none_is_named(backend):
    net = nnnum.TwoLayerNet(3, 2, 2, seed=0)
    for call in (
        lambda: nnnum.cross_entropy_error(np.array([0.5, 0.5]), None),
        lambda: net.loss(np.ones(3), None),
        lambda: nnnum.softmax_cross_entropy(np.ones((2, 2)), None),
    ):
        with pytest.raises(TypeError, match="t is None"):
            call()


def test_f_returning_one_value_per_row_points_to_numerical_gradient_2d():
    with pytest.raises(ValueError, match="numerical_gradient_2d"):
        nnnum.numerical_gradient(lambda X: np.sum(X**2, axis=1), np.ones((2, 3)))


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_every_non_finite_value_of_f_names_the_element(value):
    def f(w):
        return value if w[1] > 2.00001 else float(np.sum(w))

    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(FloatingPointError, match=r"x\[1\]"):
        nnnum.numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


def test_list_x_that_f_never_reads_warns():
    W = [[1.0, 2.0], [3.0, 4.0]]
    holder = {"W": W}

    def f(_):
        return float(np.sum(np.asarray(holder["W"]) ** 2))  # reads the list, not its argument

    with pytest.warns(RuntimeWarning, match="never sees that copy"):
        g = nnnum.numerical_gradient(f, holder["W"])
    np.testing.assert_array_equal(g, 0.0)
    # a list for an f that uses its argument: no warning
    np.testing.assert_allclose(
        nnnum.numerical_gradient(lambda v: float(np.sum(v**2)), [3.0, 4.0]), [6, 8], atol=1e-6
    )
