"""Tests of nnnum._core.regions: the byte-range locks and the self-overlap check."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from nnnum._core import regions
from nnnum._core.regions import RegionLocks, has_internal_overlap


def test_zero_strides_overlap():
    """A view repeating one element (stride 0) overlaps itself."""
    x = np.zeros(4)
    assert has_internal_overlap(as_strided(x, shape=(3, 2), strides=(8, 0))) is True
    assert has_internal_overlap(np.broadcast_to(x, (2, 4))) is True


def test_interleaved_layouts_are_enumerated_exactly_up_to_the_limit(monkeypatch):
    """Distinct bytes in an undecided layout: no overlap; above the limit it is rejected."""
    buf = np.zeros(64, dtype=np.uint8)
    view = as_strided(buf, shape=(2, 6), strides=(3, 2))  # offsets 3a + 2j: all distinct
    assert has_internal_overlap(view) is False
    clash = as_strided(buf, shape=(3, 6), strides=(3, 2))  # 6 = 3*2 = 2*3: shared bytes
    assert has_internal_overlap(clash) is True
    monkeypatch.setattr(regions, "_EXACT_CHECK_LIMIT", view.size - 1)
    assert has_internal_overlap(view) is True  # too large to enumerate: reported as overlapping


def test_snapshot_taken_while_a_writer_arrives_is_taken_again():
    """A lock-free copy during which a range was acquired is dropped; the held copy is kept."""
    locks = RegionLocks()
    clean = np.arange(4.0)
    other = np.zeros(3)
    copies = []

    class Racing:
        """An array-like whose first copy overlaps another thread's acquisition."""

        def __array__(self, dtype=None, copy=None):
            copies.append(1)
            if len(copies) == 1:
                entry = locks.acquire_one(other)  # a writer starts while the copy is taken...
                locks.release_one(entry)
                return clean + 100.0  # ...and the copy saw its perturbation
            return clean.copy()

    out = locks.snapshot(Racing())
    assert len(copies) == 2
    np.testing.assert_array_equal(out, clean)


def test_releasing_an_entry_twice_leaves_other_holds_in_place():
    """A second release of the same entry finds nothing and drops no other holder."""
    locks = RegionLocks()
    a, b = np.zeros(3), np.ones(3)
    ea = locks.acquire_one(a)
    eb = locks.acquire_one(b)
    locks.release_one(ea)
    locks.release_one(ea)
    assert locks._held == [eb]
    locks.release_one(eb)
    assert locks._held == []
