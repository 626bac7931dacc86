"""Evaluate ``f`` at sets of perturbations of ``x``, ``f`` returning an array of any shape.

The engines of :mod:`.engines` perturb one element of ``x`` per evaluation and
expect a scalar ``f``. The Jacobian (a colour perturbs many elements at once),
the Hessian (a pair of elements) and their relatives need the generalisation
written here once: perturbation ``p`` sets the elements ``idx[ptr[p]:ptr[p+1]]``
of a private copy of ``x`` to ``val[ptr[p]:ptr[p+1]]``, and row ``p`` of the
result holds ``f`` there, flattened (float64, or complex128 for the complex
step). ``x`` itself is never written: ``f`` receives the copy.

Engines, one evaluate signature (:func:`evaluate`):

* ``"loop"`` - a Python ``f``, one call per perturbation on one private copy;
* ``"batched"`` - ``f`` maps ``(B, *x.shape)`` to ``(B, *out_shape)``, chunks of
  about :data:`~.engines.batched.HOST_BATCH_BYTES`;
* ``"prange"`` - a Numba-compiled ``f`` in a parallel kernel specialised to it,
  each chunk of perturbations on its own copy (bit-identical to the serial
  kernel and to the loop, for any thread count);
* ``workers=`` - blocks of perturbations on a process pool, an Executor, a map
  or a Dask cluster (:func:`.engines.executors.distribute_sets`), each worker
  running the loop on its own unpickled copy (bit-identical to the loop).
"""

from __future__ import annotations

import collections
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import NonFiniteError
from .engines.batched import HOST_BATCH_BYTES

__all__ = ["Perturbations", "evaluate", "values_of", "check_finite_values"]


@dataclass(frozen=True)
class Perturbations:
    """``P`` perturbations of a flat ``x``: CSR rows of (element, new value) pairs.

    ``label(p)`` says in words where perturbation ``p`` is (for messages).
    ``scatter``, optional: ``p * x.size + idx`` for every pair (the positions in a
    ``(P, x.size)`` batch), where the caller keeps it from call to call.
    """

    ptr: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    label: Callable[[int], str]
    scatter: np.ndarray | None = None

    @property
    def count(self) -> int:
        """The number of perturbations (evaluations of ``f``)."""
        return int(self.ptr.size - 1)


def _numbers(dt: np.dtype) -> bool:
    """Whether values of dtype ``dt`` are numbers: not bool, str or object."""
    return dt.kind in "iufc" or (dt != np.bool_ and np.issubdtype(dt, np.number))


def values_of(value: Any, out_shape: tuple[int, ...] | None, at: str, complex_ok: bool) -> Any:
    """``f``'s value as a flat float64 (complex128) array, checked: numbers of ``out_shape``."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(
            f"f must return real numbers (a scalar or an array); it returned "
            f"{type(value).__name__} {value!r} at {at}"
        )
    arr = np.asarray(value if not hasattr(value, "get") else value.get())
    if not _numbers(arr.dtype):
        raise TypeError(f"f must return numbers; it returned dtype {arr.dtype} at {at}")
    if arr.dtype.kind == "c" and not complex_ok:
        raise TypeError(f"f must return real numbers; it returned dtype {arr.dtype} at {at}")
    if out_shape is not None and arr.shape != out_shape:
        raise ValueError(
            f"f must return the same shape at every point: shape {out_shape} at x, "
            f"{arr.shape} at {at}"
        )
    return arr.astype(np.complex128 if complex_ok else np.float64).reshape(-1)


def check_finite_values(values: np.ndarray, pert: Perturbations, out_shape: tuple) -> None:
    """NonFiniteError naming the first output and perturbation where ``f`` is NaN or inf."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(values.sum()):  # a finite sum: every value finite (one pass, no mask)
            return
    ok = np.isfinite(values)
    if ok.all():  # the sum overflowed
        return
    p, k = (int(v) for v in np.argwhere(~ok)[0])
    out = "f" if not out_shape else "f[" + ", ".join(map(str, np.unravel_index(k, out_shape))) + "]"
    raise NonFiniteError(
        f"{out} returned {values[p, k].item()!r} at {pert.label(p)}; the derivative is undefined "
        "there"
    )


def evaluate(
    f: Callable[[Any], Any],
    base: np.ndarray,
    pert: Perturbations,
    out_shape: tuple[int, ...] | None,
    *,
    engine: str,
    parallel: bool | None = None,
    workers: Any = None,
    progress: bool | None = None,
    chunk: int | None = None,
    desc: str = "numerical_jacobian",
    scratch: bool = False,
) -> np.ndarray:
    """``F[p] = f(x perturbed by p).ravel()``, ``(P, prod(out_shape))``, on the engine asked.

    ``base``: a private C-ordered copy of ``x`` (real, or complex for the
    complex step), shaped like ``x``; never modified. ``workers``: anything
    ``numerical_gradient`` takes (:mod:`.engines.executors`), ``progress`` its
    bar (named ``desc``). ``scratch``: the caller reads the values before it
    calls ``f`` again, so the batched engine may hand back ``f``'s own array of
    one batch instead of a copy. ``out_shape`` None (the batched engine only):
    ``f``'s shape is read from its values, returned shaped ``(P, *f(x).shape)``.
    """
    cplx = base.dtype.kind == "c"
    if engine == "batched" and workers is None:  # (workers= refuse batched=True before)
        return _batched(f, base, pert, out_shape, chunk, scratch)
    if out_shape is None:
        raise ValueError("evaluate: only the batched engine finds f's shape from its values")
    if pert.count == 0:
        return np.empty((0, math.prod(out_shape)), dtype=np.complex128 if cplx else np.float64)
    if workers is not None:
        from .engines.executors import distribute_sets

        return distribute_sets(f, base, pert, out_shape, workers, progress=progress, desc=desc)
    if engine == "prange":
        return _prange(f, base, pert, out_shape, parallel)
    return loop(f, base, pert, out_shape)


