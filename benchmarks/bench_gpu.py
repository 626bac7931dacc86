"""GPU backend benchmarks: skipped (NotImplementedError in setup) without CuPy and a device."""

from __future__ import annotations

import numpy as np

from .common import mnist_batch, nnnum


def _cupy():
    try:
        from nnnum.backends._gpu_imports import require_cupy

        return require_cupy()
    except Exception as exc:  # no CuPy, or no device
        raise NotImplementedError(f"no GPU: {exc}") from exc


class GpuSoftmaxCrossEntropy:
    params = (["float32", "float64"], [1_000_000, 10_000_000])
    param_names = ["dtype", "rows"]

    def setup(self, dtype: str, rows: int) -> None:
        self.cp = _cupy()
        self.z = self.cp.random.standard_normal((rows, 10), dtype=dtype)
        self.t = self.cp.asarray(np.random.default_rng(0).integers(0, 10, rows))
        self.ctx = nnnum.use_backend("cupy")
        self.ctx.__enter__()
        nnnum.softmax_cross_entropy(self.z, self.t)
        self.cp.cuda.Device().synchronize()

    def teardown(self, dtype: str, rows: int) -> None:
        self.ctx.__exit__(None, None, None)

    def time_fused(self, dtype: str, rows: int) -> None:
        nnnum.softmax_cross_entropy(self.z, self.t)
        self.cp.cuda.Device().synchronize()

    def time_copy_floor(self, dtype: str, rows: int) -> None:
        self.z.copy()
        self.cp.cuda.Device().synchronize()


class GpuNetGradient:
    params = [100, 1000]
    param_names = ["batch"]

    def setup(self, batch: int) -> None:
        self.cp = _cupy()
        self.ctx = nnnum.use_backend("cupy")
        self.ctx.__enter__()
        x, t, _ = mnist_batch(batch)
        self.net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        self.x, self.t = self.cp.asarray(x), self.cp.asarray(t)
        self.net.numerical_gradient(self.x, self.t)
        self.cp.cuda.Device().synchronize()

    def teardown(self, batch: int) -> None:
        self.ctx.__exit__(None, None, None)

    def time_numerical_gradient(self, batch: int) -> None:
        self.net.numerical_gradient(self.x, self.t)
        self.cp.cuda.Device().synchronize()
