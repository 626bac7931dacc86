"""TwoLayerNet's structured gradient against the book's brute force and a long-double reference:
negative, dense, large and tiny inputs and weights."""

from __future__ import annotations

import numpy as np
import pytest

import nnnum
from nnnum.nets import TwoLayerNet


# ---- the structured TwoLayerNet gradient: negative, dense, large and tiny ---------------------
def _problem(seed, *, d=6, h=5, k=4, n=8, w1=1.0, w2=1.0, xdist="normal", zeros=0.0, xscale=1.0):
    rng = np.random.default_rng(seed)
    net = TwoLayerNet(d, h, k, weight_init_std=1.0, seed=seed)
    net.params["W1"] = rng.normal(size=(d, h)) * w1
    net.params["W2"] = rng.normal(size=(h, k)) * w2
    net.params["b1"] = rng.normal(size=h) * 0.3
    net.params["b2"] = rng.normal(size=k) * 0.3
    if xdist == "normal":
        x = rng.normal(size=(n, d))
    elif xdist == "negative":
        x = -rng.random((n, d))
    else:
        x = rng.random((n, d)) * 255.0
    x[rng.random((n, d)) < zeros] = 0.0
    t = rng.integers(0, k, size=n)
    return net, x * xscale, t


def _brute(net, x, t, h=1e-4):
    """The book's two whole-batch losses per parameter, over the step actually taken."""
    out = {}
    for key, p in net.params.items():
        g = np.empty_like(p)
        it = np.nditer(p, flags=["multi_index"])
        for _ in it:
            i = it.multi_index
            orig = p[i]
            p[i] = orig + h
            lp, up = net.loss(x, t), p[i]
            p[i] = orig - h
            lm, down = net.loss(x, t), p[i]
            p[i] = orig
            g[i] = (lp - lm) / (up - down)
        out[key] = g
    return out


STRUCTURED_CASES = {
    "normal-x": dict(xdist="normal"),
    "negative-x": dict(xdist="negative"),
    "normal-x-with-zeros": dict(xdist="normal", zeros=0.4),
    "pixels": dict(xdist="pixels", w1=0.01),
    "tiny-weights": dict(w1=1e-3, w2=1e-3),
    "large-W2": dict(w2=300.0),
    "large-W1": dict(w1=30.0),
    "tiny-W2-large-W1": dict(w1=30.0, w2=1e-4),
    # large hidden changes (|x| ~ 1e3) under the Taylor cut-over (tiny W2): every moment counts
    "tiny-W2-large-x": dict(w1=1e-3, w2=1e-3, xscale=1e3),
    "large-logits": dict(w2=3000.0),
}


@pytest.mark.parametrize("case", list(STRUCTURED_CASES))
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_structured_gradient_matches_the_books_brute_force(case, backend):
    net, x, t = _problem(1, **STRUCTURED_CASES[case])
    want = _brute(net, x, t)
    with nnnum.use_backend(backend):
        got = net.numerical_gradient(x, t, strategy="structured")
    for key in net.params:
        scale = max(1.0, float(np.abs(want[key]).max()))
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-9 * scale, err_msg=key)


def test_structured_gradient_one_hot_labels_and_single_sample():
    net, x, t = _problem(2, n=1, xdist="normal")
    want = _brute(net, x, t)
    got = net.numerical_gradient(x, np.eye(4)[t], strategy="structured")
    for key in net.params:
        np.testing.assert_allclose(got[key], want[key], rtol=0, atol=1e-9, err_msg=key)


def test_structured_gradient_matches_backprop_on_dense_signed_inputs():
    net, x, t = _problem(3, xdist="normal")
    num = net.numerical_gradient(x, t)
    back = net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(num[key], back[key], rtol=1e-5, atol=1e-8, err_msg=key)


# ---- the structured gradient against an extended-precision reference ------------------------
def _loss_ld(params, x, t):
    """The book's loss in long double (x87 80-bit on x86-64: 11 more bits than float64)."""
    ld = np.longdouble
    w1, b1, w2, b2 = (np.asarray(params[k], dtype=ld) for k in ("W1", "b1", "W2", "b2"))
    a1 = np.asarray(x, dtype=ld) @ w1 + b1
    z = 1 / (1 + np.exp(-a1))
    a2 = z @ w2 + b2
    e = np.exp(a2 - a2.max(axis=1, keepdims=True))
    y = e / e.sum(axis=1, keepdims=True)
    return -np.sum(np.log(y[np.arange(len(t)), t] + ld(1e-7))) / len(t)


@pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18, reason="needs an 80-bit long double")
@pytest.mark.parametrize("case", ["tiny-W2-large-x", "normal-x", "large-W2", "large-logits"])
def test_structured_gradient_matches_an_extended_precision_reference(case):
    # the moments' Taylor terms sit at ~1e-9 relative near the cut-over: float64 brute force
    # (noise ~1e-12 / h) cannot see a wrong coefficient there, a long-double one can
    net, x, t = _problem(4, d=4, h=3, k=3, n=5, **STRUCTURED_CASES[case])
    got = net.numerical_gradient(x, t, strategy="structured")
    for key, p in net.params.items():
        want = np.empty_like(p)
        for i in np.ndindex(p.shape):
            orig = p[i]
            up, down = orig + 1e-4, orig - 1e-4  # the steps actually taken, as stored
            p[i] = up
            lp = _loss_ld(net.params, x, t)
            p[i] = down
            lm = _loss_ld(net.params, x, t)
            p[i] = orig
            want[i] = float((lp - lm) / (np.longdouble(up) - np.longdouble(down)))
        # long double's own noise: eps_ld * |L| / h ~ 1e-15 absolute
        tol = 1e-11 * float(np.abs(want).max()) + 5e-15
        np.testing.assert_allclose(got[key], want, rtol=0, atol=tol, err_msg=key)


def test_structured_step_helper_rejects_non_finite_parameters():
    from nnnum.nets._batched import actual_steps

    with pytest.raises(ValueError, match="W1/b1 contains NaN or inf"):
        actual_steps(np.array([[1.0, np.nan]]), 1e-4, "W1/b1")
    with pytest.raises(ValueError, match="below the resolution of W2/b2"):
        actual_steps(np.array([[1e20]]), 1e-4, "W2/b2")


# ---- the Taylor cut-over looks at the size of W2, not only at the hidden change -----------
@pytest.mark.parametrize("shift", [1.6e4, 1e6])
def test_structured_gradient_ignores_a_constant_added_to_each_W2_row(shift):
    """A constant added to row j of W2 moves every logit of a sample by the same z_j * c.

    The softmax, so the loss and its gradient, do not change; but the logit changes
    dz * W2[j, k] of a small hidden change dz are then large (1.6e4: up to ~1, past the
    polynomials; 1e6: past U_EXACT, the log-sum-exp): the cut-over must look at max |W2[j]|,
    not at dz alone. Rows left unshifted stay on the polynomials, in the same pixel loop.
    """
    rng = np.random.default_rng(5)
    d, h, k, n = 4, 6, 4, 7
    net = TwoLayerNet(d, h, k, seed=5)
    net.params["W1"] = rng.normal(size=(d, h)) * 0.5
    net.params["b1"] = rng.normal(size=h) * 0.3
    net.params["W2"] = rng.normal(size=(h, k))
    net.params["b2"] = rng.normal(size=k) * 0.3
    x = rng.random((n, d))
    x[rng.random((n, d)) < 0.3] = 0.0
    t = rng.integers(0, k, size=n)
    want = net.numerical_gradient(x, t, strategy="structured")
    back = net.gradient(x, t)
    net.params["W2"] = net.params["W2"] + shift * np.array([1.0, 0.0, -2.0, 0.0, 3.0, 0.5])[:, None]
    shifted = {key: p.copy() for key, p in net.params.items()}
    got = net.numerical_gradient(x, t, strategy="structured")
    for key in net.params:
        np.testing.assert_array_equal(net.params[key], shifted[key], err_msg=key)
        # the shifted logits' own rounding: ~eps * shift relative
        scale = float(np.abs(want[key]).max())
        np.testing.assert_allclose(
            got[key], want[key], rtol=0, atol=3e-14 * shift * scale, err_msg=key
        )
        np.testing.assert_allclose(got[key], back[key], rtol=0, atol=1e-8, err_msg=key)
