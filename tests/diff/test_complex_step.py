"""method="complex": Im f(x + ih) / h, checked at 2h, accurate to rounding."""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum

from ..naive import rosen_grad, rosen_jit
from ..robust_strategies import same_bits


def rosen_py(x):
    v = x.reshape(-1)
    return np.sum(100.0 * (v[1:] - v[:-1] * v[:-1]) ** 2 + (1.0 - v[:-1]) ** 2)


def rosen_batched(X):
    V = X.reshape(len(X), -1)
    a = V[:, 1:] - V[:, :-1] * V[:, :-1]
    b = 1.0 - V[:, :-1]
    return np.sum(100.0 * a * a + b * b, axis=1)


@numba.njit
def mixed_jit(x):
    s = 0.0
    for v in x.reshape(-1):
        s += np.exp(v) + np.sin(3.0 * v) + np.log(2.0 + v) + 1.0 / (v - 2.5)
    return s


def mixed_grad(x):
    return np.exp(x) + 3.0 * np.cos(3.0 * x) + 1.0 / (2.0 + x) - 1.0 / (x - 2.5) ** 2


@numba.njit
def relu_jit(x):
    s = 0.0
    for v in x.reshape(-1):
        s += v if v > 0 else 0.0  # a comparison: not defined for complex numbers
    return s


@numba.njit
def real_part_jit(x):
    return np.sum(x).real


@numba.njit
def blows_up(x):
    s = np.sum(x)
    if x[1].imag != 0.0:  # inf where x[1] is stepped
        return s + np.inf * 1j
    return s


