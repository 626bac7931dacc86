"""The cupy backend's glue (kernel launches, streams, device memory, host copies) under Numba's
CUDA simulator, with a stand-in ``cupy`` whose device arrays are NumPy arrays."""

from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

import nnnum
from nnnum import backends
from nnnum.backends import _xp_ops
from nnnum.testing import to_host

cuda = pytest.importorskip("numba.cuda", reason="needs numba-cuda")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.cudasim,
    pytest.mark.skipif(
        not cuda.config.ENABLE_CUDASIM, reason="a stand-in CuPy: only under the CUDA simulator"
    ),
]

TOL = 1e-13  # the kernels against the NumPy reference (tests/backends/test_cuda_kernels.py)
FREE, POOL_FREE = 6 * 2**30, 2 * 2**30


class DeviceArray(np.ndarray):
    """A "device" array of the stand-in CuPy: host memory that speaks the CUDA array interface."""

    @property
    def __cuda_array_interface__(self) -> dict:
        return {
            "shape": self.shape,
            "strides": None if self.flags.c_contiguous else self.strides,
            "typestr": self.dtype.str,
            "data": (self.ctypes.data, False),
            "version": 3,
        }


def _dev(a) -> DeviceArray:
    return np.asarray(a).view(DeviceArray)


def fake_cupy(stream_ptr: int) -> types.ModuleType:
    """A ``cupy`` backed by NumPy: one device, ``stream_ptr`` its current stream's handle."""
    mod = types.ModuleType("cupy")
    mod.__version__ = "13.3.0"
    mod.ndarray = DeviceArray
    mod.asarray = lambda a, dtype=None: _dev(np.array(a, dtype=dtype))  # a host-to-device copy
    mod.empty = lambda shape, dtype=float: _dev(np.empty(shape, dtype))
    mod.zeros = lambda shape, dtype=float: _dev(np.zeros(shape, dtype))
    mod.ascontiguousarray = lambda a: _dev(np.ascontiguousarray(a))
    mod.asnumpy = lambda a: np.array(a)  # a device-to-host copy (a plain ndarray)
    mod.get_default_memory_pool = lambda: types.SimpleNamespace(free_bytes=lambda: POOL_FREE)
    mod.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(
            getDeviceCount=lambda: 1, memGetInfo=lambda: (FREE, 8 * FREE)
        ),
        get_current_stream=lambda: types.SimpleNamespace(ptr=stream_ptr),
    )
    mod.__getattr__ = lambda name: getattr(np, name)  # the rest of the namespace: NumPy's
    return mod


@pytest.fixture(params=[0, 0x7F00], ids=["default-stream", "cupy-stream"])
def gpu(request, monkeypatch):
    """``nnnum.backends.cupy`` imported with the stand-in CuPy; the launches it makes recorded.

    The simulator has no ``as_cuda_array`` nor external streams: the stand-ins wrap the
    memory without a copy, as ``as_cuda_array`` does on a device, and record the handle.
    """
    from numba.cuda.simulator.cudadrv.devicearray import FakeCUDAArray

    views, streams = [], []

    def as_cuda_array(a, sync=True):
        views.append(sync)
        return FakeCUDAArray(np.asarray(a).view(np.ndarray))

    def external_stream(ptr):
        streams.append(ptr)
        return cuda.stream()

    monkeypatch.setitem(sys.modules, "cupy", fake_cupy(request.param))
    monkeypatch.setattr(cuda, "as_cuda_array", as_cuda_array, raising=False)
    monkeypatch.setattr(cuda, "external_stream", external_stream)
    saved = sys.modules.pop("nnnum.backends.cupy", None)
    try:
        with nnnum.use_backend("cupy"):
            mod = importlib.import_module("nnnum.backends.cupy")
            mod.views, mod.streams, mod.stream_ptr = views, streams, request.param
            yield mod
    finally:
        backends._loaded.pop("cupy", None)
        sys.modules.pop("nnnum.backends.cupy", None)
        if saved is not None:
            sys.modules["nnnum.backends.cupy"] = saved
        elif hasattr(backends, "cupy"):
            delattr(backends, "cupy")


