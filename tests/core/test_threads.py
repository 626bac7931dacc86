"""Tests of nnnum._core.threads: finding and loading TBB, and choosing Numba's threading layer."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import numba
import pytest

from nnnum._core import threads


@pytest.fixture
def fresh(monkeypatch):
    """configure() as in a new process: no state, Numba's layer at its default (restored after)."""
    monkeypatch.setattr(threads, "_state", {})
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "default")
    monkeypatch.delenv("NUMBA_THREADING_LAYER", raising=False)
    return monkeypatch


def test_no_tbb_library_name_on_an_unknown_platform(monkeypatch):
    """A platform without a known TBB file name has no candidates (nothing is loaded)."""
    monkeypatch.setattr(sys, "platform", "sunos5")
    assert threads._tbb_candidates() == []


def test_without_the_tbb_wheel_the_prefixes_are_searched(monkeypatch):
    """No ``tbb`` distribution: the candidates are <prefix>/lib/libtbb.so.12 of the interpreter."""
    monkeypatch.setattr(sys, "platform", "linux")

    def no_tbb(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "files", no_tbb)
    prefixes = {sys.prefix, sys.exec_prefix, sys.base_prefix}
    assert sorted(threads._tbb_candidates()) == sorted(
        Path(p) / "lib" / "libtbb.so.12" for p in prefixes
    )


def test_load_tbb_skips_missing_and_unloadable_files(monkeypatch, tmp_path):
    """A missing path and a file that is no library are passed over: False when none loads."""
    broken = tmp_path / "libtbb.so.12"
    broken.write_bytes(b"not an ELF file")
    monkeypatch.setattr(threads, "_tbb_candidates", lambda: [tmp_path / "absent.so", broken])
    assert threads._load_tbb() is False


def test_configure_asks_numba_for_the_safe_layer_when_tbb_works(fresh):
    """TBB loaded and usable: Numba's 'safe' layer; configure() is then idempotent."""
    loads = []
    fresh.setattr(threads, "_load_tbb", lambda: loads.append(1) or True)
    fresh.setattr(threads, "_numba_tbb_usable", lambda: True)
    threads.configure()
    threads.configure()
    assert numba.config.THREADING_LAYER == "safe"
    assert threads.tbb_loaded() is True and loads == [1]


def test_configure_keeps_the_default_when_numbas_tbb_layer_refuses(fresh):
    """TBB found but Numba's TBB extension unusable: the default layer is left alone."""
    fresh.setattr(threads, "_load_tbb", lambda: True)
    fresh.setattr(threads, "_numba_tbb_usable", lambda: False)
    threads.configure()
    assert numba.config.THREADING_LAYER == "default"


def test_configure_respects_an_explicit_numba_threading_layer(fresh):
    """NUMBA_THREADING_LAYER set by the user: configure() changes nothing in Numba."""
    fresh.setenv("NUMBA_THREADING_LAYER", "workqueue")
    fresh.setattr(threads, "_load_tbb", lambda: True)
    fresh.setattr(threads, "_numba_tbb_usable", lambda: True)
    threads.configure()
    assert numba.config.THREADING_LAYER == "default"
    assert threads.tbb_loaded() is True


def test_configure_without_tbb_leaves_the_default(fresh):
    """No TBB library: tbb_loaded() is False and Numba keeps its default choice."""
    fresh.setattr(threads, "_load_tbb", lambda: False)
    threads.configure()
    assert threads.tbb_loaded() is False
    assert numba.config.THREADING_LAYER == "default"


def test_numba_tbb_unusable_when_its_version_check_fails(monkeypatch):
    """Numba refusing the loaded TBB's version makes the TBB layer unusable (no exception)."""
    pytest.importorskip("numba.np.ufunc.tbbpool")
    from numba.np.ufunc import parallel

    def too_old():
        raise ImportError("The installed version of TBB is too old")

    monkeypatch.setattr(parallel, "_check_tbb_version_compatible", too_old)
    assert threads._numba_tbb_usable() is False


def test_nests_follows_the_loaded_layer(monkeypatch):
    """Nested parallel regions are allowed except under workqueue; the answer is kept."""
    for layer, nests in (("workqueue", False), ("tbb", True), ("omp", True)):
        monkeypatch.setattr(threads, "_state", {"done": True})
        monkeypatch.setattr(threads, "active_layer", lambda layer=layer: layer)
        assert threads.nests() is nests
        monkeypatch.setattr(threads, "active_layer", lambda: "changed")
        assert threads.nests() is nests
