"""Private Numba kernels of the first layer's products on an input with many exact zeros.

MNIST's pixels are 81% zeros: ``x @ W1`` and ``x.T @ D`` skip them. :func:`_compress`
lists each row's non-zero entries (index and value, in column order);
:func:`_forward_py` then sums, for every output, the row's non-zero terms
``x[r, i] * W1[i, j]`` in increasing ``i`` from 0.0 (a product, then an add:
no fused multiply-add), and :func:`_backward_py` sums ``x[r, i] * D[r, j]`` in
increasing ``r`` (from the same non-zeros by column, :func:`_by_column`). The
order is fixed by the arithmetic alone, so every variant (serial, parallel, any
thread count, any CPU) gives the same bits. The host side, and the rule for when
they apply, is :mod:`._input_layer`.
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
    pre-activation (with ``activate``) or product (without).
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
        row_bad = 0
        if activate:
            for j in range(m_out):
                v = acc[j] + b[j]
                row_bad |= (v - v) != 0.0
                if v >= 0.0:
                    acc[j] = 1.0 / (1.0 + math.exp(-v))
                else:
                    e = math.exp(v)
                    acc[j] = e / (1.0 + e)
        else:
            for j in range(m_out):
                v = acc[j]
                row_bad |= (v - v) != 0.0
        bad += row_bad
    return bad


@kernel
def _by_column(idx, val, start, d, cidx, cval, cstart):
    """The same non-zeros column by column, rows ``cidx`` and values ``cval``.

    Column ``i``'s are ``cidx[cstart[i]:cstart[i + 1]]``, in increasing row (a
    counting sort of the row-by-row lists).
    """
    n = start.shape[0] - 1
    for i in range(d + 1):
        cstart[i] = 0
    for p in range(start[n]):
        cstart[idx[p] + 1] += 1
    for i in range(d):
        cstart[i + 1] += cstart[i]
    pos = cstart[:d].copy()
    for r in range(n):
        for p in range(start[r], start[r + 1]):
            i = idx[p]
            q = pos[i]
            cidx[q] = r
            cval[q] = val[p]
            pos[i] = q + 1


def _backward_py(cidx, cval, cstart, dmat, g):
    """``g = x.T @ dmat`` from ``x``'s non-zeros by column: each sum in increasing row ``r``.

    Row ``i`` of ``g`` is column ``i`` of ``x`` against ``dmat``, eight rows of ``dmat``
    per pass over it (the same order as one by one); rows of ``g`` are independent,
    so any thread count gives the same bits. Returns the number of rows of ``g``
    with a NaN or inf.
    """
    m_out = dmat.shape[1]
    bad = 0
    for i in prange(g.shape[0]):
        acc = g[i]
        for j in range(m_out):
            acc[j] = 0.0
        p = cstart[i]
        m = cstart[i + 1]
        while p + 8 <= m:
            r0, r1, r2, r3 = cidx[p], cidx[p + 1], cidx[p + 2], cidx[p + 3]
            r4, r5, r6, r7 = cidx[p + 4], cidx[p + 5], cidx[p + 6], cidx[p + 7]
            v0, v1, v2, v3 = cval[p], cval[p + 1], cval[p + 2], cval[p + 3]
            v4, v5, v6, v7 = cval[p + 4], cval[p + 5], cval[p + 6], cval[p + 7]
            for j in range(m_out):
                a = acc[j] + v0 * dmat[r0, j]
                a = a + v1 * dmat[r1, j]
                a = a + v2 * dmat[r2, j]
                a = a + v3 * dmat[r3, j]
                a = a + v4 * dmat[r4, j]
                a = a + v5 * dmat[r5, j]
                a = a + v6 * dmat[r6, j]
                acc[j] = a + v7 * dmat[r7, j]
            p += 8
        while p < m:
            r0 = cidx[p]
            v0 = cval[p]
            for j in range(m_out):
                acc[j] = acc[j] + v0 * dmat[r0, j]
            p += 1
        row_bad = 0
        for j in range(m_out):
            v = acc[j]
            row_bad |= (v - v) != 0.0
        bad += row_bad
    return bad


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
