"""The in-place Python loop (the book's semantics), restored bit for bit even when ``f`` raises."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ..checks import scalar_result
from ..steps import where

__all__ = ["evaluate"]


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
    if x.ndim and x.flags.c_contiguous:
        # a flat view writes straight into x: same elements, no per-element index tuples
        view: Any = x.reshape(-1)
        index: Any = range(n)
        pts = points
    else:
        view = x
        index = np.ndindex(shape) if shape else iter([()])  # lazily: no list of n tuples
        pts = points.reshape((rows,) + shape)
    for flat, idx in enumerate(index):
        orig = view[idx].copy()
        try:
            for r in range(rows):
                view[idx] = pts[(r,) + (idx if isinstance(idx, tuple) else (idx,))]
                out[r, flat] = scalar_result(f(fx), lambda: f"{where(shape, flat)} {row_labels[r]}")
        finally:
            view[idx] = orig
    return out
