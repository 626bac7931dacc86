"""Private Numba kernels of the numerical gradient for a jitted ``f`` (loops only).

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

from numba import prange

from ._jit import kernel

#: How many jitted functions keep their compiled gradient kernels.
CACHE_SIZE = 16

_CACHE: collections.OrderedDict[int, tuple[Any, Any, Any]] = collections.OrderedDict()
_LOCK = threading.Lock()


def central_diff_kernels(f: Any) -> tuple[Any, Any]:
    """The (parallel, serial) central-difference kernels specialised to the jitted ``f``."""
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
    def central_diff(x, xplus, xminus, shape, nchunks, fplus, fminus):
        """F at x with element i set to xplus[i], then xminus[i], for every i.

        Each chunk of parameters perturbs its own copy of ``x`` (one copy per
        chunk, not per element) and restores element i exactly before moving on,
        so every evaluation sees ``x`` with one element changed, whatever the
        thread and chunk count: the results are bit-identical to the serial loop.
        """
        n = x.size
        chunk = (n + nchunks - 1) // nchunks
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for i in range(lo, hi):
                    xc[i] = xplus[i]
                    fplus[i] = f(xv)
                    xc[i] = xminus[i]
                    fminus[i] = f(xv)
                    xc[i] = x[i]

    return (
        kernel(central_diff, parallel=True, cache=False),
        kernel(central_diff, parallel=False, cache=False),
    )
