"""The error estimate's per-column fits (nnnum.diff.estimate)."""

from __future__ import annotations

import numpy as np
import pytest

from nnnum.diff.estimate import _fit, _measured_noise, polyfit_columns


def _nodes(rng: np.random.Generator, r: int, n: int, jitter: float) -> np.ndarray:
    base = np.linspace(-1.0, 1.0, r)
    return base[:, None] * (1.0 + jitter * rng.normal(size=(r, n)))


@pytest.mark.parametrize("d", [1, 2, 3, 5])
@pytest.mark.parametrize("repeat", [1, 4])
def test_polyfit_columns_is_each_columns_pseudo_inverse(d: int, repeat: int) -> None:
    rng = np.random.default_rng(d * 10 + repeat)
    s = np.repeat(_nodes(rng, 7, 40, 1e-3), repeat, axis=1)  # runs share one factorisation
    v = rng.normal(size=s.shape)
    beta, lam = polyfit_columns(s, v, d)
    for c in range(s.shape[1]):
        p = np.linalg.pinv(np.vander(s[:, c], d, increasing=True))
        np.testing.assert_allclose(beta[:, c], p @ v[:, c], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(lam[:, c], np.sqrt((p * p).sum(axis=1)), rtol=1e-10)


def test_polyfit_columns_merged_nodes_fall_back_to_pinv() -> None:
    # rounding can merge two nodes: the Vandermonde matrix loses rank, pinv's answer stands
    s = np.array([[-1.0, -1.0, 0.0, 0.0, 1.0]]).T * np.ones((1, 3))
    s[:, 1] = [-1.0, -0.5, 0.0, 0.5, 1.0]
    v = np.random.default_rng(0).normal(size=s.shape)
    beta, lam = polyfit_columns(s, v, 4)
    for c in range(3):
        p = np.linalg.pinv(np.vander(s[:, c], 4, increasing=True))
        np.testing.assert_allclose(beta[:, c], p @ v[:, c], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(lam[:, c], np.sqrt((p * p).sum(axis=1)), rtol=1e-8)


def test_a_columns_fit_does_not_depend_on_its_neighbours() -> None:
    # bit for bit: a coloured Jacobian fits its columns beside others than the dense one does
    rng = np.random.default_rng(3)
    s, v = _nodes(rng, 6, 50, 1e-6), rng.normal(size=(6, 50))
    beta, lam = polyfit_columns(s, v, 4)
    for c in (0, 17, 49):
        b1, l1 = polyfit_columns(s[:, c : c + 1], v[:, c : c + 1], 4)
        assert np.array_equal(b1[:, 0], beta[:, c]) and np.array_equal(l1[:, 0], lam[:, c])
    sub = [3, 4, 5, 40]
    b2, _ = polyfit_columns(s[:, sub], v[:, sub], 4)
    assert np.array_equal(b2, beta[:, sub])


def test_fit_and_measured_noise_agree_with_a_per_column_least_squares() -> None:
    rng = np.random.default_rng(7)
    nominal = np.array([-2.0, -1.0, 1.0, 2.0, -1.0, -0.5, 0.5, 1.0])
    n = 30
    s = nominal[:, None] * (1.0 + 1e-7 * rng.normal(size=(8, n)))
    s[:, :5] = nominal[:, None]  # some columns on the plan, the rest moved by rounding
    v = np.cos(0.3 * s) + 1e-9 * rng.normal(size=s.shape)
    scale = 2.0
    beta, lam = _fit(nominal / scale, s / scale, v, 5)
    for c in range(n):
        p = np.linalg.pinv(np.vander(s[:, c] / scale, 5, increasing=True))
        np.testing.assert_allclose(beta[:, c], p @ v[:, c], rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(lam[:, c], np.sqrt((p * p).sum(axis=1)), rtol=1e-8)
    h0 = np.full(n, 1e-3)
    out, spread = _measured_noise(v, s * h0, h0, None, nominal, jump_degree=3)
    np.testing.assert_allclose(spread, v.max(axis=0) - v.min(axis=0))
    vc = v - v.mean(axis=0)
    for c in range(n):
        a = np.vander(s[:, c] / scale, 5)  # degree N - 2 = 4: six distinct nodes
        coef, *_ = np.linalg.lstsq(a, vc[:, c], rcond=None)
        ref = np.sqrt(np.sum((vc[:, c] - a @ coef) ** 2) / (8 - 5))
        np.testing.assert_allclose(out[c], ref, rtol=1e-6, atol=1e-15)
