"""The GPU path's guarded imports: clear errors without CuPy, a device or numba-cuda, and
``device_info`` (what ``nnnum info`` shows), with stand-in ``cupy`` modules."""

from __future__ import annotations

import sys
import types

import numba
import pytest

import nnnum
from nnnum.backends import BackendUnavailableError, _gpu_imports


class CUDARuntimeError(RuntimeError):
    """As CuPy's error of a driver call (no driver, a device lost)."""


def fake_cupy(
    count: int | None = 1,
    name: bytes | str = b"NVIDIA H100 80GB HBM3",
    mem: tuple[int, int] | None = (int(70.25 * 2**30), int(79.6 * 2**30)),
) -> types.ModuleType:
    """A ``cupy`` module whose runtime sees ``count`` devices (``None``: the call raises)."""

    def get_count() -> int:
        if count is None:
            raise CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")
        return count

    def mem_info() -> tuple[int, int]:
        if mem is None:
            raise CUDARuntimeError("cudaErrorDevicesUnavailable: all CUDA devices are busy")
        return mem

    runtime = types.SimpleNamespace(
        getDeviceCount=get_count,
        getDeviceProperties=lambda i: {"name": name, "totalGlobalMem": 0},
        memGetInfo=mem_info,
    )
    mod = types.ModuleType("cupy")
    mod.__version__ = "13.3.0"
    mod.cuda = types.SimpleNamespace(runtime=runtime)
    return mod


@pytest.fixture
def no_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError


def test_missing_cupy_is_a_clear_error_and_the_backend_stays(no_cupy):
    """Selecting cupy without CuPy: BackendUnavailableError with the install hint, the
    ImportError its cause, and the backend choice unchanged."""
    before = nnnum.get_backend()
    with pytest.raises(
        BackendUnavailableError, match="needs CuPy, which could not be imported"
    ) as info:
        with nnnum.use_backend("cupy"):
            pass
    assert "pip install nnnum[gpu]" in str(info.value) and "cupy-cuda12x" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)
    with pytest.raises(BackendUnavailableError, match="needs CuPy"):
        nnnum.set_backend("cupy")
    assert nnnum.get_backend() == before


def test_cupy_without_a_usable_device(monkeypatch):
    """CuPy whose driver call fails: the error says to check the driver, the CUDA error kept."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=None))
    with pytest.raises(
        BackendUnavailableError, match=r"no CUDA device is usable \(CUDARuntimeError"
    ) as info:
        _gpu_imports.require_cupy()
    assert "CUDA_VISIBLE_DEVICES" in str(info.value)
    assert isinstance(info.value.__cause__, CUDARuntimeError)


def test_cupy_seeing_no_device(monkeypatch):
    """CuPy that counts no device: the error points to the CPU backend."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=0))
    with pytest.raises(
        BackendUnavailableError, match="sees no CUDA device; use NNNUM_BACKEND=numba"
    ):
        _gpu_imports.require_cupy()


def test_cupy_with_a_device_is_returned(monkeypatch):
    """CuPy that sees a device: require_cupy returns the module itself."""
    fake = fake_cupy(count=2)
    monkeypatch.setitem(sys.modules, "cupy", fake)
    assert _gpu_imports.require_cupy() is fake


def test_missing_numba_cuda_is_a_clear_error(monkeypatch):
    """CuPy and a device but no numba-cuda: selecting cupy names numba-cuda and its install."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=1))
    monkeypatch.delattr(numba, "cuda", raising=False)
    monkeypatch.setitem(sys.modules, "numba.cuda", None)
    with pytest.raises(
        BackendUnavailableError, match="runs its kernels with numba-cuda, which could"
    ) as info:
        with nnnum.use_backend("cupy"):
            pass
    assert "pip install numba-cuda[cu12]" in str(info.value)
    assert isinstance(info.value.__cause__, ImportError)


def test_numba_cuda_and_the_kernels_are_returned():
    """numba-cuda installed: require_numba_cuda gives its cuda module and nnnum's kernels,
    importable without a device (they compile at their first launch)."""
    cuda = pytest.importorskip("numba.cuda", reason="needs numba-cuda")
    got_cuda, kernels = _gpu_imports.require_numba_cuda()
    assert got_cuda is cuda
    assert kernels is sys.modules["nnnum.backends._cuda_kernels"]
    assert callable(kernels.softmax_ce_rows)


# ------------------------------------------------------------------ device_info
def test_device_info_without_cupy(no_cupy):
    """No CuPy: no version, and why."""
    info = _gpu_imports.device_info()
    assert info["cupy"] is None and info["error"].startswith(
        "CuPy not importable: ModuleNotFoundError("
    )
    assert set(info) == {"cupy", "error"}


@pytest.mark.parametrize("name", [b"NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"])
def test_device_info_of_a_device(monkeypatch, name):
    """A device: its name (bytes or str from CuPy: a str here), total and free memory in GiB."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=1, name=name))
    assert _gpu_imports.device_info() == {
        "cupy": "13.3.0",
        "devices": 1,
        "device": "NVIDIA H100 80GB HBM3",
        "memory_total_gib": 79.6,
        "memory_free_gib": 70.2,
    }


def test_device_info_of_no_device(monkeypatch):
    """No device: the count only, no error."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=0))
    assert _gpu_imports.device_info() == {"cupy": "13.3.0", "devices": 0}


def test_device_info_never_raises(monkeypatch):
    """A failing driver call, at the count or later: what was learnt, and the error."""
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=None))
    info = _gpu_imports.device_info()
    assert info == {
        "cupy": "13.3.0",
        "error": "no usable CUDA device: CUDARuntimeError('cudaErrorNoDevice: no CUDA-capable "
        "device is detected')",
    }
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(count=1, mem=None))
    info = _gpu_imports.device_info()
    assert info["devices"] == 1 and "memory_free_gib" not in info
    assert "cudaErrorDevicesUnavailable" in info["error"]
