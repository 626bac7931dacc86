"""numerical_jacobian: dense and coloured, every engine, the estimate, x never modified."""

import warnings

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum.diff.colouring import colour_columns


def broyden(x):
    """Broyden's banded function (5 below, 1 above), for x of shape (..., n)."""
    s = np.zeros_like(x)
    for d in range(1, 6):
        s[..., d:] += x[..., :-d] * (1 + x[..., :-d])
    s[..., :-1] += x[..., 1:] * (1 + x[..., 1:])
    return (3 - 2 * x) * x + 1 - s


def broyden_jac(x):
    J = np.diag(3 - 4 * x)
    for d in range(1, 6):
        J -= np.diag(1 + 2 * x[:-d], -d)
    J -= np.diag(1 + 2 * x[1:], 1)
    return J


@numba.njit
def broyden_jit(x):
    n = x.size
    out = (3 - 2 * x) * x + 1
    for k in range(n):
        for j in range(max(0, k - 5), min(n, k + 2)):
            if j != k:
                out[k] -= x[j] * (1 + x[j])
    return out


X = np.random.default_rng(0).uniform(-1, 1, 60)
JT = broyden_jac(X)


@pytest.mark.parametrize(
    "kw,tol",
    [
        ({}, 1e-8),
        ({"h": "auto", "order": 4}, 1e-11),
        ({"h": "auto", "richardson": 2}, 1e-11),
        ({"method": "forward", "h": "auto", "order": 2}, 1e-8),
        ({"method": "complex"}, 1e-15),
    ],
)
def test_dense_matches_analytic(kw, tol):
    x = X.copy()
    J = nnnum.numerical_jacobian(broyden, x, **kw)
    assert J.shape == (60, 60)
    assert np.abs(J - JT).max() <= tol
    np.testing.assert_array_equal(x, X)  # x never modified


def test_engines_agree_bit_for_bit():
    ref = nnnum.numerical_jacobian(broyden, X, h="auto", order=4)
    b = nnnum.numerical_jacobian(broyden, X, h="auto", order=4, batched=True)
    np.testing.assert_array_equal(b, ref)
    jit = nnnum.numerical_jacobian(broyden_jit, X, h="auto", order=4, parallel=True)
    np.testing.assert_array_equal(
        jit, nnnum.numerical_jacobian(broyden_jit, X, h="auto", order=4, parallel=False)
    )
    assert np.abs(jit - JT).max() <= 1e-10


def test_sparse_plan_colours_and_results():
    import scipy.sparse as sp

    pat = JT != 0
    plan = nnnum.jacobian_plan(sp.csr_array(pat))
    assert plan.ncolours == 7  # the widest row: optimal on a band
    J = nnnum.numerical_jacobian(broyden, X, sparsity=plan, batched=True)
    assert sp.issparse(J) and J.nnz == pat.sum()
    dense = nnnum.numerical_jacobian(broyden, X, batched=True)
    np.testing.assert_array_equal(J.toarray(), dense)  # same points, same bits
    Jb = nnnum.numerical_jacobian(broyden, X, sparsity=pat, method="complex", batched=True)
    assert isinstance(Jb, np.ndarray) and np.abs(Jb - JT).max() <= 1e-15
    r = nnnum.numerical_jacobian(
        broyden, X, sparsity=plan, full_output=True, h="auto", richardson=1
    )
    # f(x), 7 colours at 4 points, and the estimate's probe beyond the stencil per colour
    assert r.nfev == 1 + 7 * 5 and r.error.shape == (J.nnz,)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.floats(0.02, 0.5), st.integers(0, 2**31))
def test_colouring_never_worse_than_scipy(m, n, density, seed):
    from scipy.optimize._numdiff import group_columns

    A = np.random.default_rng(seed).random((m, n)) < density
    k, colours = colour_columns(A)
    assert k <= len(np.unique(group_columns(A))) or not A.any()
    for c in range(k):  # a valid colouring: no row holds two columns of one colour
        assert (A[:, colours == c].sum(axis=1) <= 1).all()


