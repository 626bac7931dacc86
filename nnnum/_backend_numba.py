"""``NNNUM_BACKEND=numba`` (default): losses and activations as ``@njit`` kernels."""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from . import _kernels_cpu as K
from . import _xp_ops

xp = np
_NO_LABELS = np.zeros(0, dtype=np.int64)
_NO_TARGETS = np.zeros((0, 0))


def _elementwise(serial: Any, parallel: Any, x: np.ndarray, out_dtype: Any) -> np.ndarray:
    flat = np.ascontiguousarray(x).reshape(-1)
    out = np.empty(flat.size, dtype=out_dtype)
    (parallel if flat.size >= K.PARALLEL_MIN_SIZE else serial)(flat, out)
    return out.reshape(x.shape)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return _elementwise(K._sigmoid_serial, K._sigmoid_parallel, x, x.dtype)


def relu(x: np.ndarray) -> np.ndarray:
    return _elementwise(K._relu_serial, K._relu_parallel, x, x.dtype)


def step_function(x: np.ndarray) -> np.ndarray:
    return _elementwise(K._step_serial, K._step_parallel, x, np.int64)


def softmax(z: np.ndarray) -> np.ndarray:
    if z.ndim == 0:
        return _xp_ops.softmax(z, np)
    z2 = np.ascontiguousarray(z).reshape(-1, z.shape[-1])
    out = np.empty(z2.shape, dtype=z.dtype)
    if z2.size >= K.PARALLEL_MIN_SIZE:
        K._softmax_parallel(z2, out)
    else:
        K._softmax_serial(z2, out)
    return out.reshape(z.shape)


def _pick(serial: Any, parallel: Any, size: int) -> Any:
    """Parallel only where it pays: small inputs pay thread wake-up and contend with BLAS."""
    return parallel if size >= K.PARALLEL_MIN_SIZE else serial


def mean_squared_error(y2: np.ndarray, kind: str, t2: np.ndarray) -> float:
    if kind == "labels":
        return _pick(K._sum_sq_labels_serial, K._sum_sq_labels_parallel, y2.size)(y2, t2)
    fn = _pick(K._sum_sq_diff_serial, K._sum_sq_diff_parallel, y2.size)
    return fn(y2.reshape(-1), t2.reshape(-1), 4096)


def cross_entropy_rows(y2: np.ndarray, kind: str, t2: np.ndarray, delta: float) -> np.ndarray:
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
    rows = np.empty(z2.shape[0])
    fn = _pick(K._softmax_ce_serial, K._softmax_ce_parallel, z2.size)
    if kind == "labels":
        fn(z2, t2, _NO_TARGETS, False, rows)
    else:
        fn(z2, _NO_LABELS, t2, True, rows)
    return rows


# Perturbation batches only matter on the GPU; on the CPU the NumPy form is the reference.
batched_label_loss = partial(_xp_ops.batched_label_loss, xp=np)
