"""The ``prange`` engine: a Numba-compiled ``f`` evaluated in a parallel kernel.

The kernel is specialised to each ``f``: ``f`` is baked in as a compile-time
constant rather than passed as an argument, because typing a function
argument costs ~20 us on every call, more than the whole kernel for a small
``x``. The kernels of the most recently used functions are kept in a small
LRU cache; older ones are dropped, and with them (once the caller lets go of
``f``) the function and its machine code. A weakly keyed cache cannot do this:
the compiled kernel itself refers to ``f`` through Numba's internals, so a
value would keep its own key alive forever.
"""

from __future__ import annotations

import collections
import threading
from typing import Any

import numba
import numpy as np
from numba import prange

from ..._jit import call_kernel, is_parallel, kernel

#: How many jitted functions keep their compiled gradient kernels.
CACHE_SIZE = 16

_CACHE: collections.OrderedDict[int, tuple[Any, Any, Any]] = collections.OrderedDict()
_LOCK = threading.Lock()


def evaluate(f: Any, base: np.ndarray, points: np.ndarray, parallel: bool | None) -> np.ndarray:
    """``F[r, i] = f(base with base_i = points[r, i])``, in the kernel specialised to ``f``.

    ``base`` is a private C-ordered copy of ``x`` (shaped like it); each chunk
    of elements perturbs its own copy of it, so ``x`` is never touched. The
    result is bit-identical for the serial and parallel kernels and any number
    of threads. An ``f`` compiled with ``parallel=True`` runs its own parallel
    regions: it is called from the serial kernel (nested parallel regions
    abort under Numba's workqueue layer), with the same result.
    """
    flat = base.reshape(-1)
    rows, n = points.shape
    out = np.empty((rows, n))
    par_kernel, serial_kernel = kernels(f)
    if parallel is False or is_parallel(f):
        call_kernel(serial_kernel, flat, points, base.shape, 1, out)
    else:
        nchunks = max(1, min(n, 4 * numba.get_num_threads()))
        call_kernel(par_kernel, flat, points, base.shape, nchunks, out)
    return out


def kernels(f: Any) -> tuple[Any, Any]:
    """The (parallel, serial) perturbation kernels specialised to the jitted ``f``."""
    key = id(f)
    with _LOCK:
        entry = _CACHE.get(key)
        if entry is not None and entry[0] is f:
            _CACHE.move_to_end(key)
            return entry[1], entry[2]
    pair = _build(f)
    with _LOCK:
        _CACHE[key] = (f, *pair)
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return pair


def cached_functions() -> list[Any]:
    """The jitted functions whose kernels are cached, oldest first (for tests)."""
    with _LOCK:
        return [entry[0] for entry in _CACHE.values()]


def _build(f: Any) -> tuple[Any, Any]:
    def perturb(x, points, shape, nchunks, out):
        """F at x with element i set to points[r, i], for every row r and element i.

        Each chunk of parameters perturbs its own copy of ``x`` (one copy per
        chunk, not per element) and restores element i exactly before moving on,
        so every evaluation sees ``x`` with one element changed, whatever the
        thread and chunk count: the results are bit-identical to the serial loop.
        """
        n = x.size
        rows = points.shape[0]
        chunk = (n + nchunks - 1) // nchunks
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for i in range(lo, hi):
                    for r in range(rows):
                        xc[i] = points[r, i]
                        out[r, i] = f(xv)
                    xc[i] = x[i]

    return (
        kernel(perturb, parallel=True, cache=False),
        kernel(perturb, parallel=False, cache=False),
    )
