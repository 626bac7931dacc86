"""A network's inputs and targets: checked once on the host, with errors that name the problem."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as _backend
from .._core.validate import targets


def check_x(net: Any, x: Any, name: str = "x", *, one_sample_ok: bool = True) -> Any:
    """``x`` as float64 ``(batch, net.input_size)`` of the backend, or a clear error."""
    xp = _backend.current().xp
    if x is None:
        raise TypeError(f"{name} is None; pass a batch of shape (batch, {net.input_size})")
    x = xp.asarray(x)
    if np.issubdtype(x.dtype, np.complexfloating):
        raise TypeError(f"{name} is complex ({x.dtype}); the network takes real inputs")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise TypeError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64, copy=False)
    if x.ndim == 1 and one_sample_ok:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != net.input_size:
        raise ValueError(
            f"{name} has shape {tuple(x.shape)} but the network takes {net.input_size} "
            f"inputs per sample: expected (batch, {net.input_size})"
        )
    if x.shape[0] == 0:
        raise ValueError(f"empty batch: {name} has no samples")
    bad = ~xp.isfinite(x).all(axis=1)
    if bool(bad.any()):
        raise ValueError(f"{name} contains NaN or inf (first in sample {int(xp.argmax(bad))})")
    return x


def labels(net: Any, x: Any, t: Any, name: str = "the network output") -> tuple[str, Any]:
    """Classify and check ``t`` for the batch ``x`` (see ``nnnum._core.validate.targets``)."""
    xp = _backend.current().xp
    if t is None:
        raise TypeError(
            f"t is None; pass integer labels with shape ({x.shape[0]},) or one-hot targets "
            f"with shape ({x.shape[0]}, {net.output_size})"
        )
    t = xp.asarray(t)
    if t.ndim == 0:
        t = t[None]
    probe = xp.empty((x.shape[0], net.output_size))
    return targets(probe, t, xp, batch_name=name)


def is_label_like(kind: str, t: Any) -> bool:
    """Integer labels, or dense targets that are exactly one-hot rows."""
    if kind == "labels":
        return True
    return bool(((t == 0) | (t == 1)).all()) and bool((t.sum(axis=1) == 1).all())


def as_labels(kind: str, t: Any) -> Any:
    """Integer labels from labels or exactly one-hot rows (else a clear error)."""
    if kind == "labels":
        return t
    labels = t.argmax(axis=1)
    xp = _backend.current().xp
    onehot = xp.zeros_like(t)
    onehot[xp.arange(t.shape[0]), labels] = 1.0
    if not bool((onehot == t).all()):
        raise ValueError(
            "the structured gradient needs integer labels or exactly one-hot targets; "
            "for soft targets use strategy='brute'"
        )
    return labels
