"""Shared fixtures: seeded RNG, the CPU backends, the ``gpu`` marker."""

from __future__ import annotations

import numpy as np
import pytest

import nnnum  # its default threading layer (TBB) is thread- and fork-safe: tested as is

CPU_BACKENDS = ("numba", "numpy")


def _gpu_available() -> bool:
    try:
        from nnnum.backends._gpu_kernels import require_cupy

        require_cupy()
        return True
    except Exception:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _gpu_available():
        return
    skip = pytest.mark.skip(reason="needs CuPy and a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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
