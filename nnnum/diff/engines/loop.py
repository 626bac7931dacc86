"""The in-place Python loop (the book's semantics), restored bit for bit even when ``f`` raises."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..._core.regions import REGIONS
from ..checks import scalar_result
from ..finish import raise_not_finite2
from ..perturb import Perturbations, values_of
from ..steps import where
from .base import Options, Target

__all__ = [
    "accepts",
    "prepare",
    "evaluate",
    "f_at_x",
    "evaluate_sets",
    "in_place",
    "central2",
    "central2_floats",
]

#: Elements whose perturbed values are read into Python floats at a time: the loop runs on
#: Python floats (no NumPy scalar per step) in a bounded amount of memory.
_BLOCK = 2048

_FLOAT64 = np.float64
_F64 = np.dtype(np.float64)


def float_view(a: np.ndarray) -> Any:
    """A memoryview of the C-ordered float array ``a``: item writes of Python floats, in place."""
    return memoryview(a)  # type: ignore[arg-type]  # ndarray has the buffer protocol


_isfinite = math.isfinite


# ------------------------------------------------------------------ the Engine protocol
def accepts(f: Any, target: Target, options: Options) -> bool:
    """Every ``f``: the engine of last resort (the book's semantics)."""
    return True


def prepare(f: Any, target: Target, options: Options) -> _Held:
    """``x``'s memory held while the plan runs: ``f`` perturbs ``x`` itself, no one else does."""
    return _Held(target)


class _Held:
    """The ``with`` block of :func:`prepare` (a plain class: cheaper than a generator)."""

    __slots__ = ("_target", "_hold")

    def __init__(self, target: Target) -> None:
        self._target = target
        self._hold = REGIONS.hold(target.arr)

    def __enter__(self) -> Target:
        self._hold.__enter__()
        try:
            arr = self._target.arr
            return self._target.ready(arr.reshape(-1) if arr.flags.c_contiguous else arr.ravel())
        except BaseException:
            self._hold.__exit__()
            raise

    def __exit__(self, *exc: object) -> None:
        self._hold.__exit__(*exc)


def evaluate(
    f: Any, target: Target, points: np.ndarray, labels: list[str], options: Options
) -> np.ndarray:
    """:func:`in_place` on the caller's ``x``, ``f`` called with the caller's object."""
    return in_place(f, target.arr, target.fx, points, labels)


def f_at_x(f: Any, target: Target, options: Options) -> float:
    """``f`` of the caller's object."""
    return scalar_result(f(target.fx), "x")


# ------------------------------------------------------------------ the loops
def in_place(
    f: Callable[[Any], Any], x: np.ndarray, fx: Any, points: np.ndarray, row_labels: list[str]
) -> np.ndarray:
    """``F[r, i] = f(x with x_i = points[r, i])``, perturbing ``x`` in place.

    ``f`` is called with ``fx``: the caller's own object, whose memory ``x``
    is (so an ``f`` that ignores its argument and reads the parameters it
    closes over sees each perturbation). Element by element, all rows of one
    element before the next; ``x[i]`` is restored exactly after each element,
    also when ``f`` raises. ``row_labels[r]`` says what row ``r`` adds to
    ``x_i`` (``"+ h"``), for error messages.
    """
    rows, n = points.shape
    out = np.empty((rows, n))
    shape = x.shape
    if not (x.ndim and x.flags.c_contiguous):
        _evaluate_nd(f, x, fx, points, row_labels, out)
        return out
    if x.dtype.byteorder not in "=|" or x.dtype.kind != "f":
        _evaluate_nd(f, x, fx, points, row_labels, out)
        return out
    # a memoryview of x's own memory: item writes of Python floats, no NumPy scalar per step
    # (Python floats hold every float32 and float64 value exactly: x_i takes the same bits)
    mv = float_view(x.reshape(-1))
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        block = points[:, lo:hi].tolist()
        results = [[0.0] * (hi - lo) for _ in range(rows)]
        _run_block(f, fx, mv, lo, block, results, shape, row_labels)
        out[:, lo:hi] = results
    return out


def central2(f: Callable[[Any], Any], x: np.ndarray, h: float) -> np.ndarray | None:
    """The book's default call on a writable float ``x`` (any strides), block by block.

    The same bits as the general path (``(f(x + h) - f(x - h)) / ((x + h) - (x - h))``
    in float64, cast to ``x``'s dtype), holding only the gradient and one
    block of points beyond ``x`` (and a copy of a strided ``x``'s values).
    Returns None, before calling ``f``, where a step rounds: the caller takes
    the general path, which warns or raises.
    A non-finite value of ``f`` raises :class:`~nnnum.diff.checks.NonFiniteError`
    naming the element, as the general path does.
    """
    contiguous = x.flags.c_contiguous
    dt = x.dtype
    if contiguous and (dt is _F64 or dt == np.float64) and x.size <= _BLOCK:
        return _central2_small(f, x, h)  # the chapter's examples: Python floats throughout
    flat = x.reshape(-1) if contiguous else x.ravel()  # x's values in C order
    n = flat.size
    tol, two_h = 0.02 * h, 2.0 * h
    hd = x.dtype.type(h)
    with np.errstate(over="ignore", invalid="ignore"):
        for lo in range(0, n, 16 * _BLOCK):  # every step checked before f is called
            blk = flat[lo : lo + 16 * _BLOCK]
            step = (blk + hd).astype(np.float64) - (blk - hd).astype(np.float64)
            if not bool((np.abs(step - two_h) <= tol).all()):  # NaN fails it too
                return None
    grad = np.empty(n, dtype=x.dtype)
    # a strided memoryview writes x's elements by their multi-indices
    mv = float_view(flat if contiguous else x)
    labels = ["+ h", "- h"]
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        index: Any = range(lo, hi)
        if not contiguous:
            index = list(zip(*(a.tolist() for a in np.unravel_index(index, x.shape)), strict=True))
        with np.errstate(over="ignore", invalid="ignore"):
            xp, xm = flat[lo:hi] + hd, flat[lo:hi] - hd
            step = xp.astype(np.float64) - xm.astype(np.float64)
        results = [[0.0] * (hi - lo), [0.0] * (hi - lo)]
        _run_block(f, x, mv, lo, [xp.tolist(), xm.tolist()], results, x.shape, labels, index)
        with np.errstate(over="ignore", invalid="ignore"):
            d = (np.array(results[0]) - np.array(results[1])) / step
        if not bool(np.isfinite(d).all()):
            raise_not_finite2(np.array(results), d, x.shape, lo)
        grad[lo:hi] = d
    return grad.reshape(x.shape)


def _central2_small(f: Callable[[Any], Any], x: np.ndarray, h: float) -> np.ndarray | None:
    """:func:`central2` for a C-ordered float64 ``x`` of up to one block, in Python floats.

    No NumPy temporaries: the chapter's examples (two elements) pay only for ``f``.
    """
    flat = x if x.ndim == 1 else x.reshape(-1)
    d = central2_floats(f, x, float_view(flat), flat.tolist(), h)
    if d is None:
        return None
    out = np.array(d)
    return out if x.ndim == 1 else out.reshape(x.shape)


def central2_floats(
    f: Callable[[Any], Any], x: np.ndarray, mv: Any, xs: list[float], h: float
) -> list[float] | None:
    """The book's central difference of ``f`` at the float64 ``x``, as Python floats.

    ``mv`` is ``x``'s flat memory, ``xs`` its values. None, before ``f`` is
    called, where a step rounds. Python's float arithmetic is NumPy's float64
    arithmetic (IEEE 754, round to nearest): the same bits as the general
    path. Raises :class:`~nnnum.diff.checks.NonFiniteError` as it does.
    The chapter's examples are a few elements: this loop is the whole cost
    of a call beyond ``f`` itself, so it is written out (no block, no
    comprehension; ``x`` restored even when ``f`` raises).
    """
    two_h, tol = 2.0 * h, 0.02 * h
    n = len(xs)
    steps = [0.0] * n
    for k in range(n):
        v = xs[k]
        s = (v + h) - (v - h)
        if not abs(s - two_h) <= tol:  # NaN fails it too
            return None
        steps[k] = s
    fp, fm, d = [0.0] * n, [0.0] * n, [0.0] * n
    finite = True
    k = -1
    try:
        for k in range(n):
            v = xs[k]
            mv[k] = v + h
            a = f(x)
            mv[k] = v - h
            b = f(x)
            mv[k] = v
            # Python floats, the same bits (NumPy scalars would warn where a difference overflows)
            if a.__class__ is not float:
                a = float(a) if a.__class__ is _FLOAT64 else scalar_result(a, _label(x, k, "+"))
            if b.__class__ is not float:
                b = float(b) if b.__class__ is _FLOAT64 else scalar_result(b, _label(x, k, "-"))
            fp[k], fm[k] = a, b
            g = (a - b) / steps[k]
            d[k] = g
            finite = finite and _isfinite(g)
    finally:
        if k >= 0:
            mv[k] = xs[k]
    if not finite:
        raise_not_finite2(np.array([fp, fm]), np.array(d), x.shape)
    return d


def _label(x: np.ndarray, k: int, sign: str) -> str:
    """``"x[1, 2] + h"``: element ``k`` of ``x`` (flat, C order) and the side of its step."""
    return f"{where(x.shape, k)} {sign} h"


def _run_block(
    f: Callable[[Any], Any],
    fx: Any,
    mv: Any,
    lo: int,
    block: list[list[float]],
    results: list[list[float]],
    shape: tuple[int, ...],
    row_labels: list[str],
    index: Any = None,
) -> None:
    """One block of elements from ``lo``: ``results[r][k] = f(x with x[lo + k] = block[r][k])``.

    ``index[k]`` is where element ``lo + k`` is in ``mv`` (default ``lo + k``;
    multi-indices for a strided ``x``). One ``try`` for the block: whatever
    ``f`` raises, the element it was called on is restored (restoring an
    element twice changes nothing).
    """
    if index is None:
        index = range(lo, lo + len(block[0]))
    k = -1
    orig = 0.0
    try:
        if len(block) == 2:  # the book's two points: the hot loop, unrolled
            plus, minus = block
            fp, fm = results
            for k in range(len(plus)):
                i = index[k]
                orig = mv[i]
                mv[i] = plus[k]
                a = f(fx)
                mv[i] = minus[k]
                b = f(fx)
                mv[i] = orig
                if a.__class__ is not float and a.__class__ is not _FLOAT64:
                    a = scalar_result(a, f"{where(shape, lo + k)} {row_labels[0]}")
                if b.__class__ is not float and b.__class__ is not _FLOAT64:
                    b = scalar_result(b, f"{where(shape, lo + k)} {row_labels[1]}")
                fp[k] = a
                fm[k] = b
        else:
            for k in range(len(block[0])):
                i = index[k]
                orig = mv[i]
                for r, row in enumerate(block):
                    mv[i] = row[k]
                    value = f(fx)
                    if value.__class__ is not float and value.__class__ is not _FLOAT64:
                        value = scalar_result(value, f"{where(shape, lo + k)} {row_labels[r]}")
                    results[r][k] = value
                mv[i] = orig
    finally:
        if k >= 0:
            mv[index[k]] = orig


def _evaluate_nd(
    f: Callable[[Any], Any],
    x: np.ndarray,
    fx: Any,
    points: np.ndarray,
    row_labels: list[str],
    out: np.ndarray,
) -> None:
    """:func:`in_place` for a 0-d or strided ``x``: multi-indices, lazily (no list of n tuples)."""
    rows = points.shape[0]
    shape = x.shape
    index = np.ndindex(shape) if shape else iter([()])
    pts = points.reshape((rows,) + shape)
    for flat, idx in enumerate(index):
        orig = x[idx].copy()
        try:
            for r in range(rows):
                x[idx] = pts[(r,) + idx]
                out[r, flat] = scalar_result(f(fx), lambda: f"{where(shape, flat)} {row_labels[r]}")
        finally:
            x[idx] = orig


# ------------------------------------------------------------------ sets of perturbations
def evaluate_sets(
    f: Callable[[Any], Any],
    base: np.ndarray,
    pert: Perturbations,
    out_shape: tuple[int, ...],
    options: Options | None = None,
    scratch: bool = False,
) -> np.ndarray:
    """Sets of perturbations (:mod:`nnnum.diff.perturb`): one private copy, restored per set.

    ``f`` gets the copy (never ``x``); row ``p`` is ``f`` there, flattened.
    """
    cplx = base.dtype.kind == "c"
    m = math.prod(out_shape)
    out = np.empty((pert.count, m), dtype=np.complex128 if cplx else np.float64)
    xc = base.copy()
    flat = xc.reshape(-1)
    ptr, idx, val = pert.ptr, pert.idx, pert.val
    for p in range(pert.count):
        s, e = int(ptr[p]), int(ptr[p + 1])
        ii = idx[s:e]
        flat[ii] = val[s:e]
        out[p] = values_of(f(xc), out_shape, pert.label(p), cplx)
        flat[ii] = base.reshape(-1)[ii]
    return out
