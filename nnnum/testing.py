"""Helpers for tests and benchmarks: host-side comparison and the book's reference loop."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["assert_allclose", "to_host", "book_numerical_gradient"]


def to_host(a: Any) -> Any:
    """A NumPy array (or scalar) from a NumPy or CuPy value."""
    from .backends import to_host as _to_host

    return _to_host(a)


def assert_allclose(actual: Any, desired: Any, rtol: float = 1e-7, atol: float = 0.0) -> None:
    """:func:`numpy.testing.assert_allclose` that first copies CuPy arrays to the host."""
    np.testing.assert_allclose(to_host(actual), to_host(desired), rtol=rtol, atol=atol)


def book_numerical_gradient(
    f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4
) -> np.ndarray:
    """The book's per-element loop, as printed: in place on ``x``, divided by ``2 h``.

    The reference the library is measured against (speed) and checked against
    (results); it keeps the book's flaws, e.g. an integer ``x`` gives a wrong gradient.

    Examples
    --------
    >>> import numpy as np
    >>> from nnnum.testing import book_numerical_gradient
    >>> book_numerical_gradient(lambda x: np.sum(x**2), np.array([1, 2])).tolist()
    [5000, 15000]
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])  # type: ignore[list-item]
    while not it.finished:
        idx = it.multi_index
        tmp = x[idx]
        x[idx] = tmp + h
        fxh1 = f(x)
        x[idx] = tmp - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp
        it.iternext()
    return grad
