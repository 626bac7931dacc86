"""The guarded imports of the GPU path: CuPy (the arrays) and numba-cuda (the kernels).

Nothing here imports CuPy or numba-cuda at module import: :func:`require_cupy`
and :func:`require_numba_cuda` do, and raise a clear
:class:`BackendUnavailableError` (keeping the original error as its cause)
when CuPy is missing or sees no CUDA device, or numba-cuda is missing.  nnnum
never falls back to the CPU silently: a silent fallback would make benchmarks
lie.  The kernels themselves are in :mod:`._cuda_kernels`.
"""

from __future__ import annotations

from typing import Any

from ._config import BackendUnavailableError

INSTALL_HINT = (
    "install it with `pip install nnnum[gpu]` (CUDA 12) or the CuPy wheel that matches "
    "your CUDA toolkit, e.g. `pip install cupy-cuda12x` or `pip install cupy-cuda11x`"
)
NUMBA_CUDA_HINT = (
    "install it with `pip install nnnum[gpu]` (CUDA 12), or `pip install numba-cuda[cu12]` "
    "(`numba-cuda[cu13]` for CUDA 13)"
)


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


def require_numba_cuda() -> tuple[Any, Any]:
    """Import numba-cuda and the kernels; return ``(numba.cuda, nnnum.backends._cuda_kernels)``."""
    try:
        from numba import cuda

        from . import _cuda_kernels
    except Exception as exc:  # numba-cuda missing, or a broken CUDA install raising at import
        raise BackendUnavailableError(
            "NNNUM_BACKEND=cupy runs its kernels with numba-cuda, which could not be imported "
            f"({exc!r}); " + NUMBA_CUDA_HINT
        ) from exc
    return cuda, _cuda_kernels
