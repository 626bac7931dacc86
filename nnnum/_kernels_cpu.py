"""Private Numba kernels: loops only, no validation.

The public wrappers in :mod:`nnnum.functions`, :mod:`nnnum.losses` and
:mod:`nnnum.gradient` validate every input on the host first; these kernels
assume C-contiguous arrays of the documented shapes, labels already in range.

Determinism: every parallel kernel gives each ``prange`` iteration its own
output slots and reduces them afterwards in a fixed order, so results are
bit-identical to the serial loop and independent of the thread count.
"""

from __future__ import annotations

import math
import weakref
from typing import Any

import numpy as np
from numba import prange

from ._jit import CONTRACT, kernel

#: Arrays at least this large use the parallel variant of elementwise kernels.
PARALLEL_MIN_SIZE = 1 << 16
#: Rows per task in the parallel row kernels (fixed: results never depend on it).
ROW_BLOCK = 256

# --- exp(x) for x <= 0, written so LLVM vectorises it (no libm call) ----------
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: (x + _ROUND) - _ROUND rounds to nearest
_EXP_FLOOR = -708.0  # below this exp underflows to subnormals; clamped (< 3.3e-308)


# ----------------------------------------------------------------- activations
@kernel
def _sigmoid_serial(x, out):
    for i in range(x.size):
        v = np.float64(x[i])
        if v >= 0.0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)


@kernel(parallel=True)
def _sigmoid_parallel(x, out):
    for i in prange(x.size):
        v = np.float64(x[i])
        if v >= 0.0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)


