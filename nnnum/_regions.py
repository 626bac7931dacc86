"""Memory-region locks and self-overlap checks for arrays perturbed in place.

``numerical_gradient`` perturbs the caller's array in place (the book's
semantics: an ``f`` that reads the parameters it closes over must see the
change). Two threads perturbing the same memory at once would each see the
other's perturbation: :data:`REGIONS` serialises calls whose arrays share
bytes, while calls on separate arrays run concurrently.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

try:  # NumPy >= 2.0
    from numpy.lib.array_utils import byte_bounds as _byte_bounds
except ImportError:  # pragma: no cover (NumPy 1.x)
    _byte_bounds = np.byte_bounds

__all__ = ["REGIONS", "RegionLocks", "has_internal_overlap"]

#: Above this many elements an inconclusive layout is not enumerated (it is rejected).
_EXACT_CHECK_LIMIT = 1 << 24


class RegionLocks:
    """Locks keyed by byte ranges: holders of overlapping ranges take turns.

    Re-entrant per thread: an ``f`` that itself calls ``numerical_gradient``
    on the same array (in the same thread) does not deadlock.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held: list[tuple[int, int, int]] = []

    def _blocked(self, spans: list[tuple[int, int]], me: int) -> bool:
        return any(
            owner != me and lo < hi2 and lo2 < hi
            for lo, hi in spans
            for lo2, hi2, owner in self._held
        )

    def hold(self, *arrays: Any) -> _Hold:
        """Hold the byte ranges of ``arrays`` (all at once) for a ``with`` block."""
        return _Hold(self, arrays)

    def _acquire(self, spans: list[tuple[int, int]], entries: list[tuple[int, int, int]]) -> None:
        me = entries[0][2] if entries else threading.get_ident()
        with self._cond:
            while self._held and self._blocked(spans, me):
                self._cond.wait()
            self._held.extend(entries)

    def _release(self, entries: list[tuple[int, int, int]]) -> None:
        with self._cond:
            for e in entries:
                self._held.remove(e)
            self._cond.notify_all()


class _Hold:
    """The ``with`` block of :meth:`RegionLocks.hold` (a plain class: cheaper than a generator)."""

    __slots__ = ("_locks", "_spans", "_entries")

    def __init__(self, locks: RegionLocks, arrays: tuple[Any, ...]) -> None:
        self._locks = locks
        self._spans = [_byte_bounds(a) for a in arrays if isinstance(a, np.ndarray) and a.size]
        me = threading.get_ident()
        self._entries = [(lo, hi, me) for lo, hi in self._spans]

    def __enter__(self) -> None:
        self._locks._acquire(self._spans, self._entries)

    def __exit__(self, *exc: object) -> None:
        self._locks._release(self._entries)


#: The process-wide registry used by every in-place perturbation.
REGIONS = RegionLocks()


def has_internal_overlap(x: np.ndarray) -> bool:
    """True when two elements of ``x`` share memory (e.g. a writable sliding window view).

    A stride-sorted sufficient test first (O(ndim)); layouts it cannot decide
    are enumerated exactly, and very large ones are reported as overlapping.
    """
    if x.size <= 1:
        return False
    dims = sorted((abs(s), n) for s, n in zip(x.strides, x.shape) if n > 1)
    span = x.itemsize
    for stride, n in dims:
        if stride < span:
            break
        span += stride * (n - 1)
    else:
        return False
    if any(s == 0 for s, _ in dims):
        return True
    if x.size > _EXACT_CHECK_LIMIT:
        return True
    offsets = np.zeros(1, dtype=np.int64)
    for stride, n in dims:
        offsets = (offsets[:, None] + stride * np.arange(n, dtype=np.int64)[None, :]).reshape(-1)
    offsets.sort()
    return bool((np.diff(offsets) < x.itemsize).any())