def loop(
    f: Callable[[Any], Any], base: np.ndarray, pert: Perturbations, out_shape: tuple[int, ...]
) -> np.ndarray:
    """The Python engine: one private copy, perturbed and restored for every evaluation."""
    cplx = base.dtype.kind == "c"
    m = math.prod(out_shape)
    out = np.empty((pert.count, m), dtype=np.complex128 if cplx else np.float64)
    xc = base.copy()
    flat = xc.reshape(-1)
    ptr, idx, val = pert.ptr, pert.idx, pert.val
    for p in range(pert.count):
        s, e = int(ptr[p]), int(ptr[p + 1])
        ii = idx[s:e]
        flat[ii] = val[s:e]
        out[p] = values_of(f(xc), out_shape, pert.label(p), cplx)
        flat[ii] = base.reshape(-1)[ii]
    return out


def _batched(
    f: Callable[[Any], Any],
    base: np.ndarray,
    pert: Perturbations,
    out_shape: tuple[int, ...] | None,
    chunk: int | None,
    scratch: bool = False,
) -> np.ndarray:
    cplx = base.dtype.kind == "c"
    shape, n = base.shape, base.size
    total = pert.count
    found = out_shape is None  # f's shape from its first batch
    m = 0 if out_shape is None else math.prod(out_shape)
    if total == 0:
        return np.empty((0, m), dtype=np.complex128 if cplx else np.float64)
    if chunk is None:
        chunk = max(1, HOST_BATCH_BYTES // max(1, n * base.dtype.itemsize))
    chunk = max(1, min(int(chunk), total))
    want = np.dtype(np.complex128 if cplx else np.float64)
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
        if not _numbers(arr.dtype):
            raise TypeError(f"a batched f must return numbers, got dtype {arr.dtype}")
        if arr.dtype.kind == "c" and not cplx:
            raise TypeError(f"a batched f must return real values, got dtype {arr.dtype}")
        if cplx and arr.dtype.kind != "c":
            from .complex_step import dropped_imaginary

            raise dropped_imaginary(f"dtype {arr.dtype}", f"a batch of {b} complex points")
        if scratch and b == total and arr.dtype == want and arr.flags.c_contiguous:
            out = arr.reshape(b, m)  # one batch, read before f is called again: no copy
            break
        if out is None:
            out = np.empty((total, m), dtype=want)
        out[lo:hi] = arr.reshape(b, m)
    assert out_shape is not None
    return out.reshape((total,) + out_shape) if found else out


# ------------------------------------------------------------------ the jitted engine
_CACHE: collections.OrderedDict[tuple[int, bool], tuple[Any, Any, Any]] = collections.OrderedDict()
_LOCK = threading.Lock()
_CACHE_SIZE = 16


def _kernels(f: Any, scalar: bool) -> tuple[Any, Any]:
    """(parallel, serial) kernels specialised to ``f`` (kept for the 16 latest functions)."""
    key = (id(f), scalar)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] is f:
            _CACHE.move_to_end(key)
            return hit[1], hit[2]
    par, ser = _build(f, scalar)
    with _LOCK:
        _CACHE[key] = (f, par, ser)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return par, ser


def _build(f: Any, scalar: bool) -> tuple[Any, Any]:
    from numba import prange

    from .._core.jit import kernel
    from .engines.prange import _split

    def sets_scalar(x, shape, ptr, idx, val, out, nchunks, done):
        total = ptr.size - 1
        chunk = _split(total, nchunks, done)
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(total, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for p in range(lo, hi):
                    for q in range(ptr[p], ptr[p + 1]):
                        xc[idx[q]] = val[q]
                    out[p, 0] = f(xv)
                    for q in range(ptr[p], ptr[p + 1]):
                        xc[idx[q]] = x[idx[q]]
            done[c] = True

    def sets_array(x, shape, ptr, idx, val, out, nchunks, done):
        total = ptr.size - 1
        chunk = _split(total, nchunks, done)
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(total, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for p in range(lo, hi):
                    for q in range(ptr[p], ptr[p + 1]):
                        xc[idx[q]] = val[q]
                    out[p, :] = np.asarray(f(xv)).ravel()
                    for q in range(ptr[p], ptr[p + 1]):
                        xc[idx[q]] = x[idx[q]]
            done[c] = True

    sets = sets_scalar if scalar else sets_array
    return kernel(sets, parallel=True, cache=False), kernel(sets, parallel=False, cache=False)


def _prange(
    f: Any, base: np.ndarray, pert: Perturbations, out_shape: tuple[int, ...], parallel: Any
) -> np.ndarray:
    import numba

    from .._core.threads import nests
    from .engines.prange import _run, runs_parallel_regions

    cplx = base.dtype.kind == "c"
    m = math.prod(out_shape)
    out = np.empty((pert.count, m), dtype=np.complex128 if cplx else np.float64)
    par, ser = _kernels(f, out_shape == ())
    flat = np.ascontiguousarray(base).reshape(-1)
    ptr = np.ascontiguousarray(pert.ptr, dtype=np.int64)
    idx = np.ascontiguousarray(pert.idx, dtype=np.int64)
    val = np.ascontiguousarray(pert.val, dtype=base.dtype)
    ok = parallel is not False and nests() and not runs_parallel_regions(f)
    nchunks = max(1, min(pert.count, 4 * numba.get_num_threads())) if ok else 1
    _run(par if ok else None, ser, flat, base.shape, ptr, idx, val, out, nchunks)
    return out
