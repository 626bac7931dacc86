"""Host-side input checks shared by the public wrappers (never inside kernels)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

TargetKind = Literal["dense", "labels"]


def float_array(x: Any, name: str, xp: Any = np) -> Any:
    """``x`` as a floating array of namespace ``xp`` (ints and bools become float64)."""
    arr = xp.asarray(x)
    dt = arr.dtype
    if np.issubdtype(dt, np.floating):
        return arr
    if np.issubdtype(dt, np.integer) or dt == np.bool_:
        return arr.astype(np.float64)
    raise TypeError(f"{name} must be a real numeric array, got dtype {dt}")


def targets(y: Any, t: Any, xp: Any = np, *, batch_name: str = "y") -> tuple[TargetKind, Any]:
    """Classify ``t`` against ``y`` of shape ``(..., K)`` and check it.

    Returns ``("dense", t)`` with ``t`` float and shaped like ``y``, or
    ``("labels", t)`` with ``t`` int64 and shaped like ``y.shape[:-1]``, labels
    checked to lie in ``[0, K)`` (``-1`` included: never wrapped around).
    """
    if t is None:
        raise TypeError(
            f"t is None; pass integer labels with shape {tuple(y.shape[:-1])} or one-hot "
            f"targets with shape {tuple(y.shape)}"
        )
    t = xp.asarray(t)
    if not (np.issubdtype(t.dtype, np.number) or t.dtype == np.bool_) or np.issubdtype(
        t.dtype, np.complexfloating
    ):
        raise TypeError(f"t must be integer labels or real targets, got dtype {t.dtype}")
    if y.ndim == 0:
        raise ValueError(f"{batch_name} must have at least one axis (the classes), got a scalar")
    k = y.shape[-1]
    if k == 0:
        raise ValueError(f"{batch_name} has no classes: shape {tuple(y.shape)}")
    if y.size == 0:
        raise ValueError(f"empty batch: {batch_name} has shape {tuple(y.shape)}")
    if tuple(t.shape) == tuple(y.shape):  # t's dtype is real: checked above
        dt = t.dtype
        return "dense", t.astype(np.float64) if not np.issubdtype(dt, np.floating) else t
    if tuple(t.shape) == tuple(y.shape[:-1]):
        dt = t.dtype
        if not np.issubdtype(dt, np.integer) or dt == np.bool_:
            raise TypeError(
                f"t has the shape of class labels {tuple(t.shape)} but dtype {dt}; labels must "
                "be integers in [0, K). Convert explicitly, e.g. t.astype(int), if the values "
                "are whole numbers"
            )
        lo, hi = int(t.min()), int(t.max())
        if lo < 0 or hi >= k:
            bad = lo if lo < 0 else hi
            raise ValueError(
                f"label {bad} is out of range for {k} classes: labels must lie in [0, {k})"
            )
        return "labels", t.astype(np.int64, copy=False)
    raise ValueError(
        f"shape mismatch: {batch_name} has shape {tuple(y.shape)} and t has shape "
        f"{tuple(t.shape)}; t must be one-hot (or probabilities) with shape "
        f"{tuple(y.shape)} or integer labels with shape {tuple(y.shape[:-1])}"
    )


def flat_rows(y: Any, kind: TargetKind, t: Any, xp: Any = np) -> tuple[Any, Any]:
    """``y`` as C-contiguous ``(M, K)`` rows and ``t`` as ``(M, K)`` or ``(M,)``."""
    k = y.shape[-1]
    y2 = xp.ascontiguousarray(y.reshape(-1, k))
    t2 = xp.ascontiguousarray(t.reshape(-1, k) if kind == "dense" else t.reshape(-1))
    return y2, t2
