"""``numerical_diff``'s evaluations: an elementwise ``f`` of every element at once.

For a ``f`` that works elementwise, one call evaluates a row of the plan at
every element of ``x``: :func:`rows` is ``numerical_diff``'s engine,
:func:`values` the check of what ``f`` returns, :func:`book_scalar` and
:func:`book_array` the book's two-point difference without a plan (the same
bits as the general path).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .checks import NonFiniteError
from .steps import StepResolutionError, check_finite, remedy, where

__all__ = ["at_x", "book_array", "book_scalar", "not_finite", "rows", "values"]


def book_scalar(
    f: Callable[[Any], Any], x: float, h: float, box: Callable[[float], Any] = float
) -> float | None:
    """The book's ``numerical_diff`` at one number in Python floats: the same bits as below.

    ``f`` gets ``box(x + h)`` and ``box(x - h)``: Python floats for a Python
    ``x``, as the book's ``f`` does, NumPy float64 scalars for a NumPy ``x``,
    as on the general path. None, before ``f`` is called, where anything needs
    that path's checks (a step that rounds away or overflows, a non-finite
    ``x`` or ``h``).
    """
    if not (0.0 < h < math.inf and math.isfinite(x)):
        return None
    xp, xm = x + h, x - h
    step = xp - xm
    if not (step != 0.0 and math.isfinite(step)):
        return None
    a, b = f(box(xp)), f(box(xm))
    if a.__class__ is not float and a.__class__ is not _F64:
        a = float(values(a, (), "x + h"))
    if b.__class__ is not float and b.__class__ is not _F64:
        b = float(values(b, (), "x - h"))
    d = (float(a) - float(b)) / step
    if not math.isfinite(d):
        not_finite(np.asarray(x), np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return d


_F64 = np.float64


def not_finite(xa: np.ndarray, fp: np.ndarray, fm: np.ndarray) -> None:
    """The error for a non-finite central difference, naming the first element: one policy.

    ``numerical_diff`` refuses a non-finite ``x`` (ValueError) and NaN or inf
    from ``f`` (:class:`NonFiniteError`), as ``numerical_gradient`` does.
    """
    flat = xa.reshape(-1)
    check_finite(flat, xa.shape)
    for values, at in ((fp, "+ h"), (fm, "- h")):
        bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
        if bad.size:
            i = int(bad[0])
            raise NonFiniteError(
                f"f returned {values.reshape(-1)[i]!r} at {where(xa.shape, i)} {at}; "
                "the derivative is undefined there"
            )
    raise NonFiniteError("f(x + h) - f(x - h) overflows: |f| is too large")


def book_array(f: Callable[[Any], Any], xa: np.ndarray, hf: float) -> Any:
    """The book's central difference of the elementwise ``f`` at the float array ``xa``.

    ``(f(x + h) - f(x - h)) / ((x + h) - (x - h))``; a step that rounds away
    or overflows is a :class:`StepResolutionError` naming the element.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        xp_, xm_ = xa + hf, xa - hf
        step = xp_ - xm_
    if np.any(step == 0):
        i = int(np.flatnonzero(step.reshape(-1) == 0)[0])
        raise StepResolutionError(
            f"h={hf!r} is below the resolution of {xa.dtype} at {where(xa.shape, i)} = "
            f"{float(xa.reshape(-1)[i])!r}: x + h == x - h. {remedy(xa.dtype)}"
        )
    if not np.isfinite(step).all():
        i = int(np.flatnonzero(~np.isfinite(step.reshape(-1)))[0])
        raise StepResolutionError(
            f"h={hf!r} is too large at {where(xa.shape, i)} = {float(xa.reshape(-1)[i])!r}: "
            "x + h overflows. Use a smaller h"
        )
    fp = values(f(xp_), xa.shape, "x + h")
    fm = values(f(xm_), xa.shape, "x - h")
    with np.errstate(invalid="ignore", over="ignore"):
        d = (fp - fm) / step  # NaN where x or f(x +- h) is not finite
    if not np.isfinite(d).all():
        not_finite(xa, fp, fm)
    return float(d) if np.ndim(d) == 0 else d


def rows(
    f: Callable[[Any], Any], shape: tuple[int, ...], points: np.ndarray, labels: list[str]
) -> np.ndarray:
    """``F[r] = f(points[r])`` (flat), one call of the elementwise ``f`` per row of the plan."""
    out = np.empty(points.shape)
    for r in range(points.shape[0]):
        v = values(f(points[r].reshape(shape)), shape, f"x {labels[r]}")
        out[r] = v.reshape(-1)
    return out


def at_x(f: Callable[[Any], Any], xa: np.ndarray) -> Any:
    """``f(x)`` (flat), for the stencils and estimates that need it."""
    return values(f(xa), xa.shape, "x").reshape(-1)


def values(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``f``'s values at an array of points, checked: real numbers, one per element of x."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(
            f"f must return real numbers (one per element of x); it returned "
            f"{type(value).__name__} {value!r} at {where}"
        )
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"f must return real numbers; it returned dtype {arr.dtype} at {where}")
    if arr.shape != shape:
        raise ValueError(
            f"f must work elementwise: it returned shape {arr.shape} for x of shape {shape} "
            f"at {where} (for the gradient of a scalar f of an array, use numerical_gradient)"
        )
    return np.broadcast_to(arr.astype(np.float64), shape)
