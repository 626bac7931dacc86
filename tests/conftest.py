"""Shared fixtures: seeded RNG, the CPU backends, Numba's thread count, the ``gpu`` and ``jit_only``
markers; and the builders that several files use (small networks and their batches, IDX files,
a small MNIST).

The builders are plain functions (``from ..conftest import small_problem``): hypothesis tests
and parametrisations use them where no function-scoped fixture reaches.
"""

from __future__ import annotations

import contextlib
import gzip
import math
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import nnnum  # its default threading layer (TBB) is thread- and fork-safe: tested as is
from nnnum.diff.engines import prange as _prange

#: The suite runs a jitted f's parallel kernels from its first call (the default), here and in
#: the child processes it starts, whatever the caller's environment says; the opt-in rule
#: (serial kernels first, NNNUM_PARALLEL_AFTER_S > 0) has its own tests
#: (diff/engines/test_prange.py).
os.environ["NNNUM_PARALLEL_AFTER_S"] = "0"
_prange.PARALLEL_AFTER_S = float(os.environ["NNNUM_PARALLEL_AFTER_S"])

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


# ------------------------------------------------------------------------------ small networks
def small_net(
    seed: int,
    d: int,
    h: int,
    k: int,
    std: float = 0.5,
    bias: float = 0.3,
    rng: int | np.random.Generator | None = None,
) -> nnnum.TwoLayerNet:
    """``TwoLayerNet(d, h, k, weight_init_std=std, seed=seed)`` with nonzero biases.

    ``b1`` then ``b2`` are standard normal times ``bias``, drawn from ``rng`` (a seed or a
    Generator; ``seed`` by default), so that no test sees only the zero biases of the book.
    """
    rng = np.random.default_rng(seed if rng is None else rng)
    net = nnnum.TwoLayerNet(d, h, k, weight_init_std=std, seed=seed)
    net.params["b1"] = rng.normal(size=h) * bias
    net.params["b2"] = rng.normal(size=k) * bias
    return net


def small_problem(
    seed: int,
    d: int = 6,
    h: int = 5,
    k: int = 4,
    n: int = 7,
    std: float = 0.5,
    sparsity: float = 0.5,
    scale: float = 1.0,
) -> tuple[nnnum.TwoLayerNet, np.ndarray, np.ndarray]:
    """A :func:`small_net`, a batch ``x`` (n, d) and integer labels ``t``, from one Generator.

    ``x`` is uniform in ``[0, scale)`` with about a ``sparsity`` fraction of zeros (as MNIST's
    blank pixels, which the structured gradient skips).
    """
    rng = np.random.default_rng(seed)
    net = small_net(seed, d, h, k, std=std, rng=rng)
    x = rng.random((n, d)) * scale
    x[rng.random((n, d)) < sparsity] = 0.0
    return net, x, rng.integers(0, k, size=n)


# ------------------------------------------------------------------ IDX files (MNIST's format)
#: IDX magic numbers: unsigned bytes, 3 dimensions (images) and 1 dimension (labels)
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049


def idx_bytes(magic: int, *dims: int, data: bytes | None = None) -> bytes:
    """An IDX file's bytes: ``magic``, the dimension sizes ``dims``, then ``data``.

    ``data=None`` is a zero byte per element (a well-formed file of unsigned bytes); pass
    ``data=b""`` for a header alone.
    """
    header = struct.pack(">I", magic) + struct.pack(">" + "I" * len(dims), *dims)
    return header + (bytes(math.prod(dims) if dims else 0) if data is None else data)


def write_idx(path: Path, arr: np.ndarray, magic: int, gz: bool = True) -> None:
    """``arr`` (its shape and bytes) as an IDX file at ``path``; gzip unless ``gz=False``."""
    payload = idx_bytes(magic, *arr.shape, data=arr.tobytes())
    path.write_bytes(gzip.compress(payload) if gz else payload)


def write_mnist_split(
    folder: Path, prefix: str, n: int, rng: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` random digits in ``folder``: ``{prefix}-images-idx3-ubyte.gz``, ``-labels-idx1-``.

    Pixels (n, 28, 28) and labels (n,), uint8, drawn in that order from ``rng`` (a seed or a
    Generator); returns them.
    """
    rng = np.random.default_rng(rng)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images, IMAGES_MAGIC)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels, LABELS_MAGIC)
    return images, labels


def write_mnist(
    folder: Path, n_train: int, n_test: int, seed: int = 0, splits=("train", "t10k")
) -> Path:
    """A small MNIST in the book's format in ``folder`` (made if missing); returns ``folder``.

    The ``splits`` (``"train"`` with ``n_train`` digits, ``"t10k"`` with ``n_test``) are drawn
    in that order from one Generator seeded ``seed``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        if prefix in splits:
            write_mnist_split(folder, prefix, n, rng)
    return folder


def disk_full_on(monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Files opened with ``os.fdopen`` raise ENOSPC at ``step``: ``"write"`` or ``"close"``.

    The file is closed either way (nothing leaks); the download's temporary files are opened
    with ``os.fdopen``, so this is a disk that fills up mid-download.
    """
    import errno

    real_fdopen = os.fdopen

    class DiskFull:
        def __init__(self, f):
            self._f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self._f.close()
            if step == "close":
                raise OSError(errno.ENOSPC, "No space left on device")

        def write(self, data):
            if step == "write":
                raise OSError(errno.ENOSPC, "No space left on device")
            return self._f.write(data)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: DiskFull(real_fdopen(fd, mode)))
