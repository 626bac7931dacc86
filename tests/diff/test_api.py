from __future__ import annotations

import threading
import warnings

import numba
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum

from .. import naive
from ..naive import naive_gradient, rosen_grad
from ..robust_strategies import (
    BACKENDS,
    FAST,
    FEW,
    SMALL,
    WRITABLE_LAYOUTS,
    assert_unmodified,
    close,
    f_sq,
    finite_floats,
    float_arrays,
    j_loop,
    loop_f,
    run_call,
    same_bits,
    stray_warnings,
)


def sum_sq(x):
    return np.sum(x**2)


sum_sq_jit = nnnum.jit(sum_sq)


@numba.njit
def rosenbrock(x):
    s = 0.0
    for i in range(x.size - 1):
        a = x.flat[i + 1] - x.flat[i] ** 2
        b = 1.0 - x.flat[i]
        s += 100.0 * a * a + b * b
    return s


# ------------------------------------------------------------- book's numbers
def test_book_numerical_diff():
    assert abs(nnnum.numerical_diff(lambda x0: x0 * x0 + 4.0**2.0, 3.0) - 6.00000000000378) < 1e-9
    f = lambda x: 0.01 * x**2 + 0.1 * x  # noqa: E731
    assert abs(nnnum.numerical_diff(f, 5.0) - 0.2) < 1e-9
    assert abs(nnnum.numerical_diff(f, 10.0) - 0.3) < 1e-9
    np.testing.assert_allclose(
        nnnum.numerical_diff(f, np.array([5.0, 10.0])), [0.2, 0.3], atol=1e-9
    )


@pytest.mark.parametrize("f", [sum_sq, sum_sq_jit], ids=["python", "jit"])
@pytest.mark.parametrize("x, g", [([3.0, 4.0], [6, 8]), ([0.0, 2.0], [0, 4]), ([3.0, 0.0], [6, 0])])
def test_book_numerical_gradient(backend, f, x, g):
    np.testing.assert_allclose(nnnum.numerical_gradient(f, np.array(x)), g, atol=1e-9)
    np.testing.assert_allclose(nnnum.numerical_gradient(f, x), g, atol=1e-9)  # a list works too


def test_book_closure_that_ignores_its_argument():
    # the book's SimpleNet idiom: f reads the array it closes over, numerical_gradient perturbs it
    w = np.array([[0.5, -1.0], [2.0, 0.25]])
    before = w.copy()
    g = nnnum.numerical_gradient(lambda _: float(np.sum(w**3)), w)
    np.testing.assert_allclose(g, 3 * before**2, rtol=1e-7)
    np.testing.assert_array_equal(w, before)


# --------------------------------------------------------- analytic gradients
@settings(max_examples=25, deadline=None)
@given(n=st.integers(2, 30), seed=st.integers(0, 2**32 - 1))
def test_rosenbrock_against_analytic(n, seed):
    x = np.random.default_rng(seed).uniform(-1.5, 1.5, size=n)
    g = nnnum.numerical_gradient(rosenbrock, x)
    # central difference: truncation error h^2/6 |f'''| plus rounding eps|f|/h
    np.testing.assert_allclose(g, rosen_grad(x), rtol=1e-6, atol=1e-5)


def test_softmax_cross_entropy_gradient_is_y_minus_t(backend, rng):
    z = rng.normal(size=(4, 5))
    labels = rng.integers(0, 5, size=4)
    g = nnnum.numerical_gradient(lambda zz: nnnum.softmax_cross_entropy(zz, labels), z)
    analytic = (nnnum.softmax(z) - np.eye(5)[labels]) / 4
    np.testing.assert_allclose(g, analytic, atol=1e-9)


# ------------------------------------------------------- shapes and layouts
@pytest.mark.jit_only
@pytest.mark.parametrize("f", [sum_sq, sum_sq_jit], ids=["python", "jit"])
def test_any_shape_and_layout(rng, f):
    base = rng.normal(size=(4, 6))
    for x in (base, np.asfortranarray(base), base.T, base[::2, 1::2], base[:, 3]):
        x0 = x.copy()
        g = nnnum.numerical_gradient(f, x)
        assert g.shape == x.shape
        # a jitted f sees a C-ordered copy: bit-identical; a Python f sums in x's memory order
        tol = 0 if f is sum_sq_jit else 1e-9
        np.testing.assert_allclose(
            g, nnnum.numerical_gradient(f, np.ascontiguousarray(x)), rtol=0, atol=tol
        )
        np.testing.assert_allclose(g, 2 * x0, atol=1e-8)
        np.testing.assert_array_equal(x, x0)
    cube = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(nnnum.numerical_gradient(f, cube), 2 * cube, atol=1e-8)


