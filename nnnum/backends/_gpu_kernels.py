"""CuPy kernels and the guarded CuPy import.

Nothing here imports CuPy at module import: :func:`require_cupy` does, and
raises a clear :class:`BackendUnavailableError` (keeping the original error as
its cause) when CuPy is missing or sees no CUDA device.  nnnum never falls
back to the CPU silently: a silent fallback would make benchmarks lie.
"""

from __future__ import annotations

from functools import cache
from typing import Any

INSTALL_HINT = (
    "install it with `pip install nnnum[gpu]` (CUDA 12) or the CuPy wheel that matches "
    "your CUDA toolkit, e.g. `pip install cupy-cuda12x` or `pip install cupy-cuda11x`"
)


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run on this machine."""


def require_cupy() -> Any:
    """Import CuPy and check that it sees a CUDA device; return the module."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a broken CUDA install raising at import
        raise BackendUnavailableError(
            f"NNNUM_BACKEND=cupy needs CuPy, which could not be imported ({exc!r}); " + INSTALL_HINT
        ) from exc
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:
        raise BackendUnavailableError(
            f"CuPy is installed but no CUDA device is usable ({exc!r}); check the NVIDIA "
            "driver and CUDA_VISIBLE_DEVICES, or use NNNUM_BACKEND=numba on the CPU"
        ) from exc
    if count == 0:
        raise BackendUnavailableError(
            "CuPy is installed but sees no CUDA device; use NNNUM_BACKEND=numba on the CPU"
        )
    return cupy


def device_info() -> dict[str, Any]:
    """What CuPy can see, for ``nnnum info``: never raises."""
    try:
        import cupy
    except Exception as exc:
        return {"cupy": None, "error": f"CuPy not importable: {exc!r}"}
    info: dict[str, Any] = {"cupy": cupy.__version__}
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        info["devices"] = count
        if count:
            props = cupy.cuda.runtime.getDeviceProperties(0)
            free, total = cupy.cuda.runtime.memGetInfo()
            info["device"] = (
                props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            )
            info["memory_total_gib"] = round(total / 2**30, 1)
            info["memory_free_gib"] = round(free / 2**30, 1)
    except Exception as exc:
        info["error"] = f"no usable CUDA device: {exc!r}"
    return info


_SOFTMAX_CE_SRC = r"""
extern "C" __global__ void softmax_ce_rows_{name}(
    const {T}* __restrict__ z, const long long* __restrict__ labels, double* __restrict__ rows,
    long long n_rows, long long n_labels, int k, double delta)
{
    long long r = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (r >= n_rows) return;
    const {T}* zr = z + r * k;
    double m = (double)zr[0];
    for (int j = 1; j < k; ++j) {
        double v = (double)zr[j];
        if (v > m || v != v) m = v;
    }
    double s = 0.0;
    for (int j = 0; j < k; ++j) s += exp((double)zr[j] - m);
    double lse = log(s) + m;
    double zt = (double)zr[labels[r % n_labels]];
    rows[r] = (delta == 0.0) ? (lse - zt) : -log(exp(zt - lse) + delta);
}
"""


@cache
def _softmax_ce_kernel(dtype_name: str) -> Any:
    cupy = require_cupy()
    ctype = {"float32": "float", "float64": "double"}[dtype_name]
    src = _SOFTMAX_CE_SRC.replace("{name}", dtype_name).replace("{T}", ctype)
    return cupy.RawKernel(src, f"softmax_ce_rows_{dtype_name}")


def softmax_ce_rows(z: Any, labels: Any, delta: float = 0.0) -> Any:
    """Fused per-row loss on the device, reading each logit once.

    ``z`` has shape ``(..., N, K)`` (any leading batch shape, C-contiguous),
    ``labels`` shape ``(N,)``: row ``r`` uses ``labels[r % N]``.  Returns the
    float64 per-row losses with shape ``z.shape[:-1]``.
    """
    cupy = require_cupy()
    if z.dtype.name not in ("float32", "float64"):
        z = z.astype(cupy.float64)
    z = cupy.ascontiguousarray(z)
    labels = cupy.ascontiguousarray(labels.astype(cupy.int64, copy=False))
    k = z.shape[-1]
    n_rows = z.size // k
    rows = cupy.empty(z.shape[:-1], dtype=cupy.float64)
    threads = 256
    blocks = (n_rows + threads - 1) // threads
    if n_rows:
        _softmax_ce_kernel(z.dtype.name)(
            (blocks,),
            (threads,),
            (
                z,
                labels,
                rows,
                cupy.int64(n_rows),
                cupy.int64(labels.size),
                cupy.int32(k),
                cupy.float64(delta),
            ),
        )
    return rows
