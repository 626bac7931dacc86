"""The book's and the chapter notes' names: the gradient of a 1-D, a 2-D and a row-wise ``x``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .api import numerical_gradient
from .checks import check_x, require_ndim

__all__ = ["numerical_gradient_1", "numerical_gradient_2", "numerical_gradient_2d"]


def numerical_gradient_1(f: Callable[[Any], Any], x: Any, **options: Any) -> Any:
    """:func:`numerical_gradient` for a 1-D ``x`` (the chapter notes' name).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient_1(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    >>> np.allclose(g, [6.0, 8.0])
    True
    """
    require_ndim(x, 1, "numerical_gradient_1")
    return numerical_gradient(f, x, **options)


def numerical_gradient_2(f: Callable[[Any], Any], x: Any, **options: Any) -> Any:
    """:func:`numerical_gradient` for a 2-D ``x``: one ``f`` of the whole matrix.

    Element by element, as the chapter notes use it for ``simpleNet``'s ``W``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient_2(lambda w: np.sum(w**2), np.ones((2, 3)))
    >>> np.allclose(g, 2.0)
    True
    """
    require_ndim(x, 2, "numerical_gradient_2")
    return numerical_gradient(f, x, **options)


def numerical_gradient_2d(f: Callable[[Any], Any], X: Any, **options: Any) -> Any:
    """The book's ``numerical_gradient_2d``: the gradient of ``f`` at each row of ``X``.

    For a 1-D ``X``, :func:`numerical_gradient`. For a 2-D ``X``, row ``i`` of
    the result is the gradient of ``f`` at the point ``X[i]`` (``f`` takes one
    row), as the book's ``gradient_2d.py`` draws a gradient field.

    Parameters
    ----------
    f : callable
        ``f(row) -> float``.
    X : ndarray, shape (n,) or (m, n)
        Float parameters, perturbed in place row by row and restored.
    **options
        ``h``, ``order``, ``method``, ``richardson`` as for
        :func:`numerical_gradient`.

    Returns
    -------
    ndarray
        Shaped like ``X``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> X = np.array([[1.0, 2.0], [3.0, -1.0]])
    >>> np.allclose(nnnum.numerical_gradient_2d(lambda x: np.sum(x**2), X), 2 * X)
    True
    """
    if options.get("full_output"):
        raise ValueError("numerical_gradient_2d returns the gradients only (no full_output)")
    if np.ndim(X) == 1:
        return numerical_gradient(f, X, **options)
    require_ndim(X, 2, "numerical_gradient_2d")
    arr, _ = check_x(X, "numerical_gradient_2d")
    grad = np.empty(arr.shape, dtype=arr.dtype)
    for i in range(arr.shape[0]):
        grad[i] = numerical_gradient(f, arr[i], **options)
    return grad