def test_shapes_no_traps():
    x = np.array([1.0, 2.0])
    assert nnnum.numerical_jacobian(lambda x: np.sum(x**2), x).shape == (2,)
    assert nnnum.numerical_jacobian(lambda x: np.sum(x**2)[None], x).shape == (1, 2)
    J = nnnum.numerical_jacobian(lambda x: np.outer(x, x), x)
    assert J.shape == (2, 2, 2)


def test_estimate_bounds_error():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnnum.EstimateWarning)
        r = nnnum.numerical_jacobian(
            lambda x: np.exp(np.sin(x) * np.roll(x, 1)), X, h="auto", richardson=2, full_output=True
        )
    x1 = np.roll(X, 1)
    true = np.diag(np.exp(np.sin(X) * x1) * np.cos(X) * x1)
    true[np.arange(60), np.roll(np.arange(60), 1)] += np.exp(np.sin(X) * x1) * np.sin(X)
    ok = (np.abs(r.df - true) <= r.error) | (r.status != 0)
    assert np.mean(ok) >= 0.99


def test_bad_input_errors():
    with pytest.raises(ValueError, match="shape"):
        nnnum.numerical_jacobian(broyden, X, sparsity=np.ones((3, 3), bool))
    with pytest.raises(ValueError, match="not finite"):
        nnnum.numerical_jacobian(broyden, np.array([1.0, np.nan]))
    with pytest.raises(nnnum.NonFiniteError, match=r"f\[0\]"):
        nnnum.numerical_jacobian(lambda x: np.where(x > 1.5, np.inf, x), np.array([2.0, 1.0]))


def test_workers_equal_serial_bit_for_bit():
    import concurrent.futures as cf

    kw = dict(h="auto", richardson=1, full_output=True)
    ref = nnnum.numerical_jacobian(broyden, X, **kw)
    with cf.ThreadPoolExecutor(2) as ex:
        r = nnnum.numerical_jacobian(broyden, X, workers=ex, **kw)
    np.testing.assert_array_equal(r.status, ref.status)
    np.testing.assert_array_equal(r.df, ref.df)
    np.testing.assert_array_equal(r.error, ref.error)
    assert r.nfev == ref.nfev
    pat = JT != 0
    with cf.ThreadPoolExecutor(2) as ex:
        Js = nnnum.numerical_jacobian(broyden, X, sparsity=pat, workers=ex)
    np.testing.assert_array_equal(Js, nnnum.numerical_jacobian(broyden, X, sparsity=pat))


