"""Private Numba kernels of ``TwoLayerNet``'s forward pass, loss and backprop.

One pass per layer for TwoLayerNet.predict / loss / accuracy / gradient, with the very
operations of the NumPy composition they replace (``x @ W1 + b1``, nnnum's sigmoid and
softmax kernels, ``cross_entropy_error``, NumPy's pairwise ``sum``): bit-identical to it.
The matrix products stay with BLAS, called on arrays of the same layout; the accuracy
takes NumPy's ``argmax`` of the probabilities (a kernel of its own saved 0.3 us a call at
batch 100, and cost a compile on every first run).

Each ``*_py`` body is compiled twice (:func:`nnnum._core.jit.serial_and_parallel`):
the host (:mod:`._fastpath`) takes the parallel variant from ``PARALLEL_MIN_SIZE`` elements on.
The structured numerical gradient's kernels are another algorithm: :mod:`._kernels`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._core.jit import kernel, serial_and_parallel


def _hidden_py(a, b):
    """In place: ``a <- sigmoid(a + b)``, as nnnum's sigmoid kernel computes it.

    Returns the number of rows with a NaN or inf pre-activation: a NaN or inf in
    a row of ``x`` makes every pre-activation of that row NaN or inf (IEEE
    products and sums never turn them finite again), so zero means ``x`` is finite.
    """
    n, m = a.shape
    bad = 0
    for r in prange(n):
        row_bad = 0
        for j in range(m):
            v = a[r, j] + b[j]
            row_bad |= (v - v) != 0.0
            if v >= 0.0:
                a[r, j] = 1.0 / (1.0 + math.exp(-v))
            else:
                e = math.exp(v)
                a[r, j] = e / (1.0 + e)
        bad += row_bad
    return bad


@kernel(inline="always")
def _softmax_into(a, b, r, y):
    """Row r of ``softmax(a + b)`` into ``y[r]``; ``a[r]`` becomes the logits (nnnum's kernel)."""
    k = a.shape[1]
    for j in range(k):
        a[r, j] = a[r, j] + b[j]
    m = a[r, 0]
    for j in range(1, k):
        v = a[r, j]
        if v > m or v != v:
            m = v
    s = 0.0
    for j in range(k):
        e = math.exp(a[r, j] - m)
        y[r, j] = e
        s += e
    for j in range(k):
        y[r, j] = y[r, j] / s


@kernel(inline="always")
def _np_sum_run(v, lo, n):
    """NumPy's pairwise sum of ``v[lo:lo + n]`` for n <= 128 (its unrolled leaf)."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += v[i]
        return res
    r0, r1, r2, r3 = v[lo], v[lo + 1], v[lo + 2], v[lo + 3]
    r4, r5, r6, r7 = v[lo + 4], v[lo + 5], v[lo + 6], v[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += v[lo + i]
        r1 += v[lo + i + 1]
        r2 += v[lo + i + 2]
        r3 += v[lo + i + 3]
        r4 += v[lo + i + 4]
        r5 += v[lo + i + 5]
        r6 += v[lo + i + 6]
        r7 += v[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += v[lo + i]
        i += 1
    return res


def _output_py(a, b, labels, t, dense, delta, y, rows, want_rows):
    """``y = softmax(a + b)``; with ``want_rows`` the cross-entropy of each row into ``rows``.

    Returns the number of labels outside ``[0, K)`` (then nothing else is meaningful).
    """
    n, k = a.shape
    bad = 0
    for r in prange(n):
        if not dense and (labels[r] < 0 or labels[r] >= k):
            bad += 1
            continue
        _softmax_into(a, b, r, y)
        if want_rows:
            if dense:
                s = 0.0
                for j in range(k):
                    tj = np.float64(t[r, j])
                    if tj != 0.0:
                        s -= tj * math.log(y[r, j] + delta)
                rows[r] = s
            else:
                rows[r] = -math.log(y[r, labels[r]] + delta)
    return bad


def _output_grad_py(a, b, labels, t, dense, delta, y, da, row):
    """Backprop through the book's loss: ``da = dL/da2`` per sample, delta included.

    ``g = -t / ((y + delta) N)``, ``da = y (g - sum(y g))`` with NumPy's pairwise row
    sum (``row`` is one scratch row per sample; K <= 128, one run of NumPy's pairwise
    sum). Returns the count of bad labels.
    """
    n, k = a.shape
    nf = np.float64(n)
    bad = 0
    for r in prange(n):
        if not dense and (labels[r] < 0 or labels[r] >= k):
            bad += 1
            continue
        _softmax_into(a, b, r, y)
        for j in range(k):
            if dense:
                tj = np.float64(t[r, j])
            else:
                tj = 1.0 if j == labels[r] else 0.0
            g = (-tj) / ((y[r, j] + delta) * nf)
            da[r, j] = g
            row[r, j] = y[r, j] * g
        s = _np_sum_run(row[r], 0, k)
        for j in range(k):
            da[r, j] = y[r, j] * (da[r, j] - s)
    return bad


def _hidden_grad_py(dz, z):
    """In place: ``dz <- dz * z * (1 - z)`` (the sigmoid's derivative, as NumPy evaluates it)."""
    n, m = dz.shape
    for r in prange(n):
        for j in range(m):
            zj = z[r, j]
            dz[r, j] = dz[r, j] * zj * (1.0 - zj)


_hidden_serial, _hidden_parallel = serial_and_parallel(_hidden_py)
_output_serial, _output_parallel = serial_and_parallel(_output_py)
_output_grad_serial, _output_grad_parallel = serial_and_parallel(_output_grad_py)
_hidden_grad_serial, _hidden_grad_parallel = serial_and_parallel(_hidden_grad_py)
