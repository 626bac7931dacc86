"""The batched engine: ``f`` of a batch of parameter copies, on an array namespace (CPU or GPU).

Written once against the backend's namespace ``xp``: under the CPU backends it
runs with NumPy (the reference CI checks), under ``NNNUM_BACKEND=cupy`` the
very same code builds the batches on the device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .base import Options, Ready, Target

__all__ = ["accepts", "prepare", "evaluate", "f_at_x", "batches", "HOST_BATCH_BYTES"]

#: Bytes of perturbed copies per call of ``f`` on the host (the device uses its free memory):
#: about one core's L2 cache, so that the temporaries of a NumPy ``f`` stay in cache. Measured
#: on Rosenbrock n=1000 (EPYC Zen 4, 1 MiB L2): 64 MiB batches 29 ms (complex step) and 53 ms
#: (order 4); 1 MiB batches 6.1 and 12.2 ms; 256 KiB 6.3 and 14 ms.
HOST_BATCH_BYTES = 1 << 20


# ------------------------------------------------------------------ the Engine protocol
def accepts(f: Any, target: Target, options: Options) -> bool:
    """``batched=True``: ``f`` maps a batch of parameter copies to one value each."""
    return options.batched


def prepare(f: Any, target: Target, options: Options) -> Ready:
    """``x`` on the backend (``target.fx``, already a private copy) and its values on the host.

    ``target.flat``, where the caller already took the host values, is kept.
    """
    flat = target.flat
    if flat is None:
        flat = np.asarray(options.backend.to_host(target.fx)).reshape(-1)
    return Ready(target.ready(flat, target.fx))


def evaluate(
    f: Any, target: Target, points: np.ndarray, labels: list[str], options: Options
) -> np.ndarray:
    """:func:`batches` of copies of ``x`` on the backend, the perturbed values sent there."""
    xp = options.backend.xp
    xd = target.base
    return batches(
        f, xd.reshape(-1), target.shape, xp.asarray(points), options.chunk, options.backend
    )


def f_at_x(f: Any, target: Target, options: Options) -> float:
    """``f`` of a batch of one: ``x`` itself."""
    backend = options.backend
    v = backend.xp.asarray(f(target.base.reshape((1,) + target.shape)))
    return float(backend.to_host(v.reshape(-1))[0])


# ------------------------------------------------------------------ the batches
def batches(
    f: Callable[[Any], Any],
    flat: Any,
    shape: tuple[int, ...],
    points: Any,
    chunk: int | None,
    backend: Any,
) -> np.ndarray:
    """``F[r, i] = f(x with x_i = points[r, i])``, ``chunk`` perturbed copies per call of ``f``.

    Returns the values on the host (float64): the finishing arithmetic is tiny.
    """
    xp = backend.xp
    rows, n = points.shape
    if chunk is None:
        chunk = backend.batch_budget(n * flat.dtype.itemsize, HOST_BATCH_BYTES)
    chunk = max(1, min(int(chunk), n))
    out = np.empty((rows, n))
    for start in range(0, n, chunk):
        idx = xp.arange(start, min(n, start + chunk))
        b = int(idx.size)
        for r in range(rows):
            batch = xp.broadcast_to(flat, (b, n)).copy()
            batch[xp.arange(b), idx] = points[r, idx]
            v = xp.asarray(f(batch.reshape((b,) + shape)))
            if tuple(v.shape) != (b,):
                raise ValueError(
                    f"a batched f must return one value per parameter copy: shape "
                    f"({b},) for a batch of {b}, got {tuple(v.shape)}"
                )
            if v.dtype == np.bool_ or not (
                np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)
            ):
                raise TypeError(f"a batched f must return real values, got dtype {v.dtype}")
            out[r, start : start + b] = backend.to_host(v.astype(np.float64))
    return out