def test_vector_finish_equals_one_column_per_output():
    # each output's row of J is the gradient's finish of that output alone (same plan, same bits)
    for kw in ({}, {"h": "auto", "order": 4}, {"h": 1e-3, "order": 4, "richardson": 1}):
        J = nnnum.numerical_jacobian(broyden, X, **kw)
        for k in (0, 17, 59):
            row = nnnum.numerical_jacobian(lambda x, k=k: broyden(x)[k], X, **kw)
            np.testing.assert_allclose(J[k], row, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw", [{"h": "auto", "richardson": 1}, {"h": 1e-3, "richardson": 2}])
def test_structural_zeros_not_flagged(kw):
    # an element whose values are all the same has derivative exactly 0, its error f's rounding:
    # no status 1, no EstimateWarning (filterwarnings=error), dense and coloured alike
    r = nnnum.numerical_jacobian(broyden, X, full_output=True, batched=True, **kw)
    zero = JT == 0
    assert not r.status.any() and (r.df[zero] == 0).all()
    assert (np.abs(r.df - JT) <= r.error).mean() >= 0.99
    rs = nnnum.numerical_jacobian(broyden, X, full_output=True, sparsity=JT != 0, **kw)
    np.testing.assert_array_equal(rs.status, r.status)
    np.testing.assert_array_equal(rs.df, r.df)
    # outside the pattern: not evaluated; inside, the estimate's BLAS fits round by layout
    np.testing.assert_allclose(rs.error[~zero], r.error[~zero], rtol=1e-3)
    for x in (np.ones(3), np.array([0.3, 0.7, 1.9])):  # ones: values float32 holds (its eps)
        g = nnnum.numerical_gradient(lambda v: float(v[0] ** 2), x, full_output=True, **kw)
        np.testing.assert_array_equal(g.status, [0, 0, 0])
    assert g.df[1] == g.df[2] == 0.0 and (g.error[1:] < 1e-9).all()


_F = lambda v: float(np.sum(np.sin(3 * v) * np.cosh(v)))  # noqa: E731


@pytest.mark.parametrize(
    "method,order", [("forward", 1), ("forward", 2), ("backward", 2), ("central", 2)]
)
@pytest.mark.parametrize("h,richardson", [(0.1, 1), ("auto", 1), ("auto", 2)])
def test_estimate_is_the_gradients(method, order, h, richardson):
    # the gradient's estimate per column: its probe beyond the stencil (one-sided orders 1-2,
    # central 2) and every check, so a scalar f's Jacobian has the gradient's error and status
    x = np.array([np.pi / 2, 0.3, -1.1, 2.0])  # sin(3x) near its extremum: a vanishing jump
    kw = dict(method=method, order=order, h=h, richardson=richardson, full_output=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnnum.EstimateWarning)
        g = nnnum.numerical_gradient(_F, x, **kw)
        J = nnnum.numerical_jacobian(_F, x, **kw)
    np.testing.assert_array_equal(J.df, g.df)
    np.testing.assert_array_equal(J.error, g.error)
    np.testing.assert_array_equal(J.status, g.status)
    # the probe counted in both; the Jacobian's f(x) (its shape) where the gradient needs none
    extra = J.nfev - g.nfev
    assert extra == 0 if method != "central" else extra in (0, 1)


@pytest.mark.parametrize(
    "kw",
    [
        dict(order=4, richardson=1),
        dict(order=4, richardson=1, h="auto"),
        dict(order=2, richardson=2),
        dict(method="forward", order=2, richardson=1),
    ],
)
def test_shared_points_evaluated_once_without_full_output(kw):
    # Richardson levels share points (central order 4: x +- h at h and at h/2): without
    # full_output they are evaluated once, and the Jacobian is the full_output one bit for bit
    calls = [0]

    def f(z):
        calls[0] += 1
        return np.array([np.sin(z[0]) * z[1], z[1] ** 3 + z[2], np.exp(z[0] - z[2])])

    x = np.array([0.3, -1.2, 0.7])
    J = nnnum.numerical_jacobian(f, x, **kw)
    n_lean = calls[0]
    r = nnnum.numerical_jacobian(f, x, full_output=True, **kw)
    assert np.array_equal(J, r.df)
    assert n_lean <= r.nfev
    shared = {(4, 1): 2, (2, 2): 0}.get((kw.get("order", 2), kw["richardson"]), 1)
    if kw.get("method", "central") == "central":
        stencil_rows = kw.get("order", 2) * (kw["richardson"] + 1)
        assert n_lean == 1 + (stencil_rows - shared) * x.size


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_plans_sparse_results_are_scipys_and_their_own(monkeypatch, dtype):
    import scipy.sparse as sp

    from nnnum.diff import jacobian_layout

    plan = nnnum.jacobian_plan(sp.csr_array(JT != 0))
    x = X.astype(dtype)
    J1 = nnnum.numerical_jacobian(broyden, x, sparsity=plan, batched=True)
    J2 = nnnum.numerical_jacobian(broyden, x, sparsity=plan, batched=True)
    built = sp.csr_array((J1.data.copy(), J1.indices.copy(), J1.indptr.copy()), shape=J1.shape)
    assert type(J1) is type(built) and J1.dtype == dtype and J1.shape == built.shape
    J1.check_format(full_check=True)
    for name in ("data", "indices", "indptr"):
        a, b = getattr(J1, name), getattr(J2, name)
        np.testing.assert_array_equal(a, getattr(built, name))
        assert a.dtype == getattr(built, name).dtype and not np.shares_memory(a, b)
    J1.indices[:] = 0  # a caller's edit of one result reaches neither the plan nor the next
    J1.data[:] = 7.0
    J3 = nnnum.numerical_jacobian(broyden, x, sparsity=plan, batched=True)
    np.testing.assert_array_equal(J3.toarray(), J2.toarray())
    # a SciPy whose arrays keep state beyond the known attributes: its own constructor
    monkeypatch.setattr(jacobian_layout, "_CSR_STATE", frozenset())
    J4 = nnnum.numerical_jacobian(broyden, x, sparsity=plan, batched=True)
    np.testing.assert_array_equal(J4.toarray(), J2.toarray())
    assert type(J4) is type(J2) and J4.dtype == dtype


def test_x_none_or_on_a_gpu_refused():
    """x=None and an object exposing __cuda_array_interface__ are TypeErrors naming the call."""

    class OnDevice:
        __cuda_array_interface__: dict = {}

    with pytest.raises(TypeError, match="x is None; numerical_jacobian needs a real number"):
        nnnum.numerical_jacobian(np.sin, None)
    with pytest.raises(TypeError, match="x is a GPU array; numerical_jacobian runs on the host"):
        nnnum.numerical_jacobian(np.sin, OnDevice())


def test_device_backend_needs_batched(monkeypatch):
    """On a device backend (cupy) an unbatched f is refused: the Jacobian runs on the host."""
    import types

    from nnnum.diff import jacobian as jac

    real = jac._backend.current()
    fake = types.SimpleNamespace(**{k: getattr(real, k) for k in dir(real) if k.isupper()})
    fake.DEVICE = True
    monkeypatch.setattr(jac._backend, "current", lambda: fake)
    with pytest.raises(TypeError, match="on the cupy backend the Jacobian and Hessian run on"):
        nnnum.numerical_jacobian(np.sin, np.ones(3))


def test_call_errors_named():
    """A non-callable f, a batched f without a batch axis, a complex step f dropping Im."""
    x = np.ones(3)
    with pytest.raises(TypeError, match="f must be callable, got int"):
        nnnum.numerical_jacobian(3, x)
    with pytest.raises(ValueError, match=r"for a batch of 1 it returned shape \(\)"):
        nnnum.numerical_jacobian(lambda B: B.sum(), x, batched=True)
    with pytest.raises(TypeError, match=r"x \(unperturbed, complex\)"):
        nnnum.numerical_jacobian(lambda z: z.real, x, method="complex")
    np.testing.assert_array_equal(x, np.ones(3))


def test_plan_or_pattern_of_another_size_refused():
    """A plan or a pattern whose columns are not x.size is refused with both sizes."""
    x = np.ones(3)
    with pytest.raises(ValueError, match="the plan is for x.size 4, x has size 3"):
        nnnum.numerical_jacobian(np.sin, x, sparsity=nnnum.jacobian_plan(np.eye(4, dtype=bool)))
    with pytest.raises(ValueError, match=r"sparsity has shape \(4, 4\), but x has size 3"):
        nnnum.numerical_jacobian(
            np.sin, x, sparsity=np.eye(4, dtype=bool), method="complex", batched=True
        )


@pytest.mark.parametrize("sparse", [False, True])
def test_overflowing_difference_named(sparse):
    """Finite values whose difference overflows: NonFiniteError naming output and element."""
    f = lambda x: 1.5e308 * np.tanh(1e8 * (x - 1))  # noqa: E731
    kw = {"sparsity": np.eye(3, dtype=bool)} if sparse else {}
    with pytest.raises(nnnum.NonFiniteError, match=r"overflows at f\[1\] in x\[1\]"):
        nnnum.numerical_jacobian(f, np.array([0.0, 1.0, 3.0]), **kw)


@pytest.mark.jit_only
def test_jitted_f_equals_its_python_twin():
    """A jitted f (its compiled kernels) gives the Python twin's Jacobian bit for bit."""
    x = X.copy()
    jit = nnnum.numerical_jacobian(broyden_jit, x, h="auto", order=4, parallel=False)
    ref = nnnum.numerical_jacobian(broyden_jit.py_func, x, h="auto", order=4)
    np.testing.assert_array_equal(jit, ref)
    np.testing.assert_array_equal(x, X)