def test_zero_d_size_one_and_empty():
    g0 = nnnum.numerical_gradient(lambda x: float(x) ** 3, np.array(2.0))
    assert g0.shape == () and abs(g0 - 12.0) < 1e-7
    g1 = nnnum.numerical_gradient(sum_sq_jit, np.array([[1.5]]))
    assert g1.shape == (1, 1) and abs(g1[0, 0] - 3.0) < 1e-9
    for shape in [(0,), (3, 0)]:
        g = nnnum.numerical_gradient(sum_sq, np.zeros(shape))
        assert g.shape == shape


# --------------------------------------------------------- parallel == serial
@pytest.mark.jit_only
# num_threads holds no state between examples: each block restores the count it found
@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    shape=st.sampled_from([(1,), (7,), (33,), (5, 9), (3, 4, 5)]), seed=st.integers(0, 2**32 - 1)
)
def test_parallel_bit_identical_to_serial_any_threads(shape, seed, num_threads):
    x = np.random.default_rng(seed).normal(size=shape)
    serial = nnnum.numerical_gradient(rosenbrock, x, parallel=False)
    loop = nnnum.numerical_gradient(rosenbrock.py_func, x)
    results = []
    for threads in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
        with num_threads(threads):
            results.append(nnnum.numerical_gradient(rosenbrock, x))
    for r in results:
        np.testing.assert_array_equal(r, serial)
    # the same f run by the Python interpreter: f rounds differently (|f| ~ 1e4, eps|f|/h ~ 1e-8)
    np.testing.assert_allclose(loop, serial, rtol=1e-9, atol=1e-6)


def test_concurrent_calls_from_threads(rng):
    xs = [rng.normal(size=200) for _ in range(4)]
    expected = [nnnum.numerical_gradient(rosenbrock, x) for x in xs]
    out = [None] * 4

    def work(i):
        out[i] = nnnum.numerical_gradient(rosenbrock, xs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(out, expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_book_loop_agrees_with_ours(rng):
    x = rng.normal(size=(3, 4))
    ours = nnnum.numerical_gradient(sum_sq, x)
    book = naive.book_numerical_gradient(sum_sq, x.copy())
    np.testing.assert_allclose(ours, book, atol=1e-10)


# ------------------------------------------------------------------ bad input
def test_integer_x_raises_instead_of_wrong_answer():
    x = np.array([1, 2])
    # the book's loop returns [5000, 15000] here
    assert naive.book_numerical_gradient(sum_sq, x.copy()).tolist() == [5000, 15000]
    with pytest.raises(TypeError, match="integer"):
        nnnum.numerical_gradient(sum_sq, x)
    np.testing.assert_allclose(
        nnnum.numerical_gradient(sum_sq, x.astype(float)), [2.0, 4.0], atol=1e-9
    )


def test_float32_step_rounding_is_exact_or_loud():
    f = lambda v: float(np.sum(v.astype(np.float64) ** 2))  # noqa: E731
    # at 1.0 float32 rounds 1 +- 1e-4 slightly (by 2e-5 relative): no warning, exact anyway
    g = nnnum.numerical_gradient(f, np.array([1.0, 3.0], dtype=np.float32))
    np.testing.assert_allclose(g, [2.0, 6.0], rtol=1e-6)
    # at 1000 the float32 spacing is 6.1e-5: the step taken is far from 2h
    x = np.array([1.0, 1000.0], dtype=np.float32)
    with pytest.warns(nnnum.StepRoundingWarning, match="x\\[1\\]"):
        g = nnnum.numerical_gradient(f, x)
    # divided by the step actually taken, the quadratic's gradient is exact to rounding
    np.testing.assert_allclose(g, [2.0, 2000.0], rtol=1e-6)
    assert g.dtype == np.float32
    big = np.array([1e6], dtype=np.float32)  # float32 spacing at 1e6 is 0.0625: x + 1e-4 == x
    with pytest.raises(nnnum.StepResolutionError, match="resolution"):
        nnnum.numerical_gradient(sum_sq, big)
    np.testing.assert_array_equal(big, [1e6])


def test_read_only_and_broadcast_x():
    ro = np.array([1.0, 2.0])
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="read-only"):
        nnnum.numerical_gradient(sum_sq, ro)
    bc = np.broadcast_to(np.array([1.0, 2.0]), (3, 2))
    with pytest.raises(ValueError, match="read-only|broadcast"):
        nnnum.numerical_gradient(sum_sq, bc)
    writable_bc = np.lib.stride_tricks.as_strided(np.array([1.0]), shape=(3,), strides=(0,))
    with pytest.raises(ValueError, match="broadcast"):
        nnnum.numerical_gradient(sum_sq, writable_bc)


@pytest.mark.parametrize("h", [0.0, -1e-4, np.inf, np.nan])
def test_bad_h(h):
    with pytest.raises(ValueError, match="h must be"):
        nnnum.numerical_gradient(sum_sq, np.array([1.0]), h=h)
    with pytest.raises(ValueError, match="h must be"):
        nnnum.numerical_diff(lambda v: v, 1.0, h=h)


@pytest.mark.parametrize("jit", [False, True])
def test_non_scalar_result(jit):
    f = (lambda v: v * 2) if not jit else numba.njit(lambda v: v * 2)
    with pytest.raises(ValueError, match="scalar"):
        nnnum.numerical_gradient(f, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="scalar"):
        nnnum.numerical_gradient(lambda v: np.array([1.0]), np.array([1.0, 2.0]))


@pytest.mark.parametrize("jit", [False, True])
def test_nan_result_names_the_element(jit):
    def f(v):
        return np.nan if v[2] < 0.00003 else v[0] + v[1] + v[2]

    x = np.array([1.0, 2.0, 0.00005])
    with pytest.raises(FloatingPointError, match=r"x\[2\] - h"):
        nnnum.numerical_gradient(numba.njit(f) if jit else f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 0.00005])


