"""Accuracy and determinism of the CPU backend's fast kernels (issue #12), against libm.

No timing here (``python -m benchmarks.ratios`` measures); these pin what the
speed-ups must not cost: the hand-written exp and log stay within their
documented accuracy at the same points as libm, the fused loss is
bit-identical for every thread count and blocking, and the SIMD helpers
transpose and refuse wrong types. The networks' kernels: tests/nets/test_kernels.py.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

import nnnum
from nnnum.backends import _cpu_kernels as K
from nnnum.backends._simd import transpose_rows


@numba.njit(fastmath={"contract"})  # as in _lse_block
def _exp_log(x, e_out, l_out):
    for i in range(x.size):
        e_out[i] = K._exp_nonpos(-x[i])
        l_out[i] = K._log_ge1(1.0 + x[i])


def ulps(got: np.ndarray, ref: np.ndarray) -> np.ndarray:
    return np.abs(got - ref) / np.spacing(np.abs(ref))


def test_exp_and_log_within_two_ulp_of_libm() -> None:
    rng = np.random.default_rng(1)
    x = np.concatenate(
        [
            rng.uniform(0, 708, 300_000),  # the whole range of exp(-x)
            rng.uniform(0, 0.35, 100_000),  # |s| <= ln2/2 without reduction, log near 1
            np.ldexp(1.0, -np.arange(1, 60)),  # tiny arguments
            np.log(2.0) * np.arange(1, 30) / 2,  # reduction boundaries
            [0.0, 1.0, np.sqrt(2.0) - 1, 7.0, 15.0],
        ]
    )
    e, lg = np.empty_like(x), np.empty_like(x)
    _exp_log(x, e, lg)
    assert ulps(e, np.exp(-x)).max() <= 2.0
    ref = np.log(1.0 + x)  # the log of the same point
    nz = ref > 0
    assert ulps(lg[nz], ref[nz]).max() <= 2.0
    assert e[x == 0.0][0] == 1.0 and lg[x == 0.0][0] == 0.0


def test_exp_and_log_special_values() -> None:
    x = np.array([np.nan, -np.inf, -1000.0, -708.0])
    e, lg = np.empty(4), np.empty(4)

    @numba.njit(fastmath={"contract"})
    def run(x, e, lg):
        for i in range(x.size):
            e[i] = K._exp_nonpos(x[i])
            lg[i] = K._log_ge1(x[i])

    run(x, e, lg)
    assert np.isnan(e[0]) and np.isnan(lg[0])
    # below exp(-708) clamped to it: invisible next to the 1 of a sum of exps
    assert 0.0 < e[1] == e[2] == e[3] <= np.exp(-708.0) * (1 + 1e-15)


@pytest.mark.parametrize("k", [1, 2, 3, 7, 10, 17])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fused_ce_same_bits_for_any_blocking_and_threads(k: int, dtype: type, num_threads) -> None:
    rng = np.random.default_rng(k)
    n = K.LSE_BLOCK * K.LSE_TASK_BLOCKS * 2 + 37  # several tasks, a partial block
    z = (rng.standard_normal((n, k)) * 4).astype(dtype)
    labels = rng.integers(0, k, n)
    t = np.eye(k)[labels] * 0.75 + 0.25 / k  # soft targets: the dense path
    none_t, none_l = np.empty((0, 0)), np.empty(0, dtype=np.int64)
    out = {}
    for name, fn in (("serial", K._softmax_ce_serial), ("parallel", K._softmax_ce_parallel)):
        for nt in (1, numba.config.NUMBA_NUM_THREADS):
            rows, dense = np.empty(n), np.empty(n)
            with num_threads(nt):
                fn(z, labels, none_t, False, rows)
                fn(z, none_l, t, True, dense)
            out[name, nt] = rows, dense
    first = next(iter(out.values()))
    for rows, dense in out.values():
        np.testing.assert_array_equal(rows, first[0])
        np.testing.assert_array_equal(dense, first[1])
    z64 = z.astype(np.float64)
    m = z64.max(axis=1)
    lse = np.log(np.exp(z64 - m[:, None]).sum(axis=1)) + m
    np.testing.assert_allclose(first[0], lse - z64[np.arange(n), labels], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(first[1], (t * (lse[:, None] - z64)).sum(axis=1), atol=1e-12)


@numba.njit
def _transpose_all(z, zt, mx, stride):
    for r in range(0, z.shape[0] - z.shape[0] % 4, 4):
        transpose_rows(
            z.reshape(-1),
            np.uintp(r * z.shape[1]),
            np.uintp(z.shape[1]),
            zt,
            np.uintp(r),
            np.uintp(stride),
            mx,
        )


@pytest.mark.jit_only
@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 7, 8, 10, 13])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transpose_rows_columns_and_maxima(k: int, dtype: type) -> None:
    rng = np.random.default_rng(k)
    n, stride = 12, 16  # three groups of four rows; a column stride wider than the rows
    z = rng.standard_normal((n, k)).astype(dtype)
    z[1, 0] = np.nan  # NaN first: the max stays NaN
    z[2, k - 1] = np.nan  # NaN later: skipped (the exp sum turns NaN anyway)
    z[5, :] = -np.inf
    z[6, k // 2] = np.inf
    z[9, :] = 0.0
    z[9, k - 1] = -0.0
    zt = np.full(k * stride, 7.0)
    mx = np.full(stride, 7.0)
    _transpose_all(z, zt, mx, stride)
    cols = zt.reshape(k, stride)
    np.testing.assert_array_equal(cols[:, :n], z.T.astype(np.float64))
    assert (cols[:, n:] == 7.0).all() and (mx[n:] == 7.0).all()  # nothing written past the rows
    for r in range(n):
        m = np.float64(z[r, 0])
        for v in z[r, 1:].astype(np.float64):
            m = v if v > m else m
        np.testing.assert_array_equal(mx[r], m)
        assert np.signbit(mx[r]) == np.signbit(m)
    assert np.isnan(mx[1])
    if k > 1:
        assert mx[2] == np.nanmax(z[2].astype(np.float64))


@pytest.mark.jit_only
def test_simd_intrinsics_refuse_wrong_types() -> None:
    from numba.core.errors import TypingError

    from nnnum.backends._simd import prefetch

    @numba.njit
    def hint(a, i):
        prefetch(a, i)

    hint(np.zeros(4), 2)  # a hint: no effect, no error
    hint(np.zeros(4), 1000)  # even past the end
    for a, i in ((1.0, 0), (np.zeros(4), 1.5)):
        with pytest.raises(TypingError):
            hint(a, i)

    @numba.njit
    def tr(z, zt, mx):
        transpose_rows(z, np.uintp(0), np.uintp(4), zt, np.uintp(0), np.uintp(4), mx)

    for z, zt in ((np.zeros(16, np.int64), np.zeros(16)), (np.zeros(16), np.zeros(16, np.float32))):
        with pytest.raises(TypingError):
            tr(z, zt, np.zeros(4))


def test_fused_ce_nan_inf_rows() -> None:
    z = np.zeros((4, 5))
    z[0, 2] = np.nan
    z[1, 3] = np.inf
    z[2, 1] = -np.inf
    rows = nnnum.softmax_cross_entropy(z, np.array([0, 0, 0, 0]), reduction="none")
    assert np.isnan(rows[0]) and np.isnan(rows[1])
    assert rows[2] == pytest.approx(np.log(4.0)) and rows[3] == pytest.approx(np.log(5.0))
