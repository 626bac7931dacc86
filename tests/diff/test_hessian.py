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
