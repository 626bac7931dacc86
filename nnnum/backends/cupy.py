"""``NNNUM_BACKEND=cupy``: the array-namespace code on the GPU, plus fused Numba CUDA kernels.

CuPy is the array library; the fused softmax cross-entropy (labels, dense
targets, and the batches of perturbed logits of the structured network
gradient) is a Numba CUDA kernel (:mod:`._cuda_kernels`), launched here on the
CuPy arrays themselves (``__cuda_array_interface__``: no copy) on CuPy's
current stream.  Importing this module imports CuPy and numba-cuda (and raises
a clear error without them or without a device): it is only imported when the
cupy backend is selected.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from . import _xp_ops
from ._gpu_imports import require_cupy, require_numba_cuda

xp = require_cupy()
_cuda, _ck = require_numba_cuda()
#: Arrays live in device memory.
DEVICE = True
#: Runs Numba kernels (the prange engine, the structured network gradient).
JIT = False

sigmoid = partial(_xp_ops.sigmoid, xp=xp)
relu = partial(_xp_ops.relu, xp=xp)
step_function = partial(_xp_ops.step_function, xp=xp)
softmax = partial(_xp_ops.softmax, xp=xp)
mean_squared_error = partial(_xp_ops.mean_squared_error, xp=xp)


def cross_entropy_rows(y2: Any, kind: str, t2: Any, delta: float) -> Any:
    """Per-row cross-entropy on the device (the array-namespace form)."""
    return _xp_ops.cross_entropy_rows(y2, kind, t2, delta, xp)


def _kernel_float(a: Any) -> Any:
    """A C-contiguous float32/float64 array (other dtypes computed in float64, as on the CPU)."""
    if a.dtype not in (np.float32, np.float64):
        a = a.astype(np.float64)
    return xp.ascontiguousarray(a)


def _view(a: Any) -> Any:
    """A Numba view of a CuPy array, without the stream synchronisation of a plain argument."""
    return _cuda.as_cuda_array(a, sync=False)


def _stream() -> Any:
    """CuPy's current stream as a Numba stream (the kernels run in order with CuPy's work)."""
    ptr = xp.cuda.get_current_stream().ptr
    return _cuda.external_stream(ptr) if ptr else _cuda.default_stream()


def fused_rows(z2: Any, labels: Any, t2: Any, delta: float) -> Any:
    """Per-row fused softmax cross-entropy of (M, K) logits on the device: float64, shape (M,).

    ``t2`` (M, K) dense targets, or ``None`` for ``labels`` (L,), row ``r``
    taking ``labels[r % L]``; ``delta > 0``: the book's ``-log(p + delta)``.
    """
    z2 = _kernel_float(z2)
    rows = xp.empty(z2.shape[0], dtype=np.float64)
    if z2.shape[0] == 0:
        return rows
    if t2 is None:
        lab = xp.ascontiguousarray(labels.astype(np.int64, copy=False))
        t = xp.zeros((1, 1))
    else:
        lab = xp.zeros(1, dtype=np.int64)
        t = _kernel_float(t2)
    _ck.softmax_ce_rows(
        _view(z2), _view(lab), _view(t), t2 is not None, delta, _view(rows), _stream()
    )
    return rows


def softmax_cross_entropy_rows(z2: Any, kind: str, t2: Any) -> Any:
    """Per-row fused softmax cross-entropy on the device (labels or dense targets)."""
    if kind == "labels":
        return fused_rows(z2, t2, None, 0.0)
    return fused_rows(z2, None, t2, 0.0)


def batched_label_loss(logits: Any, labels: Any, delta: float) -> Any:
    """(B, N, K) logits -> (B,) mean losses, fused in one kernel launch."""
    b, n, k = logits.shape
    rows = fused_rows(logits.reshape(b * n, k), labels, None, delta)
    return rows.reshape(b, n).sum(axis=-1) / n


def to_host(a: Any) -> Any:
    """A NumPy array from a CuPy array (one device-to-host copy) or a host value."""
    return xp.asnumpy(a) if isinstance(a, xp.ndarray) else a


def is_device_array(a: Any) -> bool:
    """True for a CuPy array."""
    return isinstance(a, xp.ndarray)


def batch_budget(per_item_bytes: int, host_bytes: int) -> int:
    """Items of ``per_item_bytes`` per batch: a quarter of the device memory free now."""
    free, _total = xp.cuda.runtime.memGetInfo()
    pool_free = xp.get_default_memory_pool().free_bytes()
    return max(1, int(0.25 * (free + pool_free)) // max(1, per_item_bytes))
