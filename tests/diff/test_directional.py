"""directional_derivative and hessian_vector_product."""

import numpy as np
import pytest

import nnnum

f = lambda x: np.array([np.sum(x**3), x[0] * x[1]])  # noqa: E731
X = np.array([1.0, 2.0, -0.5])
V = np.array([1.0, -1.0, 2.0])
JV = np.array([np.sum(3 * X**2 * V), X[1] * V[0] + X[0] * V[1]])


@pytest.mark.parametrize(
    "kw,tol", [({}, 1e-7), ({"h": "auto", "richardson": 2}, 1e-11), ({"method": "complex"}, 1e-15)]
)
def test_jvp(kw, tol):
    assert np.abs(nnnum.directional_derivative(f, X, V, **kw) - JV).max() <= tol


def test_two_evaluations_and_batched():
    r = nnnum.directional_derivative(lambda x: np.sum(x**3), X, V, full_output=True)
    assert r.nfev == 2
    fb = lambda B: np.sum(B**3, axis=-1)  # noqa: E731
    assert nnnum.directional_derivative(fb, X, V, batched=True) == r.df


def test_hvp():
    g = lambda x: np.array([2 * x[0] * x[1], x[0] ** 2, 0 * x[2]])  # noqa: E731
    fs = lambda x: x[0] ** 2 * x[1]  # noqa: E731
    H = np.array([[2 * X[1], 2 * X[0], 0], [2 * X[0], 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(nnnum.hessian_vector_product(fs, X, V, grad=g), H @ V, atol=1e-8)
    np.testing.assert_allclose(nnnum.hessian_vector_product(fs, X, V), H @ V, atol=1e-5)


def test_zero_direction():
    with pytest.raises(ValueError, match="zero"):
        nnnum.directional_derivative(f, X, np.zeros(3))