def test_the_backend_module_meets_the_contract(gpu):
    """The cupy module loads as a backend: every required name, device arrays, no CPU JIT."""
    assert backends.load("cupy") is gpu
    assert all(hasattr(gpu, name) for name in backends.REQUIRED)
    assert gpu.DEVICE is True and gpu.JIT is False


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_rows_match_numpy_on_the_current_stream(gpu, rng, dtype):
    """Labels and dense targets: the kernel's per-row losses match the NumPy reference, on
    CuPy's current stream, through views (no synchronising copy); the inputs unchanged."""
    z = (rng.normal(size=(9, 5)) * 4).astype(dtype)
    labels = rng.integers(0, 5, size=9)
    soft = rng.random((9, 5))
    soft /= soft.sum(axis=1, keepdims=True)
    zd, ld, td = _dev(z.copy()), _dev(labels.copy()), _dev(soft.copy())
    z64 = z.astype(np.float64)
    got = gpu.softmax_cross_entropy_rows(zd, "labels", ld)
    assert isinstance(got, DeviceArray) and got.dtype == np.float64
    want = _xp_ops.softmax_cross_entropy_rows(z64, "labels", labels, np)
    np.testing.assert_allclose(np.asarray(got), want, TOL, TOL)
    got = gpu.softmax_cross_entropy_rows(zd, "dense", td)
    want = _xp_ops.softmax_cross_entropy_rows(z64, "dense", soft, np)
    np.testing.assert_allclose(np.asarray(got), want, TOL, TOL)
    np.testing.assert_array_equal(zd, z)
    np.testing.assert_array_equal(td, soft)
    assert gpu.views and not any(gpu.views)  # as_cuda_array(..., sync=False) only
    assert gpu.streams == ([gpu.stream_ptr] * 2 if gpu.stream_ptr else [])


def test_integer_logits_are_computed_in_float64(gpu):
    """Integer logits: the same losses as their float64 values."""
    z = np.array([[0, 3, 1], [2, 2, 2]])
    got = gpu.fused_rows(_dev(z), _dev(np.array([1, 0])), None, 0.0)
    want = _xp_ops.softmax_cross_entropy_rows(z.astype(np.float64), "labels", np.array([1, 0]), np)
    np.testing.assert_allclose(np.asarray(got), want, TOL, TOL)


def test_no_rows_launch_nothing(gpu):
    """An empty batch: an empty float64 result, no kernel launch."""
    rows = gpu.fused_rows(_dev(np.zeros((0, 4))), _dev(np.zeros(0, dtype=np.int64)), None, 0.0)
    assert rows.shape == (0,) and rows.dtype == np.float64
    assert gpu.views == []


@pytest.mark.parametrize("delta", [0.0, 1e-7])
def test_batched_label_loss_matches_numpy(gpu, rng, delta):
    """(B, N, K) perturbed logits: the B mean losses of the reference (fused, and the book's
    delta), in one launch."""
    logits = rng.normal(size=(3, 4, 6)) * 5
    labels = rng.integers(0, 6, size=4)
    got = gpu.batched_label_loss(_dev(logits), _dev(labels), delta)
    want = _xp_ops.batched_label_loss(logits, labels, delta, np)
    assert got.shape == (3,)
    np.testing.assert_allclose(np.asarray(got), want, TOL, TOL)


def test_public_losses_on_the_cupy_backend(gpu, rng):
    """nnnum.softmax_cross_entropy and cross_entropy_error on device arrays: the CPU values."""
    z = rng.normal(size=(7, 4)) * 3
    labels = rng.integers(0, 4, size=7)
    y = _xp_ops.softmax(z, np)
    got = nnnum.softmax_cross_entropy(_dev(z), _dev(labels), reduction="none")
    ce = nnnum.cross_entropy_error(_dev(y), _dev(labels))
    with nnnum.use_backend("numpy"):
        want = nnnum.softmax_cross_entropy(z, labels, reduction="none")
        want_ce = nnnum.cross_entropy_error(y, labels)
    np.testing.assert_allclose(np.asarray(got), want, TOL, TOL)
    np.testing.assert_allclose(float(ce), want_ce, TOL, TOL)


def test_to_host_and_device_arrays(gpu):
    """A device array comes back as a plain NumPy array of the same values; host values and
    scalars pass through; only device arrays are device arrays."""
    a = np.arange(6.0).reshape(2, 3)
    d = _dev(a.copy())
    assert gpu.is_device_array(d) and not gpu.is_device_array(a)
    for host in (gpu.to_host(d), to_host(d), backends.to_host(d)):
        assert type(host) is np.ndarray
        np.testing.assert_array_equal(host, a)
    assert gpu.to_host(a) is a and backends.to_host(2.5) == 2.5


def test_batch_budget_is_a_quarter_of_the_free_device_memory(gpu):
    """Items per batch: a quarter of the free memory (the driver's and the pool's), at least 1."""
    assert gpu.batch_budget(2**20, 0) == (FREE + POOL_FREE) // 4 // 2**20
    assert gpu.batch_budget(0, 0) == (FREE + POOL_FREE) // 4
    assert gpu.batch_budget(10**15, 0) == 1
