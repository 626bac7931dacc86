"""``NNNUM_BACKEND=cupy``: the array-namespace code on the GPU, plus fused CuPy kernels.

Importing this module imports CuPy (and raises a clear error without it):
it is only imported when the cupy backend is selected.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from . import _xp_ops
from ._gpu_kernels import require_cupy, softmax_ce_rows

xp = require_cupy()
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


def softmax_cross_entropy_rows(z2: Any, kind: str, t2: Any) -> Any:
    """Per-row fused softmax cross-entropy on the device (a fused kernel for labels)."""
    if kind == "labels":
        return softmax_ce_rows(z2, t2, 0.0)
    return _xp_ops.softmax_cross_entropy_rows(z2, kind, t2, xp)


def batched_label_loss(logits: Any, labels: Any, delta: float) -> Any:
    """(B, N, K) logits -> (B,) mean losses, fused in one kernel launch."""
    return softmax_ce_rows(logits, labels, delta).sum(axis=-1) / logits.shape[-2]


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
