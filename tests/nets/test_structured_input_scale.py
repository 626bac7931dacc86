"""The structured network gradient for any input scale and step: finite, and as brute force.

Large inputs (raw pixels 0..255, ``x * 1e6``) or large steps push a hidden unit's
pre-activation by ``x * h``, far past where ``expm1`` overflows, and a saturated
unit's cached ``z``, ``1 - z`` no longer say where ``a + x h`` lands; large steps
move a logit past where the relative changes of the partition sum are accurate.
The structured path must still give brute force's central differences (to its
rounding noise), never NaN, on both CPU backends and for every stencil order.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum.nets import TwoLayerNet, _batched
from nnnum.nets import _kernels as N
from tests.conftest import CPU_BACKENDS, small_problem

EPS = np.finfo(np.float64).eps
LD = np.longdouble
DELTA = 1e-7


def _noise(net, x, t, h):
    """Brute force's own rounding noise in a central difference with step ~h.

    The loss (one rounding of each per-sample loss, up to -log(delta) ~ 16), the
    perturbed pre-activations (rounded at the size of ``|x| |W1| + |b1|``, felt
    through sigmoid') and logits (at the size of ``|z| |W2| + |b2|``), over h.
    """
    p = net.params
    a1 = x @ p["W1"] + p["b1"]
    z = 1.0 / (1.0 + np.exp(-np.clip(a1, -700, 700)))
    size1 = np.abs(x) @ np.abs(p["W1"]) + np.abs(p["b1"])
    pre = (z * (1 - z) * size1).max() * np.abs(p["W2"]).max()
    logit = (np.abs(z) @ np.abs(p["W2"]) + np.abs(p["b2"])).max()
    return 64 * EPS * (17.0 + pre + logit) / h


def _loss_ld(params, x, t):
    """The book's loss in extended precision (where the platform has it), overflow-free."""
    a1 = x.astype(LD) @ params["W1"].astype(LD) + params["b1"].astype(LD)
    e = np.exp(-np.abs(a1))
    z = np.where(a1 >= 0, 1 / (1 + e), e / (1 + e))
    a2 = z @ params["W2"].astype(LD) + params["b2"].astype(LD)
    ea = np.exp(a2 - a2.max(axis=1, keepdims=True))
    p = ea[np.arange(len(t)), t] / ea.sum(axis=1)
    return -np.mean(np.log(p + LD(DELTA)))


def _reference(net, x, t, h):
    """Central differences over the steps actually taken, the losses in extended precision."""
    out = {}
    for key, v in net.params.items():
        g = np.empty(v.shape)
        for idx in np.ndindex(v.shape):
            params = {kk: vv.copy() for kk, vv in net.params.items()}
            plus, minus = v[idx] + h, v[idx] - h
            params[key][idx] = plus
            lp = _loss_ld(params, x, t)
            params[key][idx] = minus
            lm = _loss_ld(params, x, t)
            g[idx] = float((lp - lm) / LD(plus - minus))
        out[key] = g
    return out


def _assert_close(got, want, noise, what):
    for key in want:
        assert not np.isnan(got[key]).any(), (what, key, got[key])
        finite = np.isfinite(want[key])
        err = np.abs(got[key] - want[key])[finite]
        tol = 1e-9 * np.abs(want[key])[finite] + noise
        assert (err <= tol).all(), (what, key, err.max(), got[key], want[key])


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    d=st.integers(1, 7),
    hdim=st.integers(1, 6),
    k=st.integers(2, 5),
    n=st.integers(1, 6),
    log_scale=st.floats(-3, 8),
    log_h=st.floats(-6, 3),
    order=st.sampled_from([2, 4, 6, 8]),
    sparsity=st.sampled_from([0.0, 0.5]),
    backend=st.sampled_from(CPU_BACKENDS),
)
def test_structured_matches_brute_force_at_any_scale_and_step(
    seed, d, hdim, k, n, log_scale, log_h, order, sparsity, backend
):
    net, x, t = small_problem(seed, d, hdim, k, n, sparsity=sparsity, scale=10.0**log_scale)
    h = 10.0**log_h
    with nnnum.use_backend(backend):
        fast = net.numerical_gradient(x, t, h=h, order=order)
        brute = net.numerical_gradient(x, t, h=h, order=order, strategy="brute")
    for key in brute:
        assert np.isfinite(brute[key]).all()
    _assert_close(fast, brute, _noise(net, x, t, h), (backend, order))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    log_scale=st.floats(-3, 8),
    log_h=st.floats(-6, 3),
    backend=st.sampled_from(CPU_BACKENDS),
)
def test_structured_matches_an_extended_precision_reference(seed, log_scale, log_h, backend):
    # brute force has noise of its own: the structured result is held to the exact central
    # difference (losses in long double) within that same noise
    net, x, t = small_problem(seed, 6, 5, 4, 7, sparsity=0.3, scale=10.0**log_scale)
    h = 10.0**log_h
    with nnnum.use_backend(backend):
        fast = net.numerical_gradient(x, t, h=h)
    _assert_close(fast, _reference(net, x, t, h), _noise(net, x, t, h), backend)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
