"""The in-place Python loop (the book's semantics), restored bit for bit even when ``f`` raises."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..checks import scalar_result
from ..steps import where

__all__ = ["evaluate"]

#: Elements whose perturbed values are read into Python floats at a time: the loop runs on
#: Python floats (no NumPy scalar per step) in a bounded amount of memory.
_BLOCK = 2048

_FLOAT64 = np.float64


def evaluate(
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
    mv = memoryview(x.reshape(-1))
    for lo in range(0, n, _BLOCK):
        hi = min(n, lo + _BLOCK)
        block = points[:, lo:hi].tolist()
        results = [[0.0] * (hi - lo) for _ in range(rows)]
        _run_block(f, fx, mv, lo, block, results, shape, row_labels)
        out[:, lo:hi] = results
    return out


def _run_block(
    f: Callable[[Any], Any],
    fx: Any,
    mv: memoryview,
    lo: int,
    block: list[list[float]],
    results: list[list[float]],
    shape: tuple[int, ...],
    row_labels: list[str],
) -> None:
    """One block of elements from ``lo``: ``results[r][k] = f(x with x[lo + k] = block[r][k])``.

    One ``try`` for the block: whatever ``f`` raises, the element it was
    called on is restored (restoring an element twice changes nothing).
    """
    k = -1
    orig = 0.0
    try:
        if len(block) == 2:  # the book's two points: the hot loop, unrolled
            plus, minus = block
            fp, fm = results
            for k in range(len(plus)):
                i = lo + k
                orig = mv[i]
                mv[i] = plus[k]
                a = f(fx)
                mv[i] = minus[k]
                b = f(fx)
                mv[i] = orig
                if a.__class__ is not float and a.__class__ is not _FLOAT64:
                    a = scalar_result(a, f"{where(shape, i)} {row_labels[0]}")
                if b.__class__ is not float and b.__class__ is not _FLOAT64:
                    b = scalar_result(b, f"{where(shape, i)} {row_labels[1]}")
                fp[k] = a
                fm[k] = b
        else:
            for k in range(len(block[0])):
                i = lo + k
                orig = mv[i]
                for r, row in enumerate(block):
                    mv[i] = row[k]
                    value = f(fx)
                    if value.__class__ is not float and value.__class__ is not _FLOAT64:
                        value = scalar_result(value, f"{where(shape, i)} {row_labels[r]}")
                    results[r][k] = value
                mv[i] = orig
    finally:
        if k >= 0:
            mv[lo + k] = orig


def _evaluate_nd(
    f: Callable[[Any], Any],
    x: np.ndarray,
    fx: Any,
    points: np.ndarray,
    row_labels: list[str],
    out: np.ndarray,
) -> None:
    """:func:`evaluate` for a 0-d or strided ``x``: multi-indices, lazily (no list of n tuples)."""
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
