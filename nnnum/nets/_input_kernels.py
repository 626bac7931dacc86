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


@kernel(inline="always")
def _ordered_sums(acc, mat, rows, vals, p, m, k):
    """``acc[j] = sum of vals[q] * mat[rows[q], j]`` for ``q`` from ``p`` to ``m - 1``, in order.

    For ``j < k``, from 0.0, eight rows of ``mat`` per pass over ``acc`` (a product,
    then an add, for each one in turn: the same order and bits as one row at a
    time). ``k`` is ``mat``'s width, passed in: read from ``acc`` the backward
    product's loop runs ~20% slower.
    """
    for j in range(k):
        acc[j] = 0.0
    while p + 8 <= m:
        r0, r1, r2, r3 = rows[p], rows[p + 1], rows[p + 2], rows[p + 3]
        r4, r5, r6, r7 = rows[p + 4], rows[p + 5], rows[p + 6], rows[p + 7]
        v0, v1, v2, v3 = vals[p], vals[p + 1], vals[p + 2], vals[p + 3]
        v4, v5, v6, v7 = vals[p + 4], vals[p + 5], vals[p + 6], vals[p + 7]
        for j in range(k):
            a = acc[j] + v0 * mat[r0, j]
            a = a + v1 * mat[r1, j]
            a = a + v2 * mat[r2, j]
            a = a + v3 * mat[r3, j]
            a = a + v4 * mat[r4, j]
            a = a + v5 * mat[r5, j]
            a = a + v6 * mat[r6, j]
            acc[j] = a + v7 * mat[r7, j]
        p += 8
    while p < m:
        r0 = rows[p]
        v0 = vals[p]
        for j in range(k):
            acc[j] = acc[j] + v0 * mat[r0, j]
        p += 1


@kernel(inline="always")
def _row_bad(v):
    """1 if the 1-d ``v`` has a NaN or inf, else 0 (an or-reduction, no early exit)."""
    bad = 0
    for j in range(v.shape[0]):
        e = v[j]
        bad |= (e - e) != 0.0
    return bad


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
        _ordered_sums(acc, w, idx, val, start[r], start[r + 1], m_out)
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
            row_bad = _row_bad(acc)
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
        _ordered_sums(acc, dmat, cidx, cval, cstart[i], cstart[i + 1], m_out)
        bad += _row_bad(acc)
    return bad


@kernel
def _finite(a):
    """Whether every entry of the 2-d ``a`` is finite (no early exit)."""
    bad = 0
    for r in range(a.shape[0]):
        bad |= _row_bad(a[r])
    return bad == 0


_forward_serial, _forward_parallel = serial_and_parallel(_forward_py)
_backward_serial, _backward_parallel = serial_and_parallel(_backward_py)
