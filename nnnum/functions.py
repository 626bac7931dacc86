"""Activations: ``sigmoid``, ``relu``, ``step_function``, ``softmax``.

Each public function validates and converts its input on the host, then
dispatches to the active backend (:func:`nnnum.get_backend`).
"""

from __future__ import annotations

from typing import Any

from . import backends as _backend
from ._core.validate import float_array

__all__ = [
    "identity_function",
    "relu",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "step_function",
]


def sigmoid(x: Any) -> Any:
    r"""Logistic sigmoid :math:`1 / (1 + e^{-x})`, elementwise, without overflow.

    Parameters
    ----------
    x : array_like
        Any shape. Integer input is computed in float64.

    Returns
    -------
    ndarray
        Same shape and floating dtype as ``x``; ``sigmoid(-1000)`` is exactly 0
        with no overflow warning.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> np.allclose(nnnum.sigmoid(np.array([-1000.0, 0.0, 1000.0])), [0.0, 0.5, 1.0])
    True
    """
    be = _backend.current()
    return be.sigmoid(float_array(x, "x", be.xp))


def relu(x: Any) -> Any:
    """Rectified linear unit ``max(0, x)``, elementwise (NaN stays NaN).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> nnnum.relu(np.array([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    be = _backend.current()
    return be.relu(float_array(x, "x", be.xp))


def step_function(x: Any) -> Any:
    """The book's step function: 1 where ``x > 0``, else 0, as an integer array.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> nnnum.step_function(np.array([-1.0, 1.0, 2.0])).tolist()
    [0, 1, 1]
    """
    be = _backend.current()
    return be.step_function(float_array(x, "x", be.xp))


def softmax(x: Any) -> Any:
    r"""Softmax over the last axis, stable for any logits.

    .. math:: \mathrm{softmax}(x)_k = e^{x_k - m} / \sum_j e^{x_j - m}, \quad m = \max_j x_j

    Parameters
    ----------
    x : array_like, shape (..., K)
        Logits; any leading batch shape (a 1-D array is one sample).

    Returns
    -------
    ndarray
        Probabilities with ``x``'s shape and floating dtype, computed in float64.
        Logits of +-1e8 (float32 or float64) give finite, exact results with no
        RuntimeWarning; a NaN in a row makes that row NaN.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> y = nnnum.softmax(np.array([0.3, 2.9, 4.0]))
    >>> np.allclose(y, [0.01821127, 0.24519181, 0.73659691]), float(y.sum())
    (True, 1.0)
    """
    be = _backend.current()
    z = float_array(x, "x", be.xp)
    if z.size == 0:  # no rows, or rows of no classes: nothing to normalise
        return be.xp.empty_like(z)
    return be.softmax(z)


def identity_function(x: Any) -> Any:
    """The book's output activation for regression: ``x`` itself, unchanged.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> nnnum.identity_function(np.array([1.0, -2.0])).tolist()
    [1.0, -2.0]
    """
    return x


def sigmoid_grad(x: Any) -> Any:
    r"""Derivative of the sigmoid, :math:`(1 - \sigma(x))\,\sigma(x)` (the book's ``sigmoid_grad``).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> float(nnnum.sigmoid_grad(np.array([0.0]))[0])
    0.25
    """
    s = sigmoid(x)
    return (1.0 - s) * s


def relu_grad(x: Any) -> Any:
    """Derivative of ReLU as the book defines it: 1 where ``x >= 0``, else 0.

    Returns an array of ``x``'s floating dtype (float64 for integer input).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> nnnum.relu_grad(np.array([-1.0, 0.0, 2.0])).tolist()
    [0.0, 1.0, 1.0]
    """
    be = _backend.current()
    z = float_array(x, "x", be.xp)
    return (z >= 0).astype(z.dtype)
