"""Shared fixtures: seeded RNG, the CPU backends, Numba's thread count, the ``gpu`` and ``jit_only``
markers."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
import pytest

import nnnum  # its default threading layer (TBB) is thread- and fork-safe: tested as is

CPU_BACKENDS = ("numba", "numpy")


def _gpu_available() -> bool:
    try:
        from nnnum.backends._gpu_imports import require_cupy

        require_cupy()
        return True
    except Exception:
        return False


def _numba_cuda_available() -> bool:
    """Numba's CUDA target can run kernels: a device, or the simulator (NUMBA_ENABLE_CUDASIM=1)."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:
        return False


#: NUMBA_DISABLE_JIT=1 (the coverage run, tools/mutation/coverage.sh): kernels run as Python
JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if JIT_DISABLED:
        nojit = pytest.mark.skip(reason="jit_only: needs Numba's JIT (NUMBA_DISABLE_JIT is set)")
        for item in items:
            if "jit_only" in item.keywords:
                item.add_marker(nojit)
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    kernels = _numba_cuda_available()
    for item in items:
        if "gpu" in item.keywords and not (kernels and "cudasim" in item.keywords):
            item.add_marker(skip)


@pytest.fixture
def kernel_calls(monkeypatch: pytest.MonkeyPatch) -> list:
    """The compiled kernels the prange engine runs, in call order (``call_kernel`` spied on)."""
    from nnnum.diff.engines import prange

    used: list = []
    real = prange.call_kernel

    def spy(kern: object, *args: object) -> object:
        used.append(kern)
        return real(kern, *args)

    monkeypatch.setattr(prange, "call_kernel", spy)
    return used


@pytest.fixture
def num_threads():
    """``with num_threads(n):`` runs its block on ``n`` Numba threads, then restores the count.

    Each block restores the count it found, so the fixture holds no state between uses (a
    hypothesis test may use it across examples); teardown restores the test's starting count.
    """
    import numba

    start = numba.get_num_threads()

    @contextlib.contextmanager
    def use(n: int) -> Iterator[int]:
        before = numba.get_num_threads()
        numba.set_num_threads(n)
        try:
            yield n
        finally:
            numba.set_num_threads(before)

    yield use
    numba.set_num_threads(start)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261128)


@pytest.fixture(params=CPU_BACKENDS)
def backend(request: pytest.FixtureRequest):
    with nnnum.use_backend(request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict) -> None:
    doctest_namespace["np"] = np
    doctest_namespace["nnnum"] = nnnum


@pytest.fixture(autouse=True)
def _backend_choice_restored():
    """Every test starts from the process's backend choice: a set_backend() does not leak."""
    from nnnum.backends import _config

    before = _config._global_choice
    yield
    _config._global_choice = before
