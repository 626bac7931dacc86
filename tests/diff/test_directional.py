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


def test_argument_errors():
    """A non-callable f, a v not shaped like x, a batched f without one row per point."""
    x = X.copy()
    with pytest.raises(TypeError, match="f must be callable, got str"):
        nnnum.directional_derivative("f", x, V)
    with pytest.raises(ValueError, match=r"v must have the shape of x \(3,\), got \(2,\)"):
        nnnum.directional_derivative(f, x, V[:2])
    with pytest.raises(ValueError, match=r"one value per point: shape \(1, \.\.\.\), got \(\)"):
        nnnum.directional_derivative(lambda B: np.sum(B), x, V, batched=True)
    np.testing.assert_array_equal(x, X)


def test_complex_full_output():
    """method='complex' with full_output: exact for a polynomial, 3 calls, a tiny bound."""
    r = nnnum.directional_derivative(f, X, V, method="complex", full_output=True)
    assert r.method == "complex" and r.nfev == 3
    np.testing.assert_allclose(r.df, JV, rtol=1e-15)
    assert (np.abs(r.df - JV) <= r.error).all() and (r.error < 1e-14).all()


def test_complex_large_step_takes_a_third_point():
    """A large complex step on sin: the steps disagree, a 4ih point is taken, the bound holds."""
    g = lambda x: np.sum(np.sin(x))  # noqa: E731
    r = nnnum.directional_derivative(g, X, V, method="complex", h=1e-2, full_output=True)
    exact = np.cos(X) @ V
    assert r.nfev == 4
    assert abs(r.df - exact) <= r.error < 1e-3


def test_forward_first_order_reuses_its_point():
    """Forward order 1 takes f(x) and f(x + h v): two calls, the first-order result."""
    r = nnnum.directional_derivative(f, X, V, method="forward", order=1, full_output=True)
    assert r.nfev == 2 and r.order == 1
    np.testing.assert_allclose(r.df, JV, atol=1e-3)


def test_hvp_auto_step():
    """hessian_vector_product with h='auto' (eps**(1/4)) is accurate for a cubic."""
    fs = lambda x: x[0] ** 2 * x[1]  # noqa: E731
    H = np.array([[2 * X[1], 2 * X[0], 0], [2 * X[0], 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(nnnum.hessian_vector_product(fs, X, V, h="auto"), H @ V, atol=1e-6)
