"""Memory-region locks and self-overlap checks for arrays perturbed in place.

``numerical_gradient`` perturbs the caller's array in place (the book's
semantics: an ``f`` that reads the parameters it closes over must see the
change). Two threads perturbing the same memory at once would each see the
other's perturbation: :data:`REGIONS` serialises calls whose arrays share
bytes, while calls on separate arrays run concurrently.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Any

import numpy as np

try:  # NumPy >= 2.0
    from numpy.lib.array_utils import byte_bounds as _byte_bounds
except ImportError:  # pragma: no cover (NumPy 1.x)
    _byte_bounds = np.byte_bounds  # type: ignore[attr-defined]

__all__ = ["REGIONS", "RegionLocks", "has_internal_overlap"]

_get_ident = threading.get_ident

#: Above this many elements an inconclusive layout is not enumerated (it is rejected).
_EXACT_CHECK_LIMIT = 1 << 24


class RegionLocks:
    """Locks keyed by byte ranges: holders of overlapping ranges take turns.

    Re-entrant per thread: an ``f`` that itself calls ``numerical_gradient``
    on the same array (in the same thread) does not deadlock. First come, first
    served: a thread that waits for a range is not overtaken by later callers
    wanting an overlapping one, so a thread calling in a loop cannot starve
    another.

    A holder records its arrays; their byte ranges are computed only when
    another thread arrives while something is held (an array's address and
    layout never change, so any thread may compute them): an uncontended hold,
    the common case, costs two lock round trips and no address lookup.
    """

    def __init__(self) -> None:
        # a plain lock (held only inside _acquire and _release, never re-entered) taken by
        # ``with self._lock``, a C-level context manager: Condition's own __enter__ costs ~4x
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        #: Held entries, ``[array, owner thread, span or None]`` (the span filled in lazily)
        self._held: list[list[Any]] = []
        #: Incremented by every acquisition, after the ranges are recorded: a reader that
        #: sees no range held and the same count before and after copying saw no writer.
        self._generation = 0
        #: Threads waiting, by arrival: ticket -> (spans, thread)
        self._waiting: dict[int, tuple[list[tuple[int, int]], int]] = {}
        self._tickets = 0

    def _blocked(self, spans: list[tuple[int, int]], me: int, ticket: int) -> bool:
        if any(
            e[1] != me and lo < hi2 and lo2 < hi
            for e in self._held
            for lo2, hi2 in (_entry_span(e),)
            for lo, hi in spans
        ):
            return True
        if any(e[1] == me for e in self._held):
            return False  # re-entry: waiting for a later thread would deadlock
        return any(
            other < ticket and owner != me and lo < hi2 and lo2 < hi
            for other, (spans2, owner) in self._waiting.items()
            for lo, hi in spans
            for lo2, hi2 in spans2
        )

    def hold(self, *arrays: Any) -> _Hold:
        """Hold the byte ranges of ``arrays`` (all at once) for a ``with`` block."""
        return _Hold(self, arrays)

    def snapshot(self, x: np.ndarray) -> np.ndarray:
        """A C-ordered copy of ``x`` with no other thread's in-place perturbation in it.

        Lock-free when nothing is held (the common case, ~0.3 us instead of
        ~3.5 us for :meth:`hold`): the copy is kept only if no range was held
        before it and no acquisition happened while it was taken (every writer
        records its range, then counts, then writes). Otherwise the copy is
        taken holding ``x``'s range, after any overlapping writer has restored it.
        """
        generation = self._generation
        if not self._held:
            copy = np.array(x, order="C", copy=True)
            if self._generation == generation:
                return copy
        with self.hold(x):
            return np.array(x, order="C", copy=True)

    def acquire_one(self, a: np.ndarray) -> list[Any]:
        """Hold one non-empty array's range: the hot path's :meth:`hold`.

        Pass the entry it returns to :meth:`release_one`, in a ``finally``.
        """
        entry = [a, _get_ident(), None]
        with self._lock:
            if not (self._held or self._waiting):
                self._held.append(entry)
                self._generation += 1
                return entry
        self._acquire([entry])
        return entry

    def release_one(self, entry: list[Any]) -> None:
        """Release what :meth:`acquire_one` returned."""
        with self._lock:
            held = self._held
            if held[-1] is entry and not self._waiting:
                del held[-1]
                return
        self._release([entry])

    def _acquire(self, entries: list[list[Any]]) -> None:
        with self._lock:
            if (self._held or self._waiting) and entries:
                me = entries[0][1]
                spans = [_entry_span(e) for e in entries]
                ticket = self._tickets
                self._tickets += 1
                self._waiting[ticket] = (spans, me)
                try:
                    while self._blocked(spans, me, ticket):
                        self._cond.wait()
                finally:
                    del self._waiting[ticket]
                    self._cond.notify_all()  # a later ticket may have waited on this one
            self._held.extend(entries)
            self._generation += 1

    def _release(self, entries: list[list[Any]]) -> None:
        with self._lock:
            held = self._held
            for e in entries:  # by identity: an entry holds an array, whose == is elementwise
                for i in range(len(held) - 1, -1, -1):
                    if held[i] is e:
                        del held[i]
                        break
            if self._waiting:  # a waiter registers before it waits: none, nobody to wake
                self._cond.notify_all()


def _entry_span(entry: list[Any]) -> tuple[int, int]:
    """The byte range of a held entry's array, computed once (under the registry's lock)."""
    span = entry[2]
    if span is None:
        span = entry[2] = _span(entry[0])
    return span


def _span(a: np.ndarray) -> tuple[int, int]:
    """The bytes ``a`` spans, ``(low, high)``: NumPy's ``byte_bounds``, ~4x faster when contiguous.

    A writable C-contiguous array's first byte is read through the buffer
    protocol (``ctypes``: ~0.45 us; ``byte_bounds`` and ``a.ctypes.data`` build
    a dictionary or an object first, ~1.4-1.8 us); any other layout takes
    ``byte_bounds``.
    """
    flags = a.flags
    if flags.c_contiguous and flags.writeable:
        low = ctypes.addressof(ctypes.c_char.from_buffer(a))  # type: ignore[arg-type]
        return low, low + a.nbytes
    return _byte_bounds(a)


class _Hold:
    """The ``with`` block of :meth:`RegionLocks.hold` (a plain class: cheaper than a generator)."""

    __slots__ = ("_locks", "_entries")

    def __init__(self, locks: RegionLocks, arrays: tuple[Any, ...]) -> None:
        self._locks = locks
        me = _get_ident()
        self._entries = [[a, me, None] for a in arrays if isinstance(a, np.ndarray) and a.size]

    def __enter__(self) -> None:
        self._locks._acquire(self._entries)

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
    dims = sorted((abs(s), n) for s, n in zip(x.strides, x.shape, strict=False) if n > 1)
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
