"""Backend selection: ``NNNUM_BACKEND`` read once, overridable at run time.

The environment variable is read when this module is imported and never
again; :func:`set_backend` and the :func:`use_backend` context manager override
it in code.  An unknown name is an error that lists the valid ones: a typo
must never silently run (or benchmark) another backend.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator

__all__ = ["BACKENDS", "BackendUnavailableError", "get_backend", "set_backend", "use_backend"]


class BackendUnavailableError(RuntimeError):
    """The requested backend cannot run on this machine (the message says what is missing)."""


#: Every backend name nnnum knows, the default first.
BACKENDS: tuple[str, ...] = ("numba", "numpy", "cupy")
DEFAULT_BACKEND = "numba"

_ENV_VALUE: str | None = os.environ.get("NNNUM_BACKEND")
_global_choice: str | None = None
_context_choice: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nnnum_backend", default=None
)


def _check_name(name: object, source: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"backend name must be a str, not {type(name).__name__}")
    key = name.strip().lower()
    if key not in BACKENDS:
        valid = ", ".join(repr(b) for b in BACKENDS)
        raise ValueError(f"{source}={name!r} is not a backend; valid values: {valid}")
    return key


def get_backend() -> str:
    """Return the name of the active backend.

    Resolution order: the innermost :func:`use_backend` block, then
    :func:`set_backend`, then ``NNNUM_BACKEND`` (read once at import), then
    ``"numba"``.

    Returns
    -------
    str
        One of :data:`BACKENDS`.

    Raises
    ------
    ValueError
        If ``NNNUM_BACKEND`` holds an unknown name.

    Examples
    --------
    >>> import nnnum
    >>> with nnnum.use_backend("numpy"):
    ...     nnnum.get_backend()
    'numpy'
    """
    choice = _context_choice.get()
    if choice is not None:
        return choice
    if _global_choice is not None:
        return _global_choice
    if _ENV_VALUE is None or _ENV_VALUE.strip() == "":
        return DEFAULT_BACKEND
    return _check_name(_ENV_VALUE, "NNNUM_BACKEND")


def set_backend(name: str) -> None:
    """Make ``name`` the backend for the rest of the process.

    Parameters
    ----------
    name : {"numba", "numpy", "cupy"}
        Backend to use. Selecting ``"cupy"`` checks at once that CuPy and a
        CUDA device are usable and raises if not; nnnum never falls back.

    Examples
    --------
    >>> import nnnum
    >>> nnnum.set_backend("numpy"); nnnum.get_backend()
    'numpy'
    >>> nnnum.set_backend("numba")
    """
    global _global_choice
    key = _check_name(name, "backend")
    _require_usable(key)
    _global_choice = key


@contextlib.contextmanager
def use_backend(name: str) -> Iterator[str]:
    """Use ``name`` as the backend inside a ``with`` block (thread- and task-local).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> with nnnum.use_backend("numpy"):
    ...     float(nnnum.mean_squared_error(np.array([1.0, 2.0]), np.array([1.0, 0.0])))
    2.0
    """
    key = _check_name(name, "backend")
    _require_usable(key)
    token = _context_choice.set(key)
    try:
        yield key
    finally:
        _context_choice.reset(token)


def _require_usable(key: str) -> None:
    if key == "cupy":
        from . import _gpu_imports

        _gpu_imports.require_cupy()
        _gpu_imports.require_numba_cuda()  # the kernels the backend launches