SHAPES = [(2,), (5,), (200,), (4, 7), (2, 3, 4)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("engine", ["jitted", "python", "batched"])
def test_rosenbrock_to_rounding(shape, engine):
    x = np.random.default_rng(len(shape)).uniform(-1.5, 1.5, shape)
    snap = x.copy()
    if engine == "batched":
        r = nnnum.numerical_gradient(
            rosen_batched, x, method="complex", batched=True, full_output=True
        )
    else:
        f = rosen_jit if engine == "jitted" else rosen_py
        r = nnnum.numerical_gradient(f, x, method="complex", full_output=True)
    g = rosen_grad(x)
    scale = np.abs(g).max()
    assert r.df.shape == x.shape and r.df.dtype == x.dtype
    assert np.abs(r.df - g).max() <= 64 * np.finfo(float).eps * scale
    assert r.method == "complex" and r.order == 2
    # x itself (real there: no branch cut), and every element at h and 2h (they agree)
    assert r.nfev == 2 * x.size + 1
    assert same_bits(x, snap)


def test_analytic_functions_and_their_error_estimate():
    x = np.linspace(-1.5, 2.2, 301)
    r = nnnum.numerical_gradient(mixed_jit, x, method="complex", full_output=True)
    true = mixed_grad(x)
    err = np.abs(r.df - true)
    # the finite differences cannot get below ~1e-10 here (1/x near its pole at 2.5)
    assert err.max() <= 1e-12 * np.abs(true).max()
    assert np.mean(err <= r.error + 4 * np.finfo(float).eps * np.abs(true)) >= 0.95
    best_fd = nnnum.numerical_gradient(mixed_jit, x, order=8, h="auto")
    assert err.max() < np.abs(best_fd - true).max()


@pytest.mark.jit_only
def test_parallel_equals_serial_for_any_thread_count(num_threads):
    x = np.random.default_rng(1).uniform(-2, 2, 333)
    want = nnnum.numerical_gradient(mixed_jit, x, method="complex", parallel=False)
    for threads in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        with num_threads(threads):
            got = nnnum.numerical_gradient(mixed_jit, x, method="complex")
            assert same_bits(got, want), threads
    # the same f in Python (NumPy's complex exp/sin/log): the loop engine agrees to rounding
    py = nnnum.numerical_gradient(lambda v: mixed_jit.py_func(v), x, method="complex")
    assert np.allclose(py, want, rtol=1e-14, atol=1e-14)


def test_float32_steps_in_complex64():
    x = np.random.default_rng(2).uniform(-1.5, 1.5, 50).astype(np.float32)
    g = nnnum.numerical_gradient(rosen_jit, x, method="complex")
    assert g.dtype == np.float32
    want = rosen_grad(x.astype(np.float64))
    assert np.abs(g - want).max() <= 1e-3 * np.abs(want).max()  # float32 arithmetic in f


def test_numerical_diff_complex():
    x = np.array([-3.0, 0.0, 0.5, 40.0])
    d = nnnum.numerical_diff(np.exp, x, method="complex")
    assert np.all(np.abs(d - np.exp(x)) <= 2 * np.finfo(float).eps * np.exp(x))
    r = nnnum.numerical_diff(np.sin, 1.0, method="complex", full_output=True)
    # f at x (real there?), at x + ih, at x + 2ih (the same derivative: no third call)
    assert r.df == np.cos(1.0) and r.nfev == 3 and r.error > 0
    with pytest.raises(TypeError, match="complex arithmetic"):
        nnnum.numerical_diff(np.abs, 1.0, method="complex")


def test_clear_errors():
    x = np.linspace(-1.0, 1.0, 6)
    if not numba.config.DISABLE_JIT:  # (NumPy orders complex numbers: no error in Python)
        with pytest.raises(TypeError, match="Numba cannot"):
            nnnum.numerical_gradient(relu_jit, x, method="complex")
    with pytest.raises(TypeError, match="drops the imaginary part"):
        nnnum.numerical_gradient(real_part_jit, x, method="complex")
    with pytest.raises(TypeError, match="drops the imaginary part"):
        nnnum.numerical_gradient(lambda w: float(np.sum(w.real)), x, method="complex")
    with pytest.raises(TypeError, match="drops the imaginary part"):
        nnnum.numerical_gradient(lambda X: X.real.sum(axis=1), x, method="complex", batched=True)
    with pytest.raises(ValueError, match="one order"):
        nnnum.numerical_gradient(rosen_jit, x, method="complex", order=4)
    with pytest.raises(ValueError, match="Richardson"):
        nnnum.numerical_gradient(rosen_jit, x, method="complex", richardson=1)
    with pytest.raises(ValueError, match="workers"):
        nnnum.numerical_gradient(rosen_py, x, method="complex", workers=2)
    bad = x.copy()
    bad[2] = np.inf
    with pytest.raises(ValueError, match=r"x\[2\]"):
        nnnum.numerical_gradient(rosen_jit, bad, method="complex")
    zero = np.array([1.0, 0.0, 2.0])
    with pytest.raises(FloatingPointError, match=r"x\[1\]"):
        nnnum.numerical_gradient(blows_up, zero, method="complex")
    with pytest.raises(ValueError, match="h must be"):
        nnnum.numerical_gradient(rosen_jit, x, method="complex", h=0.0)


def test_f_raising_leaves_x_unchanged():
    x = np.linspace(0.0, 1.0, 20)
    snap = x.copy()
    calls = []

    def f(w):
        calls.append(1)
        if len(calls) > 5:
            raise RuntimeError("f gives up")
        return np.sum(w * w)

    with pytest.raises(RuntimeError, match="gives up"):
        nnnum.numerical_gradient(f, x, method="complex")
    assert same_bits(x, snap)


@numba.njit
def raises_when_marked_element_stepped(w):
    for v in w.reshape(-1):
        if v.imag != 0.0 and v.real > 2.5:
            raise ValueError("boom from jitted f")
    return np.sum(w * w)


@pytest.mark.parametrize("n", [2, 50, 5000])
def test_jitted_f_raising_in_any_thread_comes_back(n):
    for k in (0, n // 2, n - 1):
        x = np.linspace(1.0, 2.0, n)
        x[k] = 3.0
        for parallel in (None, False):
            with pytest.raises(ValueError, match="boom"):
                nnnum.numerical_gradient(
                    raises_when_marked_element_stepped, x, method="complex", parallel=parallel
                )


def test_branch_cuts_are_refused_not_differentiated():
    # log/sqrt of a negative number: the real f is NaN there; the complex f sits on its branch
    # cut, finite, and Im f / h would be ~pi / h ~ 1e31: refused, naming the element
    x = np.array([2.0, -1.0, 3.0])
    for f in (lambda w: np.sum(np.log(w)), lambda w: np.sum(np.sqrt(w))):
        with pytest.raises(ValueError, match=r"not real at x .*branch cut"):
            nnnum.numerical_gradient(f, x, method="complex")
    with pytest.raises(ValueError, match="branch cut"):
        nnnum.numerical_diff(np.log, -1.0, method="complex")
    with pytest.raises(ValueError, match="branch cut"):
        nnnum.batched_numerical_gradient(
            lambda W: np.log(W - 3).sum(axis=1), np.array([1.0, 2.0]), method="complex"
        )
    # log(0): a singularity, not a branch cut (Im f(x) = 0, Re f(x) = -inf)
    with np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="undefined"):
        nnnum.batched_numerical_gradient(
            lambda W: np.log(W - 1).sum(axis=1), np.array([1.0, 2.0]), method="complex"
        )


@numba.njit
def log_sum_jit(x):
    return np.sum(np.log(x))


def test_branch_cut_refused_for_a_jitted_f_on_every_call():
    good = np.array([1.0, 2.0])
    assert np.allclose(nnnum.numerical_gradient(log_sum_jit, good, method="complex"), 1 / good)
    with pytest.raises(ValueError, match="branch cut"):
        nnnum.numerical_gradient(log_sum_jit, np.array([1.0, -2.0]), method="complex")


def test_tiny_derivatives_come_with_an_honest_error():
    # h f' underflows below the smallest normal number: inexact or 0, and the estimate says so
    for f, x, true in (
        (lambda w: np.sum(np.exp(-w)), np.array([700.0]), -np.exp(-700.0)),
        (lambda w: 1e-300 * np.sum(w), np.array([1.0]), 1e-300),
        (lambda w: 1e-290 * np.sum(w), np.array([1.0]), 1e-290),
    ):
        r = nnnum.numerical_gradient(f, x, method="complex", full_output=True)
        assert np.all(np.abs(r.df - true) <= r.error), (r, true)
    # a normal-sized derivative keeps an estimate of a few ulp
    r = nnnum.numerical_gradient(
        lambda w: np.sum(w * w), np.array([3.0]), method="complex", full_output=True
    )
    assert r.df[0] == 6.0 and r.error[0] < 1e-14


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_ndarray_subclass_reaches_f_as_itself():
    M = np.matrix([[1.0, 2.0], [3.0, 4.0]])
    f = lambda W: np.sum(W * W)  # noqa: E731 (a matrix product for np.matrix)
    want = nnnum.numerical_gradient(f, M.copy())
    got = nnnum.numerical_gradient(f, M.copy(), method="complex")
    assert np.allclose(got, want, rtol=1e-8)


def test_numerical_diff_needs_an_elementwise_f():
    x = np.array([1.0, 1000.0])
    for method in ("central", "complex"):
        with pytest.raises(ValueError, match="elementwise"):
            nnnum.numerical_diff(lambda z: np.sum(z), x, method=method)
    with pytest.raises(ValueError, match="elementwise"):
        nnnum.numerical_diff(lambda z: np.array([]), 3.0, method="complex")


@numba.njit("float64(float64[:])")
def typed_f(x):
    return np.sum(x * x)


@numba.njit
def compares(w):
    if w[0] > 0.5:
        return np.sum(w)
    return np.sum(w * w)


def test_uncompilable_for_complex_says_why():
    if numba.config.DISABLE_JIT:
        pytest.skip("no signatures or typing without the JIT")
    x = np.linspace(0.0, 1.0, 4)
    with pytest.raises(TypeError, match="explicit signature"):
        nnnum.numerical_gradient(typed_f, x, method="complex")
    with pytest.raises(TypeError, match="Numba cannot.*(gt|>|complex128)"):
        nnnum.numerical_gradient(compares, x, method="complex")


@settings(max_examples=60, deadline=None)
@given(
    coeffs=st.lists(st.floats(-10, 10), min_size=1, max_size=6),
    xs=st.lists(st.floats(-3, 3), min_size=1, max_size=8),
)
def test_polynomials_property(coeffs, xs):
    c = np.array(coeffs)
    x = np.array(xs)

    def f(v):
        return np.sum(np.polyval(c, v))

    got = nnnum.numerical_gradient(f, x, method="complex")
    want = np.polyval(np.polyder(c), x) if c.size > 1 else np.zeros_like(x)
    terms = np.polyval(np.abs(np.polyder(c)), np.abs(x)) if c.size > 1 else np.zeros_like(x)
    # rounding, plus the truncation h**2 * f3 / 6 with h ~ 1e-31: ~1e-62 absolute
    assert np.all(np.abs(got - want) <= 32 * np.finfo(float).eps * terms + 1e-50)


def test_jit_disabled_mode_still_works():
    # under NUMBA_DISABLE_JIT a "jitted" f is a Python function: the loop engine runs it
    if not numba.config.DISABLE_JIT:
        pytest.skip("the JIT is on")
    x = np.linspace(-1.0, 1.0, 9)
    g = nnnum.numerical_gradient(rosen_jit, x, method="complex")
    assert np.allclose(g, rosen_grad(x), rtol=1e-13, atol=1e-12)


# ------------------------------------------------------- what mutation testing asked for
def test_an_explicit_step_is_the_step_taken():
    x = np.array([0.5, 2.0])
    r = nnnum.numerical_gradient(
        lambda w: np.sum(w**3), x, method="complex", h=1e-10, full_output=True
    )
    assert np.all(r.step == 1e-10)
    auto = nnnum.numerical_gradient(lambda w: np.sum(w**3), x, method="complex", full_output=True)
    assert np.all(auto.step < 1e-30)


def test_messages_name_what_f_returned_and_where():
    x = np.array([1.0, 2.0])
    with pytest.raises(TypeError, match="returned NoneType"):
        nnnum.numerical_gradient(lambda w: None, x, method="complex")
    with pytest.raises(ValueError, match=r"scalar.*shape \(3,\)"):
        nnnum.numerical_gradient(lambda w: np.ones(3, dtype=complex), x, method="complex")
    with np.errstate(divide="ignore"), pytest.raises(FloatingPointError, match="at x itself"):
        nnnum.numerical_gradient(lambda w: np.sum(np.log(w - 1.0)), x, method="complex")
    # elementwise: the first element on a branch cut is named
    with pytest.raises(ValueError, match=r"not real at x\[1\]"):
        nnnum.numerical_diff(np.log, np.array([1.0, -2.0, -3.0]), method="complex")


def test_batched_default_batches_are_about_a_megabyte():
    calls = []

    def f(X):
        calls.append(len(X))
        return np.sum(X * X, axis=1)

    x = np.linspace(-1.0, 1.0, 1000)  # complex128 copies: 16,000 bytes each, 65 in 1 MiB
    g = nnnum.batched_numerical_gradient(f, x, method="complex")
    assert np.allclose(g, 2 * x)
    # x itself, then every element at h and at 2h
    assert calls[0] == 1 and max(calls[1:]) == 65 and sum(calls[1:]) == 2 * 1000


def test_serial_kernel_when_asked_or_when_f_is_parallel(kernel_calls):
    if numba.config.DISABLE_JIT:
        pytest.skip("no kernels without the JIT")
    from nnnum.diff.engines import prange

    used = kernel_calls
    x = np.linspace(-1.0, 1.0, 40)
    par, ser = prange._entry(rosen_jit).complex
    nnnum.numerical_gradient(rosen_jit, x, method="complex", parallel=False)
    assert used == [ser]
    used.clear()
    nnnum.numerical_gradient(rosen_jit, x, method="complex")
    assert used == [par]


def test_complex_result_conversions():
    """complex_result: complex scalars and 0-d complex arrays pass; the rest refused, named."""
    from nnnum.diff.complex_step import complex_result

    asked = []

    def at():
        asked.append(1)
        return "x[2] + ih"

    assert complex_result(np.complex128(1 + 2j), at) == 1 + 2j
    assert asked == []  # a complex scalar: the place is never worked out
    assert complex_result(np.array(3 - 1j), at) == 3 - 1j
    with pytest.raises(TypeError, match=r"returned a real dtype float64 for a complex x at x\[2\]"):
        complex_result(np.array(1.0), at)
    with pytest.raises(ValueError, match=r"array of shape \(2,\) at x\[2\] \+ ih"):
        complex_result(np.ones(2, complex), at)
    assert asked == [1, 1, 1]


def test_third_steps_fill_the_suspects_only():
    """third_steps puts Im f(x + 4ih e_k) in row 2 for the suspect elements, x untouched."""
    from nnnum.diff.complex_step import MULTIPLES, new_values, suspects, third_steps

    g = lambda z: np.sum(np.sin(z))  # noqa: E731
    xc = np.array([0.3, 1.2, -0.7]) + 0j
    x0 = xc.copy()
    h = np.array([1e-20, 0.1, 1e-20])  # element 1's steps disagree: a suspect
    out = new_values(3)
    for row in (0, 1):
        for k in range(3):
            z = xc.copy()
            z[k] += 1j * MULTIPLES[row] * h[k]
            out[row, k] = g(z).imag
    assert suspects(out, h, np.dtype(np.float64)).tolist() == [1]
    third_steps(g, xc, h, out, np.dtype(np.float64))
    z = xc.copy()
    z[1] += 1j * MULTIPLES[2] * h[1]
    assert out[2, 1] == g(z).imag
    assert np.isnan(out[2, [0, 2]]).all()
    np.testing.assert_array_equal(xc, x0)


@pytest.mark.parametrize(
    "f,match",
    [
        (lambda z: None, "f must return numbers; it returned NoneType None at x"),
        (lambda z: np.array(["a", "b"]), "f must return numbers; it returned dtype <U1 at x"),
    ],
)
def test_numerical_diff_complex_needs_numbers(f, match):
    """numerical_diff(method='complex') refuses an f that does not return numbers."""
    with pytest.raises(TypeError, match=match):
        nnnum.numerical_diff(f, np.array([0.5, 1.0]), method="complex")


def test_batched_f_needs_one_value_per_copy():
    """A batched complex-step f must return shape (B,): a scalar is refused with the shapes."""
    with pytest.raises(ValueError, match=r"shape \(1,\) for a batch of 1, got \(\)"):
        nnnum.numerical_gradient(lambda B: np.sum(B), np.ones(2), method="complex", batched=True)


def test_finish_needs_three_rows():
    """finish refuses values that are not (3, n)."""
    from nnnum.diff.complex_step import finish

    with pytest.raises(ValueError, match=r"im must have shape \(3, n\), got \(2, 4\)"):
        finish(np.zeros((2, 4)), np.ones(4), (4,), np.dtype(np.float64))