@kernel
def _relu_serial(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = v if v > 0 else (v * 0 if v != v else 0)


@kernel(parallel=True)
def _relu_parallel(x, out):
    for i in prange(x.size):
        v = x[i]
        out[i] = v if v > 0 else (v * 0 if v != v else 0)


@kernel
def _step_serial(x, out):
    for i in range(x.size):
        out[i] = 1 if x[i] > 0 else 0


@kernel(parallel=True)
def _step_parallel(x, out):
    for i in prange(x.size):
        out[i] = 1 if x[i] > 0 else 0


@kernel
def _softmax_row(z, r, out):
    k = z.shape[1]
    m = np.float64(z[r, 0])
    for j in range(1, k):
        v = np.float64(z[r, j])
        if v > m or v != v:
            m = v
    s = 0.0
    for j in range(k):
        e = math.exp(np.float64(z[r, j]) - m)
        out[r, j] = e
        s += e
    for j in range(k):
        out[r, j] = out[r, j] / s


@kernel
def _softmax_serial(z, out):
    for r in range(z.shape[0]):
        _softmax_row(z, r, out)


@kernel(parallel=True)
def _softmax_parallel(z, out):
    for r in prange(z.shape[0]):
        _softmax_row(z, r, out)


# ---------------------------------------------------------------------- losses
def _sum_sq_diff_py(y, t, block):
    """0.5 * sum((y - t)**2) over flat arrays, in fixed blocks, fixed order."""
    n = y.size
    nb = (n + block - 1) // block
    part = np.zeros(nb)
    for b in prange(nb):
        s = 0.0
        for i in range(b * block, min(n, (b + 1) * block)):
            d = np.float64(y[i]) - np.float64(t[i])
            s += d * d
        part[b] = s
    total = 0.0
    for b in range(nb):
        total += part[b]
    return 0.5 * total


def _sum_sq_labels_py(y, labels):
    """0.5 * sum((y - onehot(labels))**2) without building the one-hot array."""
    m, k = y.shape
    part = np.zeros(m)
    for r in prange(m):
        s = 0.0
        lab = labels[r]
        for j in range(k):
            d = np.float64(y[r, j]) - (1.0 if j == lab else 0.0)
            s += d * d
        part[r] = s
    total = 0.0
    for r in range(m):
        total += part[r]
    return 0.5 * total


def _cross_entropy_labels_py(y, labels, delta, rows):
    """rows[r] = -log(y[r, labels[r]] + delta)."""
    m = y.shape[0]
    for r in prange(m):
        rows[r] = -math.log(np.float64(y[r, labels[r]]) + delta)


def _cross_entropy_dense_py(y, t, delta, rows):
    """rows[r] = -sum_j t[r, j] * log(y[r, j] + delta) (terms with t == 0 skipped)."""
    m, k = y.shape
    for r in prange(m):
        s = 0.0
        for j in range(k):
            tj = np.float64(t[r, j])
            if tj != 0.0:
                s -= tj * math.log(np.float64(y[r, j]) + delta)
        rows[r] = s


@kernel(fastmath=CONTRACT, inline="always")
def _lse_block(zf, e0, nr, k, m, q, bits):
    """Row maxima into m, exp(z - max) of ``nr`` rows (starting at flat e0) into q."""
    for r in range(nr):
        base = e0 + r * k
        mm = np.float64(zf[base])
        for j in range(1, k):
            v = np.float64(zf[base + j])
            if v > mm or v != v:
                mm = v
        m[r] = mm
        for j in range(k):
            x = max(np.float64(zf[base + j]) - mm, _EXP_FLOOR)
            kf = (x * _LOG2E + _ROUND) - _ROUND
            t = (x - kf * _LN2_HI) - kf * _LN2_LO
            # Taylor polynomial of exp on |t| <= ln2/2 (remainder < 2**-60)
            q[r * k + j] = 1.0 + t * (1.0 + t * (1.0 / 2 + t * (1.0 / 6 + t * (
                1.0 / 24 + t * (1.0 / 120 + t * (1.0 / 720 + t * (1.0 / 5040 + t * (
                    1.0 / 40320 + t * (1.0 / 362880 + t * (1.0 / 3628800 + t * (
                        1.0 / 39916800 + t * (1.0 / 479001600 + t * (
                            1.0 / 6227020800.0)))))))))))))
            bits[r * k + j] = (np.int64(kf) + 1023) << 52
    scale = bits.view(np.float64)
    for e in range(nr * k):
        q[e] = q[e] * scale[e]


def _softmax_ce_labels_py(z, labels, rows):
    """Fused, stable softmax cross-entropy: rows[r] = logsumexp(z[r]) - z[r, label]."""
    n, k = z.shape
    zf = z.reshape(-1)
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for b in prange(nb):
        r0 = b * ROW_BLOCK
        nr = min(n, r0 + ROW_BLOCK) - r0
        m = np.empty(nr)
        q = np.empty(nr * k)
        bits = np.empty(nr * k, np.int64)
        _lse_block(zf, r0 * k, nr, k, m, q, bits)
        for r in range(nr):
            s = 0.0
            for j in range(k):
                s += q[r * k + j]
            rows[r0 + r] = (math.log(s) + m[r]) - np.float64(zf[(r0 + r) * k + labels[r0 + r]])


def _softmax_ce_dense_py(z, t, rows):
    """rows[r] = sum_j t[r, j] * (logsumexp(z[r]) - z[r, j]), terms with t == 0 skipped."""
    n, k = z.shape
    zf = z.reshape(-1)
    tf = t.reshape(-1)
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    for b in prange(nb):
        r0 = b * ROW_BLOCK
        nr = min(n, r0 + ROW_BLOCK) - r0
        m = np.empty(nr)
        q = np.empty(nr * k)
        bits = np.empty(nr * k, np.int64)
        _lse_block(zf, r0 * k, nr, k, m, q, bits)
        for r in range(nr):
            s = 0.0
            for j in range(k):
                s += q[r * k + j]
            lse = math.log(s) + m[r]
            acc = 0.0
            for j in range(k):
                e = (r0 + r) * k + j
                tj = np.float64(tf[e])
                if tj != 0.0:
                    acc += tj * (lse - np.float64(zf[e]))
            rows[r0 + r] = acc


def _pair(py: Any, fastmath: frozenset[str] | bool = False) -> tuple[Any, Any]:
    """(serial, parallel) kernels from one body: bit-identical, the serial one for small inputs."""
    return kernel(py, fastmath=fastmath), kernel(py, parallel=True, fastmath=fastmath)


_sum_sq_diff_serial, _sum_sq_diff_parallel = _pair(_sum_sq_diff_py)
_sum_sq_labels_serial, _sum_sq_labels_parallel = _pair(_sum_sq_labels_py)
_cross_entropy_labels_serial, _cross_entropy_labels_parallel = _pair(_cross_entropy_labels_py)
_cross_entropy_dense_serial, _cross_entropy_dense_parallel = _pair(_cross_entropy_dense_py)
_softmax_ce_labels_serial, _softmax_ce_labels_parallel = _pair(_softmax_ce_labels_py, CONTRACT)
_softmax_ce_dense_serial, _softmax_ce_dense_parallel = _pair(_softmax_ce_dense_py, CONTRACT)


# -------------------------------------------------------- numerical gradient
_CENTRAL_DIFF: weakref.WeakKeyDictionary[Any, tuple[Any, Any]] = weakref.WeakKeyDictionary()


def central_diff_kernels(f: Any) -> tuple[Any, Any]:
    """The (parallel, serial) central-difference kernels specialised to the jitted ``f``.

    ``f`` is baked in as a constant rather than passed as an argument: typing a
    function argument costs ~20 us on every call, more than the whole kernel
    for small ``x``. Compiled once per ``f`` (not cached on disk: ``f`` is the
    caller's), and forgotten with ``f``.
    """
    pair = _CENTRAL_DIFF.get(f)
    if pair is not None:
        return pair

    def central_diff(x, xplus, xminus, shape, nchunks, fplus, fminus):
        """f at x with element i set to xplus[i], then xminus[i], for every i.

        Each chunk of parameters perturbs its own copy of ``x`` (one copy per
        chunk, not per element) and restores element i exactly before moving on,
        so every evaluation sees ``x`` with one element changed, whatever the
        thread and chunk count: the results are bit-identical to the serial loop.
        """
        n = x.size
        chunk = (n + nchunks - 1) // nchunks
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for i in range(lo, hi):
                    xc[i] = xplus[i]
                    fplus[i] = f(xv)
                    xc[i] = xminus[i]
                    fminus[i] = f(xv)
                    xc[i] = x[i]

    pair = (kernel(central_diff, parallel=True, cache=False),
            kernel(central_diff, parallel=False, cache=False))
    _CENTRAL_DIFF[f] = pair
    return pair
