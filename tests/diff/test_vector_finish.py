"""The column-wise finish of numerical_jacobian (diff/vector_finish.py): its errors and estimate."""

import numpy as np
import pytest

import nnnum

X = np.array([1.0, 2.0])


def _inf_at_x(z):
    """f[0] is inf at X itself, finite everywhere else."""
    return np.array([np.inf if (z == X).all() else 1.0, z[1]])


def test_one_sided_stencil_needs_a_finite_f_at_x():
    """method='forward' uses f(x): a non-finite f(x) is a FloatingPointError naming the column."""
    x = X.copy()
    with pytest.raises(FloatingPointError, match=r"at x itself for f\[0\] in x\[0\] \(a one-sided"):
        nnnum.numerical_jacobian(_inf_at_x, x, method="forward")
    np.testing.assert_array_equal(x, X)


@pytest.mark.parametrize("kw", [{"h": "auto"}, {"order": 4}, {"method": "forward"}])
def test_one_level_gives_no_estimate(kw):
    """Without Richardson levels the error is NaN (no estimate), status 0, df still accurate."""
    f = lambda z: np.array([z[0] ** 2, z[0] * z[1]])  # noqa: E731
    r = nnnum.numerical_jacobian(f, X, full_output=True, **kw)
    tol = 1e-4 if kw.get("method") == "forward" else 1e-8
    np.testing.assert_allclose(r.df, [[2.0, 0.0], [2.0, 1.0]], atol=tol)
    assert r.error.shape == (2, 2) and np.isnan(r.error).all()
    np.testing.assert_array_equal(r.status, 0)
