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

from .._core.jit import CONTRACT, kernel, serial_and_parallel
from ._bitcast import as_float64, as_int64, opaque
from ._simd import prefetch, transpose_rows

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


#: exp(s) = 1 + s + s**2 P(s) on |s| <= ln2/2: minimax coefficients of P, highest power first
#: (SLEEF's ``xexp``, Boost licence): within 1 ulp of the exact exp.
_EXP_POLY = (
    2.08860621107283687536341e-09,
    2.51112930892876518610661e-08,
    2.75573911234900471893338e-07,
    2.75572362911928827629423e-06,
    2.4801587159235472998791e-05,
    0.000198412698960509205564975,
    0.00138888888889774492207962,
    0.00833333333331652721664984,
    0.0416666666666665047591422,
    0.166666666666666851703837,
    0.5,
)
#: log(1 + f) = f - f**2/2 + t (f**2/2 + R(t**2)), t = f / (2 + f): fdlibm's ``__ieee754_log``
#: minimax coefficients Lg1..Lg7 (public domain): within 1 ulp of the exact log.
_LOG_LG = (
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
)
_ROUND_BITS = 0x4338000000000000  # the bits of _ROUND = 1.5 * 2**52
_MANTISSA = 0x000FFFFFFFFFFFFF
_ONE_BITS = 0x3FF0000000000000
# mantissa + this carries into bit 52 iff 1.mantissa >= sqrt(2)
_SQRT2_MANTISSA_COMPLEMENT = 0x00095F6400000000
_BIT52 = 0x0010000000000000


#: The constants of :func:`_exp_nonpos_c`: floor, 1/ln2, 1.5 * 2**52, ln2 (hi, lo), polynomial, 1
_EXP_CONSTANTS = (_EXP_FLOOR, _LOG2E, _ROUND, _LN2_HI, _LN2_LO) + _EXP_POLY + (1.0,)


@kernel(inline="always")
def _exp_constants():
    """:data:`_EXP_CONSTANTS`, opaque to LLVM, for a hot loop (see :func:`._bitcast.opaque`).

    Taken before a vectorised loop, the coefficients are broadcast once and, on
    AVX2 (16 vector registers), spilled and read back as memory operands; as
    constants LLVM rebuilds each of them in every iteration (measured: the
    loss's serial kernel ~10% slower, native AVX-512 and AVX2 alike).
    """
    c = _EXP_CONSTANTS
    return (
        opaque(c[0]), opaque(c[1]), opaque(c[2]), opaque(c[3]), opaque(c[4]), opaque(c[5]),
        opaque(c[6]), opaque(c[7]), opaque(c[8]), opaque(c[9]), opaque(c[10]), opaque(c[11]),
        opaque(c[12]), opaque(c[13]), opaque(c[14]), opaque(c[15]), opaque(c[16]),
    )  # fmt: skip


@kernel(inline="always")
def _exp_nonpos_c(d, cs):
    """:func:`_exp_nonpos` with its constants ``cs`` (:data:`_EXP_CONSTANTS`) passed in."""
    floor, log2e, rnd, ln2_hi, ln2_lo, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, one = cs
    x = floor if d < floor else d  # NaN stays NaN
    kd = x * log2e + rnd  # round(x / ln2) + 1.5 * 2**52, exactly
    kf = kd - rnd
    s = (x - kf * ln2_hi) - kf * ln2_lo
    s2 = s * s
    s4 = s2 * s2
    u = (
        ((c10 + c9 * s) + (c8 + c7 * s) * s2)
        + ((c6 + c5 * s) + (c4 + c3 * s) * s2) * s4
        + ((c2 + c1 * s) + c0 * s2) * (s4 * s4)
    )
    p = (s2 * u + s) + one
    return p * as_float64((as_int64(kd) - _ROUND_BITS + 1023) << 52)


@kernel(inline="always")
def _exp_nonpos(d):
    """exp(d) for d <= 0, NaN propagating: within 1 ulp, below exp(-708) clamped to it.

    Cody-Waite reduction d = k ln2 + s, minimax polynomial on |s| <= ln2/2 (by
    Estrin's scheme: a dependency chain half as long as Horner's, which AVX2,
    short of registers, needs to keep its FMA units busy), and 2**k built from
    the bits: k is read off the mantissa of d/ln2 + 1.5 * 2**52 by a 64-bit
    integer subtract, never converted from a float. No libm call and no
    float-to-integer conversion (which AVX2 lacks): the whole thing vectorises.
    In a hot loop, call :func:`_exp_nonpos_c` with :func:`_exp_constants`
    taken before it (the same function, the same bits).
    """
    return _exp_nonpos_c(d, _EXP_CONSTANTS)


@kernel(inline="always")
def _log_ge1(v):
    """log(v) for v >= 1 (a sum of exps, one of them exactly 1) or NaN: within 1 ulp.

    v = 2**e (1 + f), 1 + f in [sqrt(1/2), sqrt(2)), split by integer operations
    on the bits (no float/integer conversion: e goes through the same
    1.5 * 2**52 trick), then fdlibm's polynomial in t = f / (2 + f).
    """
    w = as_int64(v)
    mant = w & _MANTISSA
    big = (mant + _SQRT2_MANTISSA_COMPLEMENT) & _BIT52  # 2**52 where 1 + f would be >= sqrt(2)
    f = as_float64(mant | (big ^ _ONE_BITS)) - 1.0  # exact: halved mantissa where big
    e = as_float64((w >> 52) - 1023 + (big >> 52) + _ROUND_BITS) - _ROUND
    hfsq = 0.5 * f * f
    t = f / (2.0 + f)
    z = t * t
    w2 = z * z
    r = z * (_LOG_LG[0] + w2 * (_LOG_LG[2] + w2 * (_LOG_LG[4] + w2 * _LOG_LG[6]))) + w2 * (
        _LOG_LG[1] + w2 * (_LOG_LG[3] + w2 * _LOG_LG[5])
    )
    lg = e * _LN2_HI - ((hfsq - (t * (hfsq + r) + e * _LN2_LO)) - f)
    return v if v != v else lg


