"""Accuracy and determinism of the networks' fast kernels (issue #12), against brute force.

No timing here (``python -m benchmarks.ratios`` measures); these pin what the
speed-ups must not cost: the hidden unit's Taylor coefficients are exact to
rounding, the structured gradient gives the same bits for every thread count
and agrees with the brute-force central difference on real digits, and the
hidden-unit tasks never share a cache line. The CPU backend's kernels:
tests/backends/test_cpu_kernels.py.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np
import pytest

import nnnum
from nnnum.nets import _kernels as N

from ..naive import ref_sigmoid, ref_softmax

# as benchmarks/common.py: $NNNUM_MNIST_DIR, else shared/data/mnist next to the checkout
MNIST = Path(
    os.environ.get("NNNUM_MNIST_DIR")
    or Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"
)


def test_hidden_unit_taylor_coefficients() -> None:
    # dz(eps) = sigmoid(a + eps) - sigmoid(a) from the coefficients, against the exact
    # difference in extended precision, over saturated and central units
    a = np.array([-30.0, -8.0, -2.0, -0.3, 0.0, 0.7, 3.0, 12.0, 35.0])
    s = 1.0 / (1.0 + np.exp(-a))
    sm = 1.0 / (1.0 + np.exp(a))
    q = np.full((a.size, 3), 1 / 3)
    coef = N.hidden_coefficients(
        s[:, None], sm[:, None], q, np.zeros(a.size, dtype=np.int64), np.ones((1, 3))
    )
    d = coef[:5, :, 0]
    la = np.longdouble(a)
    ls, lsm = 1 / (1 + np.exp(-la)), 1 / (1 + np.exp(la))
    for eps in (2e-4, -2e-4, 3e-5, -1e-7):
        dz = eps * (d[0] + eps * (d[1] + eps * (d[2] + eps * (d[3] + eps * d[4]))))
        # sigmoid(a + eps) - sigmoid(a) without cancellation, in extended precision where
        # the platform has it: -s (1 - s) em / (1 + (1 - s) em), em = expm1(-eps)
        em = np.expm1(-np.longdouble(eps))
        exact = (-ls * lsm * em / (1 + lsm * em)).astype(np.float64)
        np.testing.assert_allclose(dz, exact, rtol=4e-15)


def _threads_equal(num_threads, net: nnnum.TwoLayerNet, x: np.ndarray, t: np.ndarray) -> None:
    """One thread and all of them give the same bits (``num_threads``: the fixture)."""
    with num_threads(1):
        one = net.numerical_gradient(x, t)
    with num_threads(numba.config.NUMBA_NUM_THREADS):
        many = net.numerical_gradient(x, t)
    for key in one:
        np.testing.assert_array_equal(one[key], many[key])


@pytest.mark.parametrize("hidden", [50, 37, 64])
def test_structured_gradient_same_bits_for_any_thread_count(hidden: int, num_threads) -> None:
    # hidden >= 16: the hidden units are split between tasks, and a unit's lane in the
    # vector loop (or the scalar remainder) depends on the split
    rng = np.random.default_rng(hidden)
    net = nnnum.TwoLayerNet(60, hidden, 10, seed=hidden)
    x = rng.random((30, 60))
    x[rng.random(x.shape) < 0.8] = 0.0
    _threads_equal(num_threads, net, x, rng.integers(0, 10, 30))


def _real_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    if not (MNIST / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST digits not found in {MNIST}")
    from nnnum.data import load_mnist

    x, t = load_mnist(MNIST, split="test")
    idx = np.random.default_rng(0).choice(len(x), n, replace=False)
    return x[idx].astype(np.float64), t[idx]


def test_structured_gradient_on_real_digits_matches_brute_force(num_threads) -> None:
    x, t = _real_digits(100)
    net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
    fast = net.numerical_gradient(x, t)
    _threads_equal(num_threads, net, x, t)
    rng = np.random.default_rng(1)
    picks = [
        ("W1", (int(i), int(j)))
        for i, j in zip(np.flatnonzero(x.any(axis=0))[::97], range(0, 50, 6), strict=False)
    ]
    picks += [("b1", (int(j),)) for j in rng.integers(0, 50, 3)]
    picks += [
        ("W2", (int(i), int(j)))
        for i, j in zip(rng.integers(0, 50, 3), rng.integers(0, 10, 3), strict=True)
    ]
    picks += [("b2", (int(j),)) for j in rng.integers(0, 10, 2)]
    for key, idx in picks:
        p = net.params[key]
        orig = p[idx]
        p[idx] = orig + 1e-4
        lp = net.loss(x, t)
        p[idx] = orig - 1e-4
        lm = net.loss(x, t)
        p[idx] = orig
        assert abs(fast[key][idx] - (lp - lm) / ((orig + 1e-4) - (orig - 1e-4))) < 1e-9, (key, idx)
    # and against backprop, which it approximates to O(h^2)
    exact = net.gradient(x, t)
    for key in fast:
        np.testing.assert_allclose(fast[key], exact[key], rtol=0, atol=1e-8)


@pytest.mark.parametrize("hidden", [1, 9, 50, 64, 100])
def test_hidden_tasks_never_share_a_cache_line(hidden: int, num_threads) -> None:
    # grad_hidden's tasks walk the same pixels at the same time: a cache line written by
    # two of them would bounce between the cores on every pixel (measured: 2x slower)
    from nnnum.nets._structured import _cache_line_rows, _unit_bounds

    out = _cache_line_rows(785, hidden)
    assert out.ctypes.data % 64 == 0 and out.strides[0] % 64 == 0 and out.shape[1] >= hidden
    for nt in range(1, numba.config.NUMBA_NUM_THREADS + 1):
        with num_threads(nt):
            bounds = _unit_bounds(hidden)
        assert bounds[0] == 0 and bounds[-1] == hidden and np.all(np.diff(bounds) > 0)
        assert np.all(bounds[1:-1] % 8 == 0)


def test_one_thread_forward_cache_matches_numpy_and_the_coefficients() -> None:
    """forward_cache (the benchmarks' one-thread forward): NumPy's layers, hidden_coefficients."""
    rng = np.random.default_rng(13)
    d, h, k, n = 6, 5, 4, 7
    w1, b1 = rng.normal(size=(d, h)), rng.normal(size=h) * 0.3
    w2, b2 = rng.normal(size=(h, k)), rng.normal(size=k) * 0.3
    x = rng.random((n, d))
    x[rng.random((n, d)) < 0.5] = 0.0
    t = rng.integers(0, k, size=n)
    keep = x.copy()
    z, zm, q, p, coef = N.forward_cache(*N.sparse_rows(x), w1, b1, w2, b2, t)
    np.testing.assert_array_equal(x, keep)
    a1 = x @ w1 + b1
    np.testing.assert_allclose(z, ref_sigmoid(a1), rtol=1e-14)
    np.testing.assert_allclose(zm, ref_sigmoid(-a1), rtol=1e-14)  # 1 - z without cancellation
    y = ref_softmax(z @ w2 + b2)
    np.testing.assert_allclose(q, y, rtol=1e-13)
    np.testing.assert_array_equal(p, q[np.arange(n), t])
    np.testing.assert_allclose(coef[12], a1, rtol=1e-13, atol=1e-15)  # the pre-activation
    ref = N.hidden_coefficients(z, zm, q, t, w2)
    np.testing.assert_array_equal(coef[:12], ref[:12])
    np.testing.assert_allclose(coef[12], ref[12], rtol=1e-12, atol=1e-14)
