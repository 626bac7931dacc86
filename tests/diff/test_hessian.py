"""numerical_hessian: symmetric, accurate, Richardson, sparsity=, grad=, engines."""

import numpy as np
import pytest
from scipy.optimize import rosen_der, rosen_hess

import nnnum

from ..naive import rosen

X = np.random.default_rng(1).uniform(0, 1.2, 12)
HT = rosen_hess(X)


@pytest.mark.parametrize(
    "kw,tol", [({}, 1e-4), ({"richardson": 1}, 1e-7), ({"method": "complex"}, 1e-6)]
)
def test_rosenbrock(kw, tol):
    x = X.copy()
    H = nnnum.numerical_hessian(rosen, x, **kw)
    assert np.abs(H - HT).max() <= tol
    assert (H == H.T).all()
    np.testing.assert_array_equal(x, X)


def test_engines_bit_identical():
    ref = nnnum.numerical_hessian(rosen, X, richardson=1)
    np.testing.assert_array_equal(
        nnnum.numerical_hessian(rosen, X, richardson=1, batched=True), ref
    )


def test_sparse_pairs_and_count():
    import scipy.sparse as sp

    r = nnnum.numerical_hessian(rosen, X, sparsity=sp.csr_array(HT != 0), full_output=True)
    n = X.size
    assert r.nfev == 1 + 4 * (n - 1) + 2 * n
    np.testing.assert_array_equal(r.df.toarray(), nnnum.numerical_hessian(rosen, X) * (HT != 0))


def test_estimate_and_diag_and_grad():
    f = lambda x: np.sum(np.exp(np.sin(x[:-1]) * x[1:]))  # noqa: E731
    x = np.random.default_rng(2).uniform(-1, 1, 8)
    r = nnnum.numerical_hessian(f, x, richardson=2, full_output=True)
    ref = nnnum.numerical_hessian(f, x, method="complex", richardson=2)
    assert np.mean(np.abs(r.df - ref) <= r.error + 1e-12) >= 0.99
    d = nnnum.numerical_hessian_diag(f, x, richardson=2)
    np.testing.assert_allclose(d, np.diag(ref), atol=1e-8)
    Hg = nnnum.numerical_hessian(None, X, grad=rosen_der, h="auto", richardson=1)
    assert (Hg == Hg.T).all() and np.abs(Hg - HT).max() < 1e-6


def test_vector_f_refused():
    with pytest.raises(ValueError, match="scalar"):
        nnnum.numerical_hessian(lambda x: x, X)


@pytest.mark.parametrize(
    "kw,match",
    [
        ({"method": "forward"}, "method must be 'central' or 'complex' for numerical_hessian"),
        ({"richardson": True}, "richardson must be an integer from 0 to 6, got True"),
        ({"richardson": 7}, "richardson must be an integer from 0 to 6, got 7"),
        ({"richardson": 1.0}, "richardson must be an integer from 0 to 6, got 1.0"),
    ],
)
def test_bad_options_refused(kw, match):
    """A bad method or Richardson level is refused by name, before f is called, x untouched."""
    x = X.copy()
    calls = []
    with pytest.raises(ValueError, match=match):
        nnnum.numerical_hessian(lambda z: calls.append(1) or rosen(z), x, **kw)
    assert calls == []
    np.testing.assert_array_equal(x, X)


def test_diag_names_itself_and_f_must_be_callable():
    """numerical_hessian_diag's errors name it; a non-callable f is a TypeError."""
    with pytest.raises(ValueError, match="for numerical_hessian_diag, got 'forward'"):
        nnnum.numerical_hessian_diag(rosen, X, method="forward")
    with pytest.raises(TypeError, match="f must be callable, got int"):
        nnnum.numerical_hessian(3, X)


def test_complex_vector_f_refused():
    """The complex step also needs a scalar f: the shape it returned is named."""
    with pytest.raises(
        ValueError, match=r"numerical_hessian: f must return a scalar, got shape \(12,\)"
    ):
        nnnum.numerical_hessian(lambda x: x * 1.0, X, method="complex")


def test_nonfinite_at_x_refused():
    """An f that is NaN at x itself has no Hessian there: NonFiniteError."""
    with pytest.raises(nnnum.NonFiniteError, match="at x itself; the Hessian is undefined"):
        nnnum.numerical_hessian(lambda x: np.nan * x[0], np.array([1.0, 2.0]))


def test_overflowing_differences_refused():
    """Finite values of f whose differences overflow are refused, naming the pair."""
    x = np.array([0.0, 1.0])
    with pytest.raises(nnnum.NonFiniteError, match=r"overflow at the pair x\[0\], x\[0\]"):
        nnnum.numerical_hessian(lambda z: 1.5e308 * np.cos(z[0]), x)
    np.testing.assert_array_equal(x, [0.0, 1.0])


def test_grad_with_sparsity_gives_symmetric_csr():
    """grad= with a SciPy pattern: a sorted, symmetric csr_array close to the true Hessian."""
    import scipy.sparse as sp

    x = X[:6].copy()
    H6 = rosen_hess(x)
    pat = sp.csr_array(H6 != 0)
    Hs = nnnum.numerical_hessian(None, x, grad=rosen_der, sparsity=pat)
    assert isinstance(Hs, sp.csr_array) and Hs.has_sorted_indices
    np.testing.assert_array_equal(Hs.toarray(), Hs.toarray().T)
    assert np.abs(Hs.toarray() - H6).max() < 1e-4
    r = nnnum.numerical_hessian(None, x, grad=rosen_der, sparsity=pat, full_output=True)
    np.testing.assert_array_equal(r.df.toarray(), Hs.toarray())
    assert r.nfev == 1 + 2 * 3  # a tridiagonal pattern takes three colours
    np.testing.assert_array_equal(x, X[:6])


def test_grad_full_output_symmetrises_error_and_status():
    """grad= with full_output: error and status symmetric, the error bounds the true one."""
    r = nnnum.numerical_hessian(None, X, grad=rosen_der, richardson=1, full_output=True)
    assert r.df.shape == r.error.shape == r.status.shape == (12, 12)
    np.testing.assert_array_equal(r.error, r.error.T)
    np.testing.assert_array_equal(r.status, r.status.T)
    assert (np.abs(r.df - HT) <= r.error + 1e-12).all()


def test_grad_of_the_wrong_shape_refused():
    """A grad that does not return an array shaped like x is a ValueError."""
    with pytest.raises(ValueError, match="grad must return an array shaped like x"):
        nnnum.numerical_hessian(None, np.arange(3.0), grad=lambda x: np.ones(4))


@pytest.mark.parametrize(
    ("grad", "got"), [(lambda x: np.ones(4), r"\(4,\)"), (lambda x: 1.0, r"\(\)")]
)
def test_a_grad_of_the_wrong_shape_names_both_shapes(grad, got):
    with pytest.raises(ValueError, match=r"shaped like x \(3,\), got shape " + got):
        nnnum.numerical_hessian(None, np.arange(3.0), grad=grad)


def test_the_grad_hessian_checks_full_output():
    with pytest.raises(TypeError, match="full_output must be True or False, got 'yes'"):
        nnnum.numerical_hessian(None, np.arange(3.0), grad=lambda x: 2 * x, full_output="yes")
