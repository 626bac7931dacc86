"""Array-namespace implementations: the NumPy reference and the CuPy backend share them.

Every function takes the namespace ``xp`` (``numpy`` or ``cupy``) explicitly,
so that CI runs the very same batched code under NumPy that runs on the GPU.
Inputs are already validated and shaped by the public wrappers: ``(M, K)``
rows, labels in range.  Arithmetic is in float64; activations return the
input's floating dtype.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np


def quiet(xp: Any) -> contextlib.AbstractContextManager[Any]:
    """Silence NumPy's invalid-value warnings (inf - inf, log of a negative): NaN is the answer."""
    if xp is np:
        return np.errstate(invalid="ignore", divide="ignore", over="ignore")
    return contextlib.nullcontext()


def sigmoid(x: Any, xp: Any) -> Any:
    x64 = x.astype(np.float64, copy=False)
    e = xp.exp(-xp.abs(x64))  # never overflows
    with quiet(xp):
        out = xp.where(x64 >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    out = out.astype(x.dtype, copy=False)
    return out[()] if out.ndim == 0 else out  # a 0-d input gives a scalar, as ufuncs do


def relu(x: Any, xp: Any) -> Any:
    return xp.maximum(x, xp.zeros((), dtype=x.dtype))


def step_function(x: Any, xp: Any) -> Any:
    return (x > 0).astype(np.int64)


def softmax(z: Any, xp: Any) -> Any:
    z64 = z.astype(np.float64, copy=False)
    with quiet(xp):
        e = xp.exp(z64 - z64.max(axis=-1, keepdims=True))
        out = e / e.sum(axis=-1, keepdims=True)
    return out.astype(z.dtype, copy=False)


def _onehot(labels: Any, k: int, xp: Any) -> Any:
    return (xp.arange(k)[None, :] == labels[:, None]).astype(np.float64)


def mean_squared_error(y2: Any, kind: str, t2: Any, xp: Any) -> Any:
    t = _onehot(t2, y2.shape[1], xp) if kind == "labels" else t2.astype(np.float64, copy=False)
    with quiet(xp):  # |y| near 1e308: inf, as the Numba kernel gives, without a warning
        d = y2.astype(np.float64, copy=False) - t
        return 0.5 * xp.sum(d * d)


def cross_entropy_rows(y2: Any, kind: str, t2: Any, delta: float, xp: Any) -> Any:
    y = y2.astype(np.float64, copy=False)
    with quiet(xp):
        if kind == "labels":
            return -xp.log(y[xp.arange(y.shape[0]), t2] + delta)
        t = t2.astype(np.float64, copy=False)
        return -xp.sum(xp.where(t != 0, t * xp.log(y + delta), 0.0), axis=-1)


def max_and_log_sum(z: Any, xp: Any) -> tuple[Any, Any]:
    """Row max ``m`` and ``log(sum(exp(z - m)))`` over the last axis, kept apart.

    A loss ``log_sum + (m - z_t)`` keeps its precision for huge logits, where
    ``(m + log_sum) - z_t`` would round ``log_sum`` away against ``m``.
    """
    m = z.max(axis=-1, keepdims=True)
    with quiet(xp):
        return m[..., 0], xp.log(xp.exp(z - m).sum(axis=-1))


def softmax_cross_entropy_rows(z2: Any, kind: str, t2: Any, xp: Any) -> Any:
    z = z2.astype(np.float64, copy=False)
    m, ls = max_and_log_sum(z, xp)
    with quiet(xp):
        if kind == "labels":
            return ls + (m - z[xp.arange(z.shape[0]), t2])
        t = t2.astype(np.float64, copy=False)
        return xp.sum(xp.where(t != 0, t * (ls[:, None] + (m[:, None] - z)), 0.0), axis=-1)


def batched_label_loss(logits: Any, labels: Any, delta: float, xp: Any) -> Any:
    """Mean loss of each of ``B`` batches of logits ``(B, N, K)`` with labels ``(N,)``.

    ``delta == 0`` is the fused softmax cross-entropy ``logsumexp - z[label]``;
    ``delta > 0`` is the book's ``-log(softmax[label] + delta)``.  One pass
    over the logits; this is the loss that the perturbation batches of
    :class:`nnnum.TwoLayerNet` evaluate in one launch.
    """
    m, ls = max_and_log_sum(logits, xp)
    idx = xp.broadcast_to(labels[None, :, None], logits.shape[:-1] + (1,))
    zt = xp.take_along_axis(logits, idx, axis=-1)[..., 0]
    with quiet(xp):
        if delta == 0.0:
            rows = ls + (m - zt)
        else:
            rows = -xp.log(xp.exp((zt - m) - ls) + delta)
    return rows.sum(axis=-1) / logits.shape[-2]
