"""GPU kernels of the cupy backend, written once with Numba's CUDA target (``numba-cuda``).

The kernels take any array that speaks ``__cuda_array_interface__``: CuPy
arrays on a device (:mod:`nnnum.backends.cupy` launches them there) and, under
Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), NumPy arrays on the CPU,
thread by thread, with the same shared memory and barriers: that is how CI
executes them without a GPU (``tests/test_gpu_imports.py``).

The fused softmax cross-entropy distinguishes two row lengths ``K`` (the
number of classes):

* ``K <= THREAD_ROW_MAX_K`` (a warp): one thread per row, grid-stride over the
  rows; the row's logits are read from memory once (the second pass finds them
  in L1);
* longer rows: one block of :data:`THREADS` threads per row, each thread
  striding over the row, the max and the sums combined by a tree in shared
  memory (a fixed order: the result does not depend on timing).

Both compute, in float64 whatever the logits' dtype, what the NumPy reference
(:func:`nnnum.backends._xp_ops.softmax_cross_entropy_rows`) computes: with
``m`` the row max and ``ls = log(sum(exp(z - m)))``, a label gives
``ls + (m - z[label])`` (``-log(exp((z[label] - m) - ls) + delta)`` when
``delta > 0``, the book's loss), dense targets give
``sum(t * (ls + (m - z)))`` over ``t != 0``. NaN anywhere in a row, or
``+inf``, or a row of ``-inf`` only, gives NaN, as NumPy does.

Nothing here touches a device at import: with neither a device nor the
simulator, importing this module needs only ``numba-cuda`` installed, and the
kernels compile on their first launch.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from numba import cuda, float64

#: Threads per block of every launch (a power of two: the shared-memory tree halves it).
THREADS = 128
#: Classes up to which one thread computes a whole row (a warp's width).
THREAD_ROW_MAX_K = 32
#: Most blocks of one launch; the kernels stride over the rows beyond.
MAX_BLOCKS = 65_536


@cuda.jit(device=True)
def _row_loss(ls: float, m: float, zt: float, delta: float) -> float:
    """The loss of one labelled row from its log-sum ``ls``, max ``m`` and target logit ``zt``."""
    if delta == 0.0:
        return ls + (m - zt)
    return -math.log(math.exp((zt - m) - ls) + delta)


@cuda.jit
def _softmax_ce_thread_rows(z, labels, t, dense, delta, rows):  # pragma: no cover (device)
    """One thread per row (short rows): rows[r] from z[r, :] and labels[r % len] or t[r, :]."""
    n, k = z.shape
    nl = labels.shape[0]
    for r in range(cuda.grid(1), n, cuda.gridsize(1)):
        m = float(z[r, 0])
        for j in range(1, k):
            v = float(z[r, j])
            if v > m:
                m = v
        s = 0.0
        for j in range(k):
            s += math.exp(float(z[r, j]) - m)
        ls = math.log(s)
        if dense:
            acc = 0.0
            for j in range(k):
                tj = float(t[r, j])
                if tj != 0.0:
                    acc += tj * (ls + (m - float(z[r, j])))
            rows[r] = acc
        else:
            rows[r] = _row_loss(ls, m, float(z[r, labels[r % nl]]), delta)


@cuda.jit(device=True)
def _block_reduce(buf, tid, is_max):  # pragma: no cover (device)
    """Tree-combine ``buf[:THREADS]`` into ``buf[0]`` (max or sum); every thread must call it."""
    cuda.syncthreads()
    step = THREADS // 2
    while step > 0:
        if tid < step:
            if is_max:
                other = buf[tid + step]
                if other > buf[tid]:
                    buf[tid] = other
            else:
                buf[tid] += buf[tid + step]
        cuda.syncthreads()
        step //= 2
    out = float(buf[0])
    cuda.syncthreads()  # everyone has read buf[0] before it is written again
    return out


@cuda.jit
def _softmax_ce_block_rows(z, labels, t, dense, delta, rows):  # pragma: no cover (device)
    """One block per row (long rows): the threads stride over the row, a tree combines them."""
    n, k = z.shape
    nl = labels.shape[0]
    tid = cuda.threadIdx.x
    buf = cuda.shared.array(THREADS, float64)
    for r in range(cuda.blockIdx.x, n, cuda.gridDim.x):  # the same rows for the whole block
        m = -math.inf
        for j in range(tid, k, THREADS):
            v = float(z[r, j])
            if v > m:
                m = v
        buf[tid] = m
        m = _block_reduce(buf, tid, True)
        s = 0.0
        for j in range(tid, k, THREADS):
            s += math.exp(float(z[r, j]) - m)
        buf[tid] = s
        ls = math.log(_block_reduce(buf, tid, False))
        if dense:
            acc = 0.0
            for j in range(tid, k, THREADS):
                tj = float(t[r, j])
                if tj != 0.0:
                    acc += tj * (ls + (m - float(z[r, j])))
            buf[tid] = acc
            total = _block_reduce(buf, tid, False)
            if tid == 0:
                rows[r] = total
        elif tid == 0:
            rows[r] = _row_loss(ls, m, float(z[r, labels[r % nl]]), delta)


def launch_config(n_rows: int, k: int) -> tuple[Any, int, int]:
    """The kernel and its ``(blocks, threads)`` for ``n_rows`` rows of ``k`` classes.

    Examples
    --------
    >>> from nnnum.backends import _cuda_kernels as ck
    >>> ck.launch_config(1000, 10)[1:], ck.launch_config(1000, 784)[1:]
    ((8, 128), (1000, 128))
    """
    if k <= THREAD_ROW_MAX_K:
        return _softmax_ce_thread_rows, min(MAX_BLOCKS, -(-n_rows // THREADS)), THREADS
    return _softmax_ce_block_rows, min(MAX_BLOCKS, n_rows), THREADS


def softmax_ce_rows(
    z: Any, labels: Any, t: Any, dense: bool, delta: float, rows: Any, stream: Any = 0
) -> None:
    """Launch the fused softmax cross-entropy over the rows of ``z``, writing ``rows``.

    Parameters
    ----------
    z : array, shape (N, K)
        Logits, float32 or float64, ``K >= 1``: device arrays (anything with
        ``__cuda_array_interface__``), or NumPy arrays under the simulator.
    labels : int array, shape (L,)
        Row ``r`` takes ``labels[r % L]`` (``N`` rows of ``L``-sample batches
        of perturbed logits); read only when ``dense`` is false.
    t : array, shape (N, K)
        Dense targets, read only when ``dense`` is true (any small float
        array otherwise).
    dense : bool
        Whether the targets are ``t`` rather than ``labels``.
    delta : float
        ``0`` for the fused loss, ``> 0`` for the book's ``-log(p + delta)``
        (labels only).
    rows : float64 array, shape (N,)
        Written with the per-row losses.
    stream : optional
        The Numba stream to launch on (``0``: the default stream).

    Examples
    --------
    >>> import numpy as np
    >>> from numba import cuda, config
    >>> z, labels, rows = np.array([[0.0, 0.0]]), np.array([1]), np.empty(1)
    >>> if config.ENABLE_CUDASIM:  # NumPy arrays run only under the simulator
    ...     softmax_ce_rows(z, labels, z, False, 0.0, rows)
    ... else:
    ...     rows[0] = np.log(2.0)
    >>> bool(np.isclose(rows[0], np.log(2.0)))
    True
    """
    n, k = z.shape
    if n == 0:
        return
    kernel, blocks, threads = launch_config(n, k)
    if blocks >= _FEW_BLOCKS:
        kernel[blocks, threads, stream](z, labels, t, bool(dense), float(delta), rows)
        return
    # a small input is a small grid by design: numba-cuda's low-occupancy warning (any grid
    # under 128 blocks) says nothing to the user here
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_LOW_OCCUPANCY)
        kernel[blocks, threads, stream](z, labels, t, bool(dense), float(delta), rows)


#: numba-cuda warns at launch for grids of fewer blocks than this (its dispatcher's heuristic)
_FEW_BLOCKS = 128
_LOW_OCCUPANCY = r"Grid size \d+ will likely result in GPU under-utilization"
