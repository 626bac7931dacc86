"""Backend registry: name -> implementation module, checked against one contract.

Each backend module exports the names in :data:`REQUIRED`: ``xp`` (its array
namespace), what it is (``DEVICE``: its arrays live in device memory; ``JIT``:
it runs Numba kernels), the device questions (``to_host``: a NumPy array from
one of its arrays; ``is_device_array``; ``batch_budget``: how many items of a
size fit in one batch), and the kernels. No module outside this package
compares backend names or array types: it asks these.  They receive
validated, ``(M, K)``-shaped inputs from the public wrappers and return arrays
of that namespace (losses: per-row arrays or a scalar).  A backend missing a
name fails loudly when first loaded.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._config import BACKENDS, BackendUnavailableError, get_backend, set_backend, use_backend

REQUIRED: tuple[str, ...] = (
    "xp",
    "DEVICE",
    "JIT",
    "to_host",
    "is_device_array",
    "batch_budget",
    "sigmoid",
    "relu",
    "step_function",
    "softmax",
    "mean_squared_error",
    "cross_entropy_rows",
    "softmax_cross_entropy_rows",
    "batched_label_loss",
)

_MODULES = {
    "numba": "nnnum.backends.numba",
    "numpy": "nnnum.backends.numpy",
    "cupy": "nnnum.backends.cupy",
}

__all__ = [
    "BACKENDS",
    "REQUIRED",
    "BackendUnavailableError",
    "current",
    "get_backend",
    "is_device_array",
    "load",
    "set_backend",
    "to_host",
    "use_backend",
]
_loaded: dict[str, ModuleType] = {}


def load(name: str) -> ModuleType:
    """Import and contract-check the module of backend ``name``."""
    mod = _loaded.get(name)
    if mod is None:
        mod = importlib.import_module(_MODULES[name])
        missing = [attr for attr in REQUIRED if not hasattr(mod, attr)]
        if missing:
            raise ImportError(f"backend {name!r} does not provide {', '.join(missing)}")
        _loaded[name] = mod
    return mod


def current() -> ModuleType:
    """The module of the active backend (see :func:`nnnum.get_backend`)."""
    return load(get_backend())


def is_device_array(a: object) -> bool:
    """True for an array in device memory (CuPy), whatever the active backend.

    Never imports CuPy.
    """
    return hasattr(a, "__cuda_array_interface__")


def to_host(a: object) -> object:
    """A NumPy array (or scalar) from a value of any backend: one device-to-host copy for CuPy."""
    if is_device_array(a):
        return load("cupy").to_host(a)
    return a