def test_x_restored_when_f_raises_on_its_seventh_call(rng):
    x = rng.normal(size=(3, 3))
    x[1, 1] = -0.0
    x[2, 2] = 5e-324  # a subnormal
    before = x.copy()
    calls = {"n": 0}

    def f(v):
        calls["n"] += 1
        if calls["n"] == 7:
            raise RuntimeError("boom")
        return float(np.nansum(v))

    with pytest.raises(RuntimeError, match="boom"):
        nnnum.numerical_gradient(f, x)
    assert calls["n"] == 7
    assert x.tobytes() == before.tobytes()  # bit for bit, -0.0 and the subnormal included


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_x(bad):
    x = np.array([1.0, bad])
    with pytest.raises(ValueError, match=r"not finite at x\[1\]"):
        nnnum.numerical_gradient(sum_sq, x)


def test_x_restored_when_f_returns_garbage(rng):
    x = rng.normal(size=4)
    before = x.tobytes()
    with pytest.raises(ValueError):
        nnnum.numerical_gradient(lambda v: v[:2], x)
    with pytest.raises(TypeError):
        nnnum.numerical_gradient(lambda v: "a", x)
    assert x.tobytes() == before


def test_jitted_path_never_touches_x(rng):
    x = rng.normal(size=(5, 5))
    before = x.tobytes()
    nnnum.numerical_gradient(rosenbrock, x)
    assert x.tobytes() == before


# ---- small paths the suite did not reach (found by the JIT-off coverage run) ------------------
def test_f_returning_ints_and_0d_arrays():
    x = np.array([1.0, 2.0])
    g_int = nnnum.numerical_gradient(lambda v: int(round(1e6 * float(v[0]))), x, h=1e-3)
    np.testing.assert_allclose(g_int, [1e6, 0.0], rtol=1e-9)
    g_0d = nnnum.numerical_gradient(lambda v: np.array(float(np.sum(v * v))), x)
    np.testing.assert_allclose(g_0d, [2.0, 4.0], rtol=1e-7)
    g_f32 = nnnum.numerical_gradient(lambda v: np.float32(np.sum(v)), x, h=1e-2)
    np.testing.assert_allclose(g_f32, [1.0, 1.0], rtol=1e-5)


def test_gpu_array_x_points_to_the_cupy_backend():
    class FakeDeviceArray:
        __cuda_array_interface__ = {
            "shape": (2,),
            "typestr": "<f8",
            "data": (0, False),
            "version": 3,
        }

    with pytest.raises(TypeError, match="x is a GPU array: use NNNUM_BACKEND=cupy"):
        nnnum.numerical_gradient(lambda v: 0.0, FakeDeviceArray())


