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

import numpy as np
from numba import prange

from .._jit import CONTRACT, kernel, serial_and_parallel

#: Arrays at least this large use the parallel variant of elementwise kernels.
PARALLEL_MIN_SIZE = 1 << 16

# --- exp(x) for x <= 0, written so LLVM vectorises it (no libm call) ----------
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0  # 1.5 * 2**52: (x + _ROUND) - _ROUND rounds to nearest
_EXP_FLOOR = -708.0  # exp below this is subnormal: clamped (< 3.3e-308, invisible next to 1)


# ----------------------------------------------------------------- activations
def _sigmoid_py(x, out):
    for i in prange(x.size):
        v = np.float64(x[i])
        if v >= 0.0:
            out[i] = 1.0 / (1.0 + math.exp(-v))
        else:
            e = math.exp(v)
            out[i] = e / (1.0 + e)


def _relu_py(x, out):
    for i in prange(x.size):
        v = x[i]
        out[i] = v if (v > 0 or v != v) else 0  # NaN stays NaN, as np.maximum


def _step_py(x, out):
    for i in prange(x.size):
        out[i] = 1 if x[i] > 0 else 0


_sigmoid_serial, _sigmoid_parallel = serial_and_parallel(_sigmoid_py)
_relu_serial, _relu_parallel = serial_and_parallel(_relu_py)
_step_serial, _step_parallel = serial_and_parallel(_step_py)


@kernel(inline="always")
def _row_max(z, r):
    """Max of row r in float64; NaN wins, as np.max."""
    m = np.float64(z[r, 0])
    for j in range(1, z.shape[1]):
        v = np.float64(z[r, j])
        if v > m or v != v:
            m = v
    return m


@kernel
def _softmax_row(z, r, out):
    k = z.shape[1]
    m = _row_max(z, r)
    s = 0.0
    for j in range(k):
        e = math.exp(np.float64(z[r, j]) - m)
        out[r, j] = e
        s += e
    for j in range(k):
        out[r, j] = out[r, j] / s


def _softmax_py(z, out):
    for r in prange(z.shape[0]):
        _softmax_row(z, r, out)


_softmax_serial, _softmax_parallel = serial_and_parallel(_softmax_py)


def _softmax_ce_wide_py(z, labels, t, dense, rows):
    """Softmax cross-entropy row by row with no buffer: for many classes (large K).

    The fused blocked kernel transposes blocks of rows into a (K, block)
    buffer; for large K that buffer would dwarf the input. Here each row is
    read three times (max, sum of exp, the target terms) and nothing is stored.
    """
    n, k = z.shape
    for r in prange(n):
        m = _row_max(z, r)
        s = 0.0
        for j in range(k):
            s += math.exp(np.float64(z[r, j]) - m)
        ls = math.log(s) if s == s else s
        if not dense:
            rows[r] = ls + (m - np.float64(z[r, labels[r]]))
        else:
            acc = 0.0
            for j in range(k):
                tj = np.float64(t[r, j])
                if tj != 0.0:
                    acc += tj * (ls + (m - np.float64(z[r, j])))
            rows[r] = acc


_softmax_ce_wide_serial, _softmax_ce_wide_parallel = serial_and_parallel(_softmax_ce_wide_py)


# ---------------------------------------------------------------------- losses
#: NumPy's pairwise summation: runs of at most this many elements are summed directly.
PAIRWISE_BLOCK = 128


