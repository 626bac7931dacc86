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


# ------------------------------------------------------------ the complex step's check
def _complex_cases():
    rng = np.random.default_rng(7)
    x = rng.uniform(-1.5, 1.5, 40)
    near = float(x[3])
    idx = np.arange(40)
    return x, {
        "broyden": broyden,
        "exp sin": lambda z: np.exp(np.sin(z[..., :-1]) * z[..., 1:]),
        # a singularity 1e-25 from x[3], in output 5 alone: steps 1 and 2 disagree there only
        "branch": lambda z: z + np.sqrt(z[..., 3:4] - near + 1e-25) * (idx == 5),
    }


@pytest.mark.parametrize("batched", [False, True])
def test_complex_rows_equal_the_gradients_two_step_rule(batched):
    # each output's row of J is the gradient's complex step of that output alone (which steps
    # every element by h and 2h): same values, same estimates, bit for bit
    x, fs = _complex_cases()
    for name, f in fs.items():
        r = nnnum.numerical_jacobian(f, x, method="complex", full_output=True, batched=batched)
        for k in (0, 3, 17, 38):
            g = nnnum.numerical_gradient(
                lambda z, k=k: f(z)[k], x, method="complex", full_output=True
            )
            np.testing.assert_array_equal(r.df[k], g.df, err_msg=f"{name} row {k}")
            np.testing.assert_array_equal(r.error[k], g.error, err_msg=f"{name} row {k}")


def test_complex_step_costs_colours_plus_two_where_f_is_analytic():
    x, fs = _complex_cases()
    pat = broyden_jac(x) != 0
    plan = nnnum.jacobian_plan(pat)
    for batched in (False, True):
        r = nnnum.numerical_jacobian(
            broyden, x, method="complex", full_output=True, sparsity=plan, batched=batched
        )
        assert r.nfev == 1 + plan.ncolours + 2
        dense = nnnum.numerical_jacobian(broyden, x, method="complex", full_output=True)
        assert dense.nfev == 1 + x.size + 2
        np.testing.assert_array_equal(r.df, dense.df)
        # outside the pattern nothing is evaluated: no estimate there
        np.testing.assert_array_equal(r.error[pat], dense.error[pat])
    # the branch point: the outputs touching x[3] step their colours by 2h (and x[3] by 4h)
    r = nnnum.numerical_jacobian(fs["branch"], x, method="complex", full_output=True)
    assert 1 + x.size + 2 < r.nfev <= 1 + x.size + 2 + x.size + 1
    # a step too large for it: refused, naming the element and the output
    with pytest.raises(
        nnnum.NonFiniteError, match=r"converge at x\[3\] \(the derivative of f\[5\]\)"
    ):
        nnnum.numerical_jacobian(fs["branch"], x, method="complex", h=1e-3)


def test_the_compiled_finish_equals_numpys(monkeypatch):
    from nnnum.diff import jacobian as jm

    x, fs = _complex_cases()
    pat = broyden_jac(x) != 0
    scipy_sparse = pytest.importorskip("scipy.sparse")
    runs = [
        (f, kw)
        for f in fs.values()
        for kw in ({}, {"batched": True}, {"h": 1e-3}, {"sparsity": scipy_sparse.csr_array(pat)})
        if ("sparsity" not in kw or f is broyden) and ("h" not in kw or f is not fs["branch"])
    ]
    got = [
        nnnum.numerical_jacobian(f, x, method="complex", full_output=True, **kw) for f, kw in runs
    ]
    monkeypatch.setattr(jm, "_colour_steps", lambda *a: None)  # NumPy's finish only
    for (f, kw), r in zip(runs, got, strict=True):
        ref = nnnum.numerical_jacobian(f, x, method="complex", full_output=True, **kw)
        a, b = (r.df, ref.df) if not hasattr(r.df, "toarray") else (r.df.data, ref.df.data)
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(r.error, ref.error)
        assert r.nfev == ref.nfev


@pytest.mark.parametrize("batched", [False, True])
@pytest.mark.parametrize("sparse", [False, True])
def test_complex_step_refuses_what_it_cannot_differentiate(batched, sparse):
    x = np.linspace(0.5, 2.0, 6)
    kw = {"batched": batched, "method": "complex"}
    if sparse:
        kw["sparsity"] = np.eye(6, dtype=bool)
    # f drops the imaginary part: a real result for complex points (it was silently 0)
    with pytest.raises(TypeError, match="needs f to compute in complex arithmetic"):
        nnnum.numerical_jacobian(lambda z: np.real(z) * 2, x, **kw)
    with pytest.raises(TypeError, match="needs f to compute in complex arithmetic"):
        nnnum.numerical_jacobian(lambda z: np.abs(z), x, **kw)
    # x on a branch cut (sqrt of a negative number): not real at x itself
    with pytest.raises(ValueError, match=r"f is not real at x\[0\]"):
        nnnum.numerical_jacobian(lambda z: np.sqrt(z - 3.0), x, **kw)
    # a pattern of the wrong shape
    if sparse:
        kw["sparsity"] = np.ones((3, 6), bool)
        with pytest.raises(ValueError, match=r"sparsity has shape \(3, 6\)"):
            nnnum.numerical_jacobian(lambda z: z**2, x, **kw)


def test_hessian_complex_step_refuses_a_real_result():
    x = np.linspace(0.5, 2.0, 4)
    for batched in (False, True):
        f = (lambda z: np.sum(np.abs(z), axis=-1)) if batched else (lambda z: np.sum(np.abs(z)))
        with pytest.raises(TypeError, match="needs f to compute in complex arithmetic"):
            nnnum.numerical_hessian(f, x, method="complex", batched=batched)