def test_numerical_gradient_2d_takes_one_or_two_axes():
    with pytest.raises(ValueError, match="takes a 2-D x, got 3-D"):
        nnnum.numerical_gradient_2d(lambda v: float(np.sum(v)), np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="no full_output"):
        nnnum.numerical_gradient_2d(lambda v: float(np.sum(v)), np.ones((2, 2)), full_output=True)
    g = nnnum.numerical_gradient_2d(lambda v: float(np.sum(v * v)), np.array([1.0, 2.0]))
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-7)


@pytest.mark.parametrize("method", ["forward", "backward"])
def test_numerical_diff_one_sided_on_an_array(method):
    # one-sided stencils need f(x) itself: one value per element of x
    x = np.array([0.1, 0.2, 0.3])
    d = nnnum.numerical_diff(np.sin, x, method=method, order=2)
    np.testing.assert_allclose(d, np.cos(x), rtol=1e-6)
    r = nnnum.numerical_diff(np.sin, x, method=method, order=2, full_output=True)
    np.testing.assert_allclose(r.df, np.cos(x), rtol=1e-6)
    assert r.nfev == 3  # f(x) and two shifted copies, each over the whole array


def test_api_argument_errors():
    x = np.array([1.0, 2.0])
    for fn in (nnnum.numerical_diff, nnnum.numerical_gradient, nnnum.batched_numerical_gradient):
        with pytest.raises(TypeError, match="f must be callable, got int"):
            fn(3, x)
        for bad in (7, -1, 1.5, True):
            with pytest.raises(ValueError, match="richardson must be an integer from 0 to 6"):
                fn(lambda X: np.reshape(X, (len(X), -1)).sum(axis=1), x, richardson=bad)
    with pytest.raises(TypeError, match="parallel must be True, False or None, got 'yes'"):
        nnnum.numerical_gradient(lambda v: 0.0, x, parallel="yes")
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="chunk must be a positive integer"):
            nnnum.batched_numerical_gradient(lambda X: X.sum(axis=1), x, chunk=bad)


# ---------------------------------------------------------- properties over layouts and dtypes
def f_smooth(w):
    w = np.asarray(w, dtype=np.float64)
    return float(np.sum(w**2) + np.sum(np.sin(3.0 * w)))


@FAST
@given(data=st.data())
def test_numerical_gradient_python_f_vs_naive(data):
    x, layout = data.draw(
        float_arrays(
            np.float64, SMALL, elements=finite_floats(np.float64, -10, 10), layouts=WRITABLE_LAYOUTS
        )
    )
    want = naive_gradient(f_smooth, x)
    out = run_call(lambda: nnnum.numerical_gradient(f_smooth, x), x)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert out.result.shape == x.shape and out.result.dtype == x.dtype
    assert close(out.result, want, rtol=1e-7, atol=1e-6), (layout, out.result, want)
    assert close(out.result, 2 * x + 3 * np.cos(3 * x), rtol=1e-6, atol=1e-5)


@FAST
@given(data=st.data())
def test_numerical_gradient_float32_analytic(data):
    x, layout = data.draw(
        float_arrays(
            np.float32, SMALL, elements=finite_floats(np.float32, -10, 10), layouts=WRITABLE_LAYOUTS
        )
    )
    out = run_call(lambda: nnnum.numerical_gradient(f_sq, x), x)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert out.result.dtype == np.float32 and out.result.shape == x.shape
    # exact central difference of a quadratic: 2x + (s+ - s-), |s+ - s-| <= ulp(x)
    tol = 4 * np.spacing(np.abs(x).astype(np.float32)).astype(np.float64) + 1e-3
    assert np.all(np.abs(out.result.astype(np.float64) - 2 * x.astype(np.float64)) <= tol)


