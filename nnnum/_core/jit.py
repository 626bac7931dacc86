"""The one place where Numba options are set.

Every kernel in nnnum is compiled through :func:`kernel`, so that ``fastmath``,
``error_model`` and caching are decided here, on purpose, and nowhere else.

* ``fastmath`` is off by default: softmax and cross-entropy rely on NaN/Inf
  semantics and on exact rounding.  A kernel may opt into :data:`CONTRACT`
  (fused multiply-add only), which keeps NaN/Inf checks valid.
* ``error_model="numpy"``: division by zero gives inf/nan like NumPy instead
  of raising, so kernels agree with the NumPy reference backend.
* ``cache=True`` for the leaf kernels with fixed signatures; kernels that take a
  user function as argument are compiled per function and not cached.
* ``nogil=True``: kernels release the GIL, so Python threads can call them
  concurrently (use a thread-safe threading layer, ``omp`` or ``tbb``).
"""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numba
import numpy as np

__all__ = ["kernel", "serial_and_parallel", "jit", "CONTRACT", "call_kernel", "is_jitted"]

#: Numba's JIT is off (``NUMBA_DISABLE_JIT=1``, the coverage run; read once, as Numba does):
#: every kernel runs as Python (:func:`_as_compiled`), and the intrinsics as their Python twins.
JIT_OFF: bool = bool(getattr(numba.config, "DISABLE_JIT", 0))
#: Kernels on at least this many elements (or outputs) run their parallel variant; below it
#: thread wake-up costs more than it saves.
PARALLEL_MIN_SIZE = 1 << 16

#: The only fastmath flag any nnnum kernel uses: allow fused multiply-add.
CONTRACT: frozenset[str] = frozenset({"contract"})


def kernel(
    func: Callable[..., Any] | None = None,
    *,
    parallel: bool = False,
    cache: bool = True,
    fastmath: frozenset[str] | bool = False,
    inline: Literal["never", "always"] = "never",
) -> Any:
    """Compile ``func`` with nnnum's Numba options (private kernels)."""

    def wrap(f: Callable[..., Any]) -> Any:
        fm: Any = set(fastmath) if isinstance(fastmath, frozenset) else fastmath
        options = dict(
            parallel=parallel, fastmath=fm, error_model="numpy", nogil=True, inline=inline
        )
        if JIT_OFF:
            return _as_compiled(f)
        if cache and _cache_usable:
            try:
                return numba.njit(f, cache=True, **options)
            except RuntimeError as exc:  # "cannot cache function ...: no locator available"
                if "cache" not in str(exc):
                    raise
                _disable_cache(exc)
        return numba.njit(f, cache=False, **options)

    return wrap if func is None else wrap(func)


def _as_compiled(f: Callable[..., Any]) -> Callable[..., Any]:
    """A kernel run as Python (``NUMBA_DISABLE_JIT=1``, the coverage run), warning as compiled.

    Compiled code does IEEE arithmetic on inf and NaN without a word; the same
    body run as Python on NumPy scalars warns (``invalid value encountered``)
    where nothing is wrong, so it runs with NumPy's warnings off, as compiled.
    """

    @functools.wraps(f)
    def run(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            return f(*args)

    return run


#: False once Numba found no writable cache location: kernels then compile in memory only.
_cache_usable = True


def cache_usable() -> bool:
    """False once Numba found no writable cache location (kernels compile in memory only)."""
    return _cache_usable


def _disable_cache(exc: Exception) -> None:
    """No cache location is writable (read-only install, no writable home): compile in memory."""
    global _cache_usable
    _cache_usable = False
    warnings.warn(
        f"nnnum: Numba cannot cache compiled kernels here ({exc}); they are compiled in memory "
        "in every process. Set NUMBA_CACHE_DIR to a writable folder to cache them",
        RuntimeWarning,
        stacklevel=4,
    )


def call_kernel(kern: Any, *args: Any) -> Any:
    """Call a compiled kernel; an exception raised inside it comes back as itself.

    A parallel kernel whose body raised (a user's jitted ``f``), or that was
    interrupted by Ctrl-C, returns to CPython with the exception set, which
    CPython reports as ``SystemError: ... returned a result with an exception
    set`` and the real exception as its cause: re-raise that cause.
    """
    try:
        return kern(*args)
    except SystemError as exc:
        cause = exc.__cause__
        if isinstance(cause, BaseException):
            raise cause.with_traceback(cause.__traceback__) from None
        raise


def serial_and_parallel(
    func: Callable[..., Any], *, fastmath: frozenset[str] | bool = False
) -> tuple[Any, Any]:
    """(serial, parallel) kernels from one ``prange`` body: bit-identical results.

    Each variant is compiled from a copy of ``func`` with its own ``__qualname__``:
    Numba names its on-disk cache after the qualified name, and two variants of
    one function would otherwise overwrite each other's cache entries.
    """
    out = []
    for suffix, parallel in (("_serial", False), ("_parallel", True)):
        clone = types.FunctionType(
            func.__code__,
            func.__globals__,
            func.__name__ + suffix,
            func.__defaults__,
            func.__closure__,
        )
        clone.__qualname__ = func.__qualname__ + suffix
        clone.__doc__ = func.__doc__
        clone.__module__ = func.__module__
        out.append(kernel(clone, parallel=parallel, fastmath=fastmath))
    return out[0], out[1]


def jit(func: Callable[..., Any]) -> Any:
    """Compile a user function (a loss, an objective) for nnnum's fast paths.

    Functions compiled this way (or with ``numba.njit`` directly) make
    :func:`nnnum.numerical_gradient` run its parallel Numba kernel.

    Parameters
    ----------
    func : callable
        A function of one array returning a float, in the subset of Python
        and NumPy that Numba compiles.

    Returns
    -------
    numba dispatcher
        Callable from Python and from other jitted code.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> @nnnum.jit
    ... def f(x):
    ...     return np.sum(x ** 2)
    >>> np.allclose(nnnum.numerical_gradient(f, np.array([3.0, 4.0])), [6.0, 8.0])
    True
    """
    return numba.njit(func, cache=False, fastmath=False, error_model="numpy", nogil=True)


#: Callables that are never dispatchers, answered without importing Numba's registry.
_PLAIN_CALLABLES = frozenset(
    {types.FunctionType, types.MethodType, types.BuiltinFunctionType, functools.partial}
)


@functools.cache
def _cpu_dispatcher() -> type:
    from numba.core.registry import CPUDispatcher

    return CPUDispatcher


def is_jitted(func: object) -> bool:
    """True for a Numba CPU dispatcher in nopython mode that a kernel can call.

    An object-mode function (``numba.jit(forceobj=True)``) cannot be called
    from a nopython kernel: it is treated as a plain Python function.
    """
    if type(func) in _PLAIN_CALLABLES or not isinstance(func, _cpu_dispatcher()):
        return False
    opts = getattr(func, "targetoptions", {})
    return not (opts.get("forceobj", False) or opts.get("nopython", True) is False)


def is_parallel(func: object) -> bool:
    """True for a jitted function compiled with ``parallel=True`` (its own thread pool)."""
    return bool(getattr(func, "targetoptions", {}).get("parallel", False))