@kernel(inline="always")
def _sq_term(y, t, labels, k, dense, e):
    """(y - target)**2 for flat element e; the target is t[e] or one-hot(labels) at e."""
    if dense:
        d = np.float64(y[e]) - np.float64(t[e])
    else:
        d = np.float64(y[e]) - (1.0 if e % k == labels[e // k] else 0.0)
    return d * d


@kernel
def _pairwise_leaves(n):
    """The runs (start, length) NumPy's pairwise sum splits ``n`` elements into, left to right."""
    lo = np.empty(n // 64 + 2, dtype=np.int64)
    ln = np.empty(n // 64 + 2, dtype=np.int64)
    stack = np.empty((128, 2), dtype=np.int64)
    top = 0
    stack[0, 0] = 0
    stack[0, 1] = n
    count = 0
    while top >= 0:
        a = stack[top, 0]
        m = stack[top, 1]
        top -= 1
        if m <= PAIRWISE_BLOCK:
            lo[count] = a
            ln[count] = m
            count += 1
        else:
            m2 = m // 2
            m2 -= m2 % 8
            top += 1  # the right half waits below the left one
            stack[top, 0] = a + m2
            stack[top, 1] = m - m2
            top += 1
            stack[top, 0] = a
            stack[top, 1] = m2
    return lo[:count], ln[:count]


@kernel
def _pairwise_combine(n, sums, pos):
    """Add the run sums back up in NumPy's order (its recursion, replayed)."""
    if n <= PAIRWISE_BLOCK:
        v = sums[pos[0]]
        pos[0] += 1
        return v
    m2 = n // 2
    m2 -= m2 % 8
    left = _pairwise_combine(m2, sums, pos)
    return left + _pairwise_combine(n - m2, sums, pos)


def _sum_sq_py(y, t, labels, dense):
    """0.5 * sum((y - t)**2), summed exactly as ``np.sum`` does (pairwise), any thread count.

    ``y`` is (M, K) C-contiguous; the target is ``t`` (M, K) when ``dense``, else
    one-hot of ``labels`` (M,). The runs of NumPy's pairwise summation are summed
    in parallel and combined in its order: bit-identical to the NumPy reference
    (and so to the book's ``0.5 * np.sum((y - t)**2)``).
    """
    k = y.shape[1]
    yf = y.reshape(-1)
    tf = t.reshape(-1)
    n = yf.size
    if n == 0:
        return 0.0
    lo, ln = _pairwise_leaves(n)
    sums = np.empty(lo.size)
    for b in prange(lo.size):
        a = lo[b]
        m = ln[b]
        if m < 8:
            res = 0.0
            for e in range(a, a + m):
                res += _sq_term(yf, tf, labels, k, dense, e)
        else:
            r0 = _sq_term(yf, tf, labels, k, dense, a)
            r1 = _sq_term(yf, tf, labels, k, dense, a + 1)
            r2 = _sq_term(yf, tf, labels, k, dense, a + 2)
            r3 = _sq_term(yf, tf, labels, k, dense, a + 3)
            r4 = _sq_term(yf, tf, labels, k, dense, a + 4)
            r5 = _sq_term(yf, tf, labels, k, dense, a + 5)
            r6 = _sq_term(yf, tf, labels, k, dense, a + 6)
            r7 = _sq_term(yf, tf, labels, k, dense, a + 7)
            e = a + 8
            stop = a + m - (m % 8)
            while e < stop:
                r0 += _sq_term(yf, tf, labels, k, dense, e)
                r1 += _sq_term(yf, tf, labels, k, dense, e + 1)
                r2 += _sq_term(yf, tf, labels, k, dense, e + 2)
                r3 += _sq_term(yf, tf, labels, k, dense, e + 3)
                r4 += _sq_term(yf, tf, labels, k, dense, e + 4)
                r5 += _sq_term(yf, tf, labels, k, dense, e + 5)
                r6 += _sq_term(yf, tf, labels, k, dense, e + 6)
                r7 += _sq_term(yf, tf, labels, k, dense, e + 7)
                e += 8
            res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
            while e < a + m:
                res += _sq_term(yf, tf, labels, k, dense, e)
                e += 1
        sums[b] = res
    pos = np.zeros(1, dtype=np.int64)
    return 0.5 * _pairwise_combine(n, sums, pos)


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


#: exp(t) on |t| <= ln2/2: Taylor coefficients 1/11! ... 1/0!, remainder < 7e-15 relative.
_EXP_TAYLOR = tuple(1.0 / math.factorial(i) for i in range(11, -1, -1))
#: log(m) = 2u * sum u**(2i) / (2i + 1) for u**2 <= 0.0295: terms to u**21, exact to rounding.
_ATANH_SERIES = tuple(1.0 / (2 * i + 1) for i in range(10, -1, -1))


@kernel(inline="always")
def _horner(t, coeffs):
    """sum_i coeffs[i] * t**(n - 1 - i), highest power first (a fixed-length, unrolled loop)."""
    p = 0.0
    for c in coeffs:
        p = p * t + c
    return p


#: Rows per block of the fused softmax cross-entropy (its buffers stay in L2).
LSE_BLOCK = 512
_SQRT2 = 1.4142135623730951
_LN2 = 0.6931471805599453


@kernel(fastmath=CONTRACT)
def _lse_block(zf, base, nr, k, zt, mx, acc, q, bits):
    """acc[r] = logsumexp of row r of the block starting at flat index ``base``; mx[r] its max.

    The rows are first transposed into ``zt`` (K, block) so that every later
    loop runs over rows, contiguous: LLVM vectorises them. exp and log are
    written out (Cody-Waite reduction + Taylor polynomial, 2**k by exponent bits;
    log by exponent bits + atanh series) because a libm call per element does
    not vectorise. Both are within 2 ulp of libm; NaN and inf propagate as in NumPy.
    """
    # column by column: strided (gathered) loads, contiguous stores, which vectorise;
    # row by row the stores scatter and nothing does
    for j in range(k):
        for r in range(nr):
            zt[j, r] = zf[base + r * k + j]
    for r in range(nr):
        mx[r] = zt[0, r]
        acc[r] = 0.0
    for j in range(1, k):
        for r in range(nr):
            v = zt[j, r]
            m = mx[r]
            mx[r] = v if (v > m or v != v) else m  # NaN wins, as np.max
    scale = bits.view(np.float64)
    for j in range(k):
        for r in range(nr):
            d = zt[j, r] - mx[r]
            x = _EXP_FLOOR if d < _EXP_FLOOR else d  # NaN stays NaN
            kf = (x * _LOG2E + _ROUND) - _ROUND
            t = (x - kf * _LN2_HI) - kf * _LN2_LO
            q[r] = _horner(t, _EXP_TAYLOR)
            bits[r] = (np.int64(kf) + 1023) << 52
        for r in range(nr):
            acc[r] += q[r] * scale[r]
    # log(acc), acc >= 1: acc = 2**e * m, m in [1, 2) -> [sqrt(1/2), sqrt(2)), log m = 2 atanh(u)
    ab = acc.view(np.int64)
    for r in range(nr):
        word = ab[r]
        bits[r] = (word & 0xFFFFFFFFFFFFF) | 0x3FF0000000000000
        q[r] = np.float64((word >> 52) - 1023)
    for r in range(nr):
        m = scale[r]
        e = q[r]
        big = m > _SQRT2
        m = m * 0.5 if big else m
        e = e + 1.0 if big else e
        u = (m - 1.0) / (m + 1.0)
        u2 = u * u
        p = _horner(u2, _ATANH_SERIES)
        lg = e * _LN2 + 2.0 * u * p
        s = acc[r]
        acc[r] = (s if s != s else lg) + mx[r]


def _softmax_ce_py(z, labels, t, dense, rows):
    """Fused, stable softmax cross-entropy per row, one pass over the logits.

    Labels: ``rows[r] = logsumexp(z[r]) - z[r, labels[r]]``; ``dense``:
    ``rows[r] = sum_j t[r, j] * (logsumexp(z[r]) - z[r, j])``, terms with t == 0 skipped.
    """
    n, k = z.shape
    zf = z.reshape(-1)
    tf = t.reshape(-1)
    nb = (n + LSE_BLOCK - 1) // LSE_BLOCK
    for b in prange(nb):
        r0 = b * LSE_BLOCK
        nr = min(n, r0 + LSE_BLOCK) - r0
        zt = np.empty((k, LSE_BLOCK))
        mx = np.empty(LSE_BLOCK)
        lse = np.empty(LSE_BLOCK)
        q = np.empty(LSE_BLOCK)
        bits = np.empty(LSE_BLOCK, np.int64)
        _lse_block(zf, r0 * k, nr, k, zt, mx, lse, q, bits)
        if not dense:
            for r in range(nr):
                rows[r0 + r] = lse[r] - np.float64(zf[(r0 + r) * k + labels[r0 + r]])
        else:
            for r in range(nr):
                acc = 0.0
                for j in range(k):
                    e = (r0 + r) * k + j
                    tj = np.float64(tf[e])
                    if tj != 0.0:
                        acc += tj * (lse[r] - np.float64(zf[e]))
                rows[r0 + r] = acc


_sum_sq_serial, _sum_sq_parallel = serial_and_parallel(_sum_sq_py)
_cross_entropy_labels_serial, _cross_entropy_labels_parallel = serial_and_parallel(
    _cross_entropy_labels_py
)
_cross_entropy_dense_serial, _cross_entropy_dense_parallel = serial_and_parallel(
    _cross_entropy_dense_py
)
_softmax_ce_serial, _softmax_ce_parallel = serial_and_parallel(_softmax_ce_py, fastmath=CONTRACT)