@pytest.mark.jit_only  # nnnum.jit(f) is f itself with the JIT off
@FEW
@given(data=st.data())
def test_numerical_gradient_jitted_bit_identical_to_python(data):
    dtype = data.draw(st.sampled_from([np.float64, np.float32]))
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    x, layout = data.draw(
        float_arrays(
            dtype, st.just(shape), elements=finite_floats(dtype, -5, 5), layouts=WRITABLE_LAYOUTS
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnnum.StepRoundingWarning)
        py = nnnum.numerical_gradient(loop_f, x)
    outs = {}
    for par in (None, True, False):
        o = run_call(lambda: nnnum.numerical_gradient(j_loop, x, parallel=par), x)
        assert_unmodified(o)
        assert o.error is None, o.describe()
        outs[par] = o.result
    for par, r in outs.items():
        assert same_bits(r, py), (par, layout, r, py)


@pytest.mark.parametrize("backend", BACKENDS)
@FEW
@given(data=st.data())
def test_batched_numerical_gradient_analytic(backend, data):
    x, layout = data.draw(
        float_arrays(np.float64, SMALL, elements=finite_floats(np.float64, -10, 10))
    )

    def fb(X):
        X = np.asarray(X, dtype=np.float64)
        return (X**2).reshape(len(X), -1).sum(axis=1)

    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.batched_numerical_gradient(fb, x), x)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert close(out.result, 2 * np.asarray(x), rtol=1e-7, atol=1e-6), (layout, out.result)


@settings(max_examples=60, deadline=None)
@given(
    x=st.one_of(
        st.floats(-1e6, 1e6, allow_nan=False),
        st.integers(-1000, 1000),
        st.floats(-1e6, 1e6, allow_nan=False).map(np.float64),
    ),
    h=st.sampled_from([None, 1e-4, 1e-2, 0.5]),
)
def test_numerical_diff_of_a_number_is_the_general_paths_bits(x, h):
    def f(v):
        return 0.01 * v**2 + 0.1 * v + np.sin(v)

    fast = nnnum.numerical_diff(f, x, h=h)
    # an array takes the other path
    general = nnnum.numerical_diff(f, np.array(x, dtype=np.float64), h=h)
    assert type(fast) is float and fast == general


def test_a_point_two_levels_share_is_evaluated_once_without_full_output():
    calls = [0]

    def f(v):
        calls[0] += 1
        return float(np.sum(np.sin(v)))

    x = np.linspace(0.1, 1.0, 5)
    g = nnnum.numerical_gradient(f, x, order=4, richardson=1)
    assert calls[0] == 6 * x.size  # levels 0 and 1 of the order-4 stencil share x +- h/2
    calls[0] = 0
    r = nnnum.numerical_gradient(f, x, order=4, richardson=1, full_output=True)
    assert calls[0] == r.nfev == 8 * x.size + 1 + x.size  # every point, f(x), the probe
    np.testing.assert_array_equal(g, r.df)


@pytest.mark.parametrize(
    "x, kind", [(5, float), (5.0, float), (np.float64(5.0), np.float64)], ids=["int", "float", "np"]
)
def test_numerical_diff_hands_f_the_kind_of_number_it_was_given(x, kind):
    seen = []

    def f(v):
        seen.append(type(v))
        return 0.01 * v**2 + 0.1 * v  # the chapter's function_1

    d = nnnum.numerical_diff(f, x)
    assert seen == [kind, kind]  # a Python number gets Python floats, as the book's f does
    assert d == (f(5.0 + 1e-4) - f(5.0 - 1e-4)) / ((5.0 + 1e-4) - (5.0 - 1e-4))


def test_empty_x_complex_full_output():
    """An empty x with method='complex' and full_output: empty arrays, no call of f."""
    calls = []
    r = nnnum.numerical_gradient(calls.append, np.empty((0, 2)), method="complex", full_output=True)
    assert r.df.shape == r.error.shape == (0, 2) and r.step.shape == (1, 0, 2)
    assert r.nfev == 0 and r.method == "complex" and calls == []


@pytest.mark.parametrize(
    "x,match",
    [
        (np.array([1 + 1j]), r"x is complex \(complex128\); numerical_diff differentiates real"),
        (np.array(["a"]), "x must be a real number or array, got dtype <U1"),
    ],
)
def test_numerical_diff_refuses_non_real_x(x, match):
    """numerical_diff refuses a complex or non-numeric x with a TypeError saying why."""
    with pytest.raises(TypeError, match=match):
        nnnum.numerical_diff(np.sin, x)


def test_numerical_diff_of_an_array_with_full_output_is_a_result_of_the_same_values():
    """The book's fast path of an array x is for the plain call only: full_output gets a result."""
    x = np.array([0.0, 1.0, -2.5])
    before = x.copy()
    r = nnnum.numerical_diff(np.sin, x, full_output=True)
    assert isinstance(r, nnnum.DiffResult) and r.df.shape == x.shape and r.nfev == 2  # f(x +- h)
    np.testing.assert_array_equal(r.df, nnnum.numerical_diff(np.sin, x))
    np.testing.assert_array_equal(x, before)
