"""The batched engine: ``f`` of a batch of parameter copies, on an array namespace (CPU or GPU).

Written once against the backend's namespace ``xp``: under the CPU backends it
runs with NumPy (the reference CI checks), under ``NNNUM_BACKEND=cupy`` the
very same code builds the batches on the device.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..perturb import Perturbations, numbers
from .base import Options, Ready, Target

__all__ = [
    "accepts",
    "prepare",
    "evaluate",
    "f_at_x",
    "evaluate_sets",
    "batches",
    "HOST_BATCH_BYTES",
    "FINDS_SHAPE",
]

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


# ------------------------------------------------------------------ sets of perturbations
#: This engine reads ``f``'s output shape from its values (``evaluate_sets(out_shape=None)``).
FINDS_SHAPE = True


def evaluate_sets(
    f: Callable[[Any], Any],
    base: np.ndarray,
    pert: Perturbations,
    out_shape: tuple[int, ...] | None,
    options: Options,
    scratch: bool = False,
) -> np.ndarray:
    """Sets of perturbations (:mod:`nnnum.diff.perturb`) in batches of copies of ``base``.

    ``f`` maps ``(B, *x.shape)`` to ``(B, *out_shape)``; about
    :data:`HOST_BATCH_BYTES` of copies per call (``options.chunk`` copies where
    given). ``out_shape`` None: read from the first batch, and the values come
    back shaped ``(P, *out_shape)``. ``scratch``: one batch's values may be
    ``f``'s own array (the caller reads them before ``f`` runs again).
    """
    chunk = options.chunk
    cplx = base.dtype.kind == "c"
    shape, n = base.shape, base.size
    total = pert.count
    found = out_shape is None  # f's shape from its first batch
    m = 0 if out_shape is None else math.prod(out_shape)
    want = np.dtype(np.complex128 if cplx else np.float64)
    if total == 0:
        return np.empty((0, m), dtype=want)
    if chunk is None:
        chunk = max(1, HOST_BATCH_BYTES // max(1, n * base.dtype.itemsize))
    chunk = max(1, min(int(chunk), total))
    out: Any = None if found else np.empty((total, m), dtype=want)
    flat = base.reshape(-1)
    counts = np.diff(pert.ptr) if pert.scatter is None or chunk < total else None
    for lo in range(0, total, chunk):
        hi = min(total, lo + chunk)
        b = hi - lo
        s, e = int(pert.ptr[lo]), int(pert.ptr[hi])
        batch = np.empty((b, n), dtype=base.dtype)
        batch[...] = flat
        if counts is None:  # one batch, its positions kept by the caller
            batch.reshape(-1)[pert.scatter] = pert.val
        else:
            rows = np.repeat(np.arange(b), counts[lo:hi])
            batch[rows, pert.idx[s:e]] = pert.val[s:e]
        v = f(batch.reshape((b,) + shape))
        arr = np.asarray(v if not hasattr(v, "get") else v.get())
        if out_shape is None:
            if arr.ndim < 1 or arr.shape[0] != b:
                raise ValueError(
                    "a batched f must return one value of f per parameter copy, shape "
                    f"(B, ...); for a batch of {b} it returned shape {arr.shape}"
                )
            out_shape, m = arr.shape[1:], math.prod(arr.shape[1:])
        if arr.shape != (b,) + out_shape:
            raise ValueError(
                f"a batched f must return one value of f per parameter copy: shape "
                f"{(b,) + out_shape} for a batch of {b} (f(x) has shape {out_shape}), "
                f"got {arr.shape}"
            )
        if not numbers(arr.dtype):
            raise TypeError(f"a batched f must return numbers, got dtype {arr.dtype}")
        if arr.dtype.kind == "c" and not cplx:
            raise TypeError(f"a batched f must return real values, got dtype {arr.dtype}")
        if cplx and arr.dtype.kind != "c":
            from ..complex_step import dropped_imaginary

            raise dropped_imaginary(f"dtype {arr.dtype}", f"a batch of {b} complex points")
        if scratch and b == total and arr.dtype == want and arr.flags.c_contiguous:
            out = arr.reshape(b, m)  # one batch, read before f is called again: no copy
            break
        if out is None:
            out = np.empty((total, m), dtype=want)
        out[lo:hi] = arr.reshape(b, m)
    assert out_shape is not None
    return out.reshape((total,) + out_shape) if found else out