#: Rows per block of the fused softmax cross-entropy: the block's logits, transposed
#: (K x block), stay in L1 between the passes over them. A multiple of 4.
LSE_BLOCK = 64
#: Blocks per parallel task: the block buffers are allocated once per task.
LSE_TASK_BLOCKS = 32


@kernel(fastmath=CONTRACT)
def _lse_block(zf, base, nr, k, zt, mx, es, lse):
    """lse[r] = log(sum(exp(row r - mx[r]))), mx[r] its max, for the block starting at ``base``.

    The rows are first transposed into ``zt`` (K x LSE_BLOCK, flat), four at a
    time by vector shuffles that also take their maxima
    (:func:`._simd.transpose_rows`), so that every later loop runs over rows,
    contiguous, and LLVM vectorises it. exp and log are written out
    (:func:`_exp_nonpos`, :func:`_log_ge1`) because a libm call per element
    does not vectorise; the exp sums go to ``es`` and the logs to ``lse``
    (writing the log over its argument, LLVM would keep a NaN argument by a
    masked store). Flat indices are unsigned: Numba then emits no negative-index
    wraparound, which would hide the access pattern from LLVM. A NaN anywhere in
    a row makes its exp sum NaN (the max needs no NaN test of its own); NaN and
    inf propagate as in NumPy.
    """
    B = LSE_BLOCK
    nr4 = nr - nr % 4
    for r in range(0, nr4, 4):
        transpose_rows(zf, np.uintp(base + r * k), np.uintp(k), zt, np.uintp(r), np.uintp(B), mx)
    for r in range(nr4, nr):  # the last rows of the array
        m = zf[np.uintp(base + r * k)]
        zt[np.uintp(r)] = m
        for j in range(1, k):
            v = zf[np.uintp(base + r * k + j)]
            zt[np.uintp(j * B + r)] = v
            m = v if v > m else m
        mx[r] = m
    for r in range(nr):
        es[r] = 0.0
    # one column per pass: two exp chains per iteration (two columns) spill on AVX2 and
    # measured slower on both targets; the constants are opaque (see _exp_constants)
    cs = _exp_constants()
    # the next block's logits (B * k elements), B of them per column pass, a cache line
    # at a time: the hardware prefetcher alone runs too little ahead of the
    # transposition's burst of loads (a hint: past the end of the array it does nothing)
    step = 64 // zf.itemsize
    nxt = base + nr * k
    for j in range(k):
        for e in range(j * B, (j + 1) * B, step):
            prefetch(zf, np.uintp(nxt + e))
        for r in range(nr):
            es[r] += _exp_nonpos_c(zt[np.uintp(j * B + r)] - mx[r], cs)
    for r in range(nr):
        lse[r] = _log_ge1(es[r])  # log-sum only: the loss adds (max - z) to keep huge logits exact


def _softmax_ce_py(z, labels, t, dense, rows):
    """Fused, stable softmax cross-entropy per row, one pass over the logits.

    Labels: ``rows[r] = log_sum[r] + (max[r] - z[r, labels[r]])``; ``dense``:
    ``rows[r] = sum_j t[r, j] * (log_sum[r] + (max[r] - z[r, j]))``, terms with t == 0
    skipped, where ``log_sum = log(sum(exp(z - max)))``: logsumexp minus the target logit,
    summed in the order that keeps huge logits exact.
    Every row is computed the same way whatever the blocking and thread count.
    """
    n, k = z.shape
    zf = z.reshape(-1)
    tf = t.reshape(-1)
    task = LSE_BLOCK * LSE_TASK_BLOCKS
    ntasks = (n + task - 1) // task
    for c in prange(ntasks):
        zt = np.empty(k * LSE_BLOCK)
        mx = np.empty(LSE_BLOCK)
        lse = np.empty(LSE_BLOCK)
        es = np.empty(LSE_BLOCK)
        for r0 in range(c * task, min(n, (c + 1) * task), LSE_BLOCK):
            nr = min(n, r0 + LSE_BLOCK) - r0
            _lse_block(zf, r0 * k, nr, k, zt, mx, es, lse)
            if not dense:
                for r in range(nr):
                    zl = np.float64(zf[np.uintp((r0 + r) * k + labels[r0 + r])])
                    rows[r0 + r] = lse[r] + (mx[r] - zl)
            else:
                for r in range(nr):
                    acc = 0.0
                    for j in range(k):
                        e = np.uintp((r0 + r) * k + j)
                        tj = np.float64(tf[e])
                        if tj != 0.0:
                            acc += tj * (lse[r] + (mx[r] - np.float64(zf[e])))
                    rows[r0 + r] = acc


_sum_sq_serial, _sum_sq_parallel = serial_and_parallel(_sum_sq_py)
_cross_entropy_labels_serial, _cross_entropy_labels_parallel = serial_and_parallel(
    _cross_entropy_labels_py
)
_cross_entropy_dense_serial, _cross_entropy_dense_parallel = serial_and_parallel(
    _cross_entropy_dense_py
)
_softmax_ce_serial, _softmax_ce_parallel = serial_and_parallel(_softmax_ce_py, fastmath=CONTRACT)
