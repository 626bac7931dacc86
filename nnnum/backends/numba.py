"""``NNNUM_BACKEND=numba`` (default): losses and activations as ``@njit`` kernels."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .._core.jit import PARALLEL_MIN_SIZE
from . import _cpu_kernels as K
from . import _xp_ops
from ._host import batch_budget, is_device_array, to_host  # noqa: F401 (the contract)

xp = np
#: Arrays live in device memory.
DEVICE = False
#: Runs Numba kernels (the prange engine, the structured network gradient).
JIT = True
_NO_LABELS = np.zeros(0, dtype=np.int64)
_NO_TARGETS = np.zeros((0, 0))


#: Classes above which the fused softmax cross-entropy goes row by row (no (K, block) buffer).
WIDE_K = 512
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _kernel_input(x: np.ndarray) -> np.ndarray:
    """Float32/float64 as they are; other floats (float16, longdouble) computed in float64.

    Numba has no float16 (or long double) arithmetic; the NumPy reference computes
    these in float64 as well, and results are cast back to the input's dtype.
    """
    return x if x.dtype in _KERNEL_DTYPES else x.astype(np.float64)


def _elementwise(serial: Any, parallel: Any, x: np.ndarray, out_dtype: Any) -> np.ndarray:
    flat = np.ascontiguousarray(_kernel_input(x)).reshape(-1)
    out = np.empty(flat.size, dtype=flat.dtype if out_dtype is None else out_dtype)
    (parallel if flat.size >= PARALLEL_MIN_SIZE else serial)(flat, out)
    res = out.reshape(x.shape).astype(x.dtype if out_dtype is None else out_dtype, copy=False)
    return res[()] if x.ndim == 0 else res  # a 0-d input gives a scalar, as NumPy's ufuncs do


def sigmoid(x: np.ndarray) -> np.ndarray:
    """:func:`nnnum.sigmoid` by the Numba kernel (parallel for large ``x``)."""
    return _elementwise(K._sigmoid_serial, K._sigmoid_parallel, x, None)


def relu(x: np.ndarray) -> np.ndarray:
    """:func:`nnnum.relu` by the Numba kernel (NaN stays NaN)."""
    return _elementwise(K._relu_serial, K._relu_parallel, x, None)


def step_function(x: np.ndarray) -> np.ndarray:
    """:func:`nnnum.step_function` by the Numba kernel (int64 0/1)."""
    return _elementwise(K._step_serial, K._step_parallel, x, np.int64)


def softmax(z: np.ndarray) -> np.ndarray:
    """:func:`nnnum.softmax` over the last axis, row by row in the Numba kernel."""
    if z.ndim == 0:
        return _xp_ops.softmax(z, np)
    zk = _kernel_input(z)
    z2 = np.ascontiguousarray(zk).reshape(-1, z.shape[-1])
    out = np.empty(z2.shape, dtype=zk.dtype)
    if z2.size >= PARALLEL_MIN_SIZE:
        K._softmax_parallel(z2, out)
    else:
        K._softmax_serial(z2, out)
    return out.reshape(z.shape).astype(z.dtype, copy=False)


def _pick(serial: Any, parallel: Any, size: int) -> Any:
    """Parallel only where it pays: small inputs pay thread wake-up and contend with BLAS."""
    return parallel if size >= PARALLEL_MIN_SIZE else serial


def mean_squared_error(y2: np.ndarray, kind: str, t2: np.ndarray) -> float:
    """Half the sum of squares of (M, K) ``y2`` minus its targets, summed as ``np.sum`` does."""
    y2 = np.ascontiguousarray(_kernel_input(y2))
    fn = _pick(K._sum_sq_serial, K._sum_sq_parallel, y2.size)
    if kind == "labels":
        return fn(y2, _NO_TARGETS, t2, False)
    return fn(y2, np.ascontiguousarray(_kernel_input(t2)), _NO_LABELS, True)


def cross_entropy_rows(y2: np.ndarray, kind: str, t2: np.ndarray, delta: float) -> np.ndarray:
    """Per-row cross-entropy ``-sum(t log(y + delta))`` of (M, K) ``y2``: shape (M,)."""
    y2, t2 = _kernel_input(y2), (_kernel_input(t2) if kind == "dense" else t2)
    rows = np.empty(y2.shape[0])
    if kind == "labels":
        _pick(K._cross_entropy_labels_serial, K._cross_entropy_labels_parallel, y2.size)(
            y2, t2, delta, rows
        )
    else:
        _pick(K._cross_entropy_dense_serial, K._cross_entropy_dense_parallel, y2.size)(
            y2, t2, delta, rows
        )
    return rows


def softmax_cross_entropy_rows(z2: np.ndarray, kind: str, t2: np.ndarray) -> np.ndarray:
    """Per-row fused softmax cross-entropy of (M, K) logits ``z2``: shape (M,)."""
    z2, t2 = _kernel_input(z2), (_kernel_input(t2) if kind == "dense" else t2)
    rows = np.empty(z2.shape[0])
    if z2.shape[1] > WIDE_K:
        fn = _pick(K._softmax_ce_wide_serial, K._softmax_ce_wide_parallel, z2.size)
    else:
        fn = _pick(K._softmax_ce_serial, K._softmax_ce_parallel, z2.size)
    if kind == "labels":
        fn(z2, t2, _NO_TARGETS, False, rows)
    else:
        fn(z2, _NO_LABELS, t2, True, rows)
    return rows


# Perturbation batches only matter on the GPU; on the CPU the NumPy form is the reference.
batched_label_loss = partial(_xp_ops.batched_label_loss, xp=np)
