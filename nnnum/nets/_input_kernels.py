"""Private Numba kernels of the first layer's products on an input with many exact zeros.

MNIST's pixels are 81% zeros: ``x @ W1`` and ``x.T @ D`` skip them. :func:`_compress`
lists each row's non-zero entries (index and value, in column order);
:func:`_forward_py` then sums, for every output, the row's non-zero terms
``x[r, i] * W1[i, j]`` in increasing ``i`` from 0.0 (a product, then an add:
no fused multiply-add), and :func:`_backward_py` sums ``x[r, i] * D[r, j]`` in
increasing ``r``. The order is fixed by the arithmetic alone, so every variant
(serial, parallel, any thread count, any CPU) gives the same bits. The host side,
and the rule for when they apply, is :mod:`._input_layer`.
"""

from __future__ import annotations

import math

from numba import prange

from .._core.jit import kernel, serial_and_parallel


@kernel
def _compress(x, limit, idx, val, start):
    """The non-zeros of ``x`` row by row, as columns ``idx`` and float64 values ``val``.

    Row ``r``'s are ``idx[start[r]:start[r + 1]]``, in increasing column. Returns
    their number, or -1 as soon as a row ends with more than ``limit`` (the input
    is too dense to pay). ``idx`` and ``val`` hold ``limit + d`` entries: every
    entry of a row is written (branch-free), the count moves on only for a
    non-zero. NaN counts as non-zero.
    """
    n, d = x.shape
    total = 0
    start[0] = 0
    for r in range(n):
        xr = x[r]
        rows = idx[total : total + d]  # row views: no index arithmetic in the loop
        vals = val[total : total + d]
        m = 0
        for i in range(d):
            v = xr[i]
            rows[m] = i
            vals[m] = v
            m += v != 0.0
        total += m
        start[r + 1] = total
        if total > limit:
            return -1
    return total


def _forward_py(idx, val, start, w, b, out, activate):
    """``out = x @ w`` from the compressed ``x``; with ``activate``, ``sigmoid(x @ w + b)``.

    The sigmoid is nnnum's kernel's (``1 / (1 + exp(-v))`` for ``v >= 0``, ``e / (1 + e)``
    with ``e = exp(v)`` below). Returns the number of rows with a NaN or inf
    pre-activation (``activate`` only; 0 otherwise).
    """
    n = out.shape[0]
    m_out = w.shape[1]
    bad = 0
    for r in prange(n):
        acc = out[r]
        for j in range(m_out):
            acc[j] = 0.0
        p = start[r]
        m = start[r + 1]
        while p + 8 <= m:  # eight rows of w per pass over acc; the same order as one by one
            i0, i1, i2, i3 = idx[p], idx[p + 1], idx[p + 2], idx[p + 3]
            i4, i5, i6, i7 = idx[p + 4], idx[p + 5], idx[p + 6], idx[p + 7]
            v0, v1, v2, v3 = val[p], val[p + 1], val[p + 2], val[p + 3]
            v4, v5, v6, v7 = val[p + 4], val[p + 5], val[p + 6], val[p + 7]
            for j in range(m_out):
                a = acc[j] + v0 * w[i0, j]
                a = a + v1 * w[i1, j]
                a = a + v2 * w[i2, j]
                a = a + v3 * w[i3, j]
                a = a + v4 * w[i4, j]
                a = a + v5 * w[i5, j]
                a = a + v6 * w[i6, j]
                acc[j] = a + v7 * w[i7, j]
            p += 8
        while p < m:
            i0 = idx[p]
            v0 = val[p]
            for j in range(m_out):
                acc[j] = acc[j] + v0 * w[i0, j]
            p += 1
        if activate:
            row_bad = 0
            for j in range(m_out):
                v = acc[j] + b[j]
                row_bad |= (v - v) != 0.0
                if v >= 0.0:
                    acc[j] = 1.0 / (1.0 + math.exp(-v))
                else:
                    e = math.exp(v)
                    acc[j] = e / (1.0 + e)
            bad += row_bad
    return bad


def _backward_py(idx, val, start, dmat, g, blocks):
    """``g = x.T @ dmat`` from the compressed ``x``: terms in increasing row ``r``.

    ``blocks`` column blocks of ``g`` (one per thread in the parallel variant); each
    entry's sum runs in the same order whatever the blocking.
    """
    n, m_out = dmat.shape
    width = (m_out + blocks - 1) // blocks
    for blk in prange(blocks):
        lo = blk * width
        hi = min(m_out, lo + width)
        for i in range(g.shape[0]):
            for j in range(lo, hi):
                g[i, j] = 0.0
        for r in range(n):
            dr = dmat[r, lo:hi]
            for p in range(start[r], start[r + 1]):
                gi = g[idx[p], lo:hi]
                v = val[p]
                for j in range(hi - lo):
                    gi[j] = gi[j] + v * dr[j]


@kernel
def _finite(a):
    """Whether every entry of the 2-d ``a`` is finite (an or-reduction, no early exit)."""
    n, m = a.shape
    bad = False
    for r in range(n):
        for j in range(m):
            v = a[r, j]
            bad |= (v - v) != 0.0
    return not bad


_forward_serial, _forward_parallel = serial_and_parallel(_forward_py)
_backward_serial, _backward_parallel = serial_and_parallel(_backward_py)