@pytest.mark.parametrize("order", [2, 4, 6, 8])
@pytest.mark.parametrize(("scale", "h"), [(1e6, 1e-4), (255.0, 1.0), (255.0, 5.0), (255.0, 1000.0)])
def test_the_reported_inputs_give_no_nan(backend, order, scale, h):
    rng = np.random.default_rng(0)
    x, t = rng.random((7, 6)), np.arange(7) % 4
    if scale == 255.0:
        x = np.round(x * 255.0)  # raw pixels, as load_mnist(normalize=False) gives them
    else:
        x = x * scale
    net = TwoLayerNet(6, 5, 4, weight_init_std=0.5, seed=0)
    x0 = x.copy()
    with nnnum.use_backend(backend):
        fast = net.numerical_gradient(x, t, h=h, order=order)
        brute = net.numerical_gradient(x, t, h=h, order=order, strategy="brute")
    np.testing.assert_array_equal(x, x0)
    _assert_close(fast, brute, _noise(net, x, t, h), (backend, order))


# the exact change of a hidden unit, against extended precision, on both sides of every cut
A_VALUES = [-1e8, -800.0, -740.0, -705.0, -40.0, -23.0, -1.0, 0.0, 0.5, 30.0, 710.0, 800.0, 1e8]
EPS_VALUES = [-1e6, -1e3, -800.0, -701.0, -699.0, -100.0, -1.0, -1e-5, 1e-5, 3.0, 50.0]
EPS_VALUES += [699.0, 701.0, 1e3, 1e6]


def _sigmoid_ld(a):
    a = LD(a)
    return 1 / (1 + np.exp(-a)) if a >= 0 else np.exp(a) / (1 + np.exp(a))


def _change_ld(a, eps):
    """sigmoid(a + eps) - sigmoid(a) in extended precision, cancellation-free for small eps."""
    if abs(eps) > 1e4 or abs(a) > 1e4:  # far apart or far out: a tail difference, exact
        b = LD(a) + LD(eps)
        if a >= 0 and b >= 0:
            return float(_sigmoid_ld(-LD(a)) - _sigmoid_ld(-b))
        return float(_sigmoid_ld(b) - _sigmoid_ld(a))
    z, zm = _sigmoid_ld(a), _sigmoid_ld(-LD(a))
    em = np.expm1(-LD(eps))  # 1 + zm em = z + zm exp(-eps): no cancellation either
    return float(-z * zm * em / (z + zm * np.exp(-LD(eps))))


def _cached(a):
    """z, 1 - z, -z (1 - z) as forward_cache computes them."""
    if a >= 0:
        ex = np.exp(-a)
        z, zm = 1 / (1 + ex), ex / (1 + ex)
    else:
        ex = np.exp(a)
        z, zm = ex / (1 + ex), 1 / (1 + ex)
    return z, zm, -z * zm


@pytest.mark.parametrize("a", A_VALUES)
def test_hidden_unit_change_is_exact_for_any_step(a):
    with np.errstate(under="ignore"):
        z, zm, g = _cached(a)
        for eps in EPS_VALUES:
            want = _change_ld(a, eps)
            got = N._hidden_change(eps, g, zm, a)
            # relative to rounding where the change is representable; below 1e-290 the
            # cached z (1 - z) are subnormal and only the absolute error is small
            assert abs(got - want) <= 1e-14 * abs(want) + 1e-290, (a, eps, got, want)
            both = _batched._sigmoid_change(
                np.array([a]), np.array([z]), np.array([zm]), np.array([eps]), np
            )[0]
            assert abs(both - want) <= 1e-14 * abs(want) + 1e-290, (a, eps, both, want)


def test_hidden_unit_change_keeps_the_cancellation_free_formula_bit_for_bit():
    # where the old formula was exact (|eps| small, no cancelling denominator) the value is
    # the same bits: numbers that were right do not move
    rng = np.random.default_rng(3)
    for a in rng.normal(size=50) * 5:
        z, zm, g = _cached(a)
        for eps in rng.normal(size=20) * 0.5:
            em = N._expm1(-eps)  # the kernels' expm1, which the formula always took
            if 1.0 + zm * em >= 1.0 + N.CANCELS:
                assert N._hidden_change(eps, g, zm, a) == g * em / (1.0 + zm * em)


@pytest.mark.parametrize("backend", CPU_BACKENDS)
def test_vanishing_class_probabilities_take_the_full_logits(backend):
    # a logit gap over ~700 underflows q: log q cannot carry the recomputation (a step of
    # b2[0] by 1000 lifts the vanished class 0 over class 1: NaN from log q), the batch goes
    # through the full logits instead and agrees with brute force
    net, x, t = small_problem(4, 5, 4, 3, 6, sparsity=0.0)
    net.params["b2"] = np.array([0.0, 800.0, -5.0])
    h = 1000.0
    with nnnum.use_backend(backend):
        fast = net.numerical_gradient(x, t, h=h)
        brute = net.numerical_gradient(x, t, h=h, strategy="brute")
    _assert_close(fast, brute, _noise(net, x, t, h), backend)


def test_exact_recomputations_give_the_same_bits_for_any_thread_count(num_threads):
    # the exact branches run inside the tasks, per element: still independent of the split
    import numba

    net, x, t = small_problem(9, 30, 20, 5, 12, sparsity=0.5, scale=255.0)
    with num_threads(1):
        one = net.numerical_gradient(x, t, h=5.0)
    with num_threads(numba.config.NUMBA_NUM_THREADS):
        many = net.numerical_gradient(x, t, h=5.0)
    for key in one:
        assert np.isfinite(one[key]).all()
        np.testing.assert_array_equal(one[key], many[key])
