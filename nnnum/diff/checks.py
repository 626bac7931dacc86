"""Input checks shared by every differentiation entry point (host side, before any engine)."""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.regions import has_internal_overlap

__all__ = [
    "NonFiniteError",
    "check_x",
    "check_real_dtype",
    "scalar_result",
    "require_ndim",
]


class NonFiniteError(FloatingPointError):
    """``f`` returned NaN or inf where a derivative needs its values (the message names where).

    A :class:`FloatingPointError`, so code catching that still catches it; an
    exception that ``f`` raises itself is never turned into this one.
    """


def scalar_result(value: Any, where: str | Callable[[], str]) -> float:
    """``f``'s return value as a float, or a clear error saying what is wrong (and where)."""
    if type(value) is float or type(value) is np.float64:
        return float(value)
    if callable(where):
        where = where()
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"f must return a real scalar; it returned a bool at {where}")
    if isinstance(value, numbers.Real):
        return float(value)
    if value is None:
        raise TypeError(f"f must return a real scalar; it returned None at {where}")
    arr = np.asarray(value) if not hasattr(value, "get") else np.asarray(value.get())
    if arr.ndim != 0:
        if arr.size == 1:
            hint = f"; return the number itself, e.g. float(value[{', '.join('0' * arr.ndim)}])"
        elif arr.ndim == 1:
            hint = "; for an f that returns one value per row of a 2-D x, use numerical_gradient_2d"
        else:
            hint = ""
        raise ValueError(
            f"f must return a scalar; it returned an array of shape {arr.shape} at {where}{hint}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"f must return a real scalar; it returned dtype {arr.dtype} at {where}")
    return float(arr)


def check_x(x: Any, who: str = "numerical_gradient") -> tuple[np.ndarray, Any]:
    """The array to perturb in place and the object to hand to ``f``.

    Both are the caller's own array (an ndarray subclass such as ``np.matrix``
    is perturbed through a plain-ndarray view of the same memory, and ``f``
    still receives the caller's object); a list becomes a float64 copy.
    """
    if hasattr(x, "__cuda_array_interface__"):
        raise TypeError(
            "x is a GPU array: use NNNUM_BACKEND=cupy and a batched f "
            "(numerical_gradient(f, x, batched=True))"
        )
    if type(x) is np.ndarray and (x.dtype == np.float64 or x.dtype == np.float32):
        if x.size <= 1 or (x.flags.c_contiguous and x.flags.writeable):
            return x, x  # the common case, checked in a few hundred nanoseconds
    if not isinstance(x, np.ndarray):
        if x is None:
            raise TypeError(f"x is None; {who} needs a float array of parameters")
        arr = np.asarray(x)
        check_real_dtype(arr.dtype, who)
        arr = arr.astype(np.float64)
        return arr, arr
    dt = x.dtype
    check_real_dtype(dt, who)
    if not np.issubdtype(dt, np.floating):
        raise TypeError(
            f"x has dtype {dt}; {who} perturbs x in place by h, which an "
            f"integer array cannot hold (the book's code silently returns a wrong gradient "
            f"here). Pass x.astype(np.float64)"
        )
    if dt not in (np.float32, np.float64):
        raise TypeError(f"x has dtype {dt}; use float32 or float64 (x.astype(np.float64))")
    base = x if type(x) is np.ndarray else x.view(np.ndarray)
    strides = zip(base.strides, base.shape, strict=True)
    if base.size > 1 and any(s == 0 and n > 1 for s, n in strides):
        raise ValueError(
            "x is a broadcast view (a stride of 0): perturbing one element would change "
            "several. Pass a real array, e.g. x.copy()"
        )
    if has_internal_overlap(base):
        raise ValueError(
            "x has elements that share memory (an overlapping view, e.g. from "
            "sliding_window_view): perturbing one element would change several. Pass x.copy()"
        )
    if not base.flags.writeable:
        raise ValueError(
            f"x is read-only; {who} perturbs x in place (so that an f that reads "
            "the parameters it closes over sees the change). Pass a writable copy, x.copy()"
        )
    return base, x


def all_finite(a: np.ndarray) -> bool:
    """Whether every value of ``a`` is finite: one sum where it is finite, a mask only otherwise.

    A finite sum has no NaN or inf in it; an inf or NaN sum may be an overflow of
    finite values, which the mask then tells apart.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(a, axis=None)):
            return True
    return bool(np.isfinite(a).all())


def check_real_dtype(dt: np.dtype, who: str) -> None:
    """TypeError unless ``dt`` is a real number (or bool) dtype; ``who`` names the caller."""
    if dt.kind == "f":  # the common case, without issubdtype's cost
        return
    if np.issubdtype(dt, np.complexfloating):
        raise TypeError(
            f"x is complex ({dt}); {who} differentiates a real f of real parameters: "
            "pass the real and imaginary parts as separate real parameters"
        )
    if not (np.issubdtype(dt, np.number) or dt == np.bool_):
        raise TypeError(f"x has dtype {dt}; {who} needs a float32 or float64 array")


def require_ndim(x: Any, ndim: int, name: str) -> None:
    """ValueError unless ``x`` has ``ndim`` dimensions; ``name`` is the function asking."""
    got = np.ndim(x)
    if got != ndim:
        raise ValueError(
            f"{name} takes a {ndim}-D x, got {got}-D with shape {np.shape(x)}; "
            "numerical_gradient takes any shape"
        )
