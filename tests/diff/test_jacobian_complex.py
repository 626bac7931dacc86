"""The complex-step Jacobian (jacobian_complex.py): its check direction, its compiled finish."""

import numpy as np
import pytest

import nnnum

from .test_jacobian import broyden, broyden_jac


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
    from nnnum.diff import jacobian_complex as jm

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
