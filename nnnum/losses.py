"""Loss functions: the book's losses and a fused, stable softmax cross-entropy.

``mean_squared_error`` and ``cross_entropy_error`` as the book defines them, and
``softmax_cross_entropy`` on logits, log-sum-exp stable, with no delta.
"""

from __future__ import annotations

from typing import Any, Literal

from . import backends as _backend
from ._core.validate import flat_rows, float_array, targets

__all__ = [
    "mean_squared_error",
    "sum_squared_error",
    "cross_entropy_error",
    "softmax_cross_entropy",
    "softmax_loss",
    "CE_DELTA",
]

#: The book's guard against ``log(0)`` in :func:`cross_entropy_error`.
CE_DELTA = 1e-7


def _scalar(be: Any, value: Any) -> Any:
    """A NumPy float64 on CPU backends; a 0-d device array on the GPU."""
    if be.xp.__name__ == "numpy":
        return be.xp.float64(value)
    return value


def mean_squared_error(y: Any, t: Any) -> Any:
    r"""Sum of squares error :math:`\frac12 \sum (y - t)^2`, exactly as the book defines it.

    Parameters
    ----------
    y : array_like, shape (..., K)
        Network output.
    t : array_like
        Target with ``y``'s shape (one-hot or any values), or integer class
        labels with shape ``y.shape[:-1]`` (read as one-hot).

    Returns
    -------
    float
        Summed over every element (not averaged over the batch, as in the book).

    Examples
    --------
    >>> import nnnum
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> round(float(nnnum.mean_squared_error(y, t)), 6)
    0.0975
    """
    be = _backend.current()
    y = float_array(y, "y", be.xp)
    kind, t = targets(y, t, be.xp)
    if kind == "labels":
        y2, t2 = flat_rows(y, kind, t, be.xp)
    else:
        y2, t2 = (
            be.xp.ascontiguousarray(y.reshape(1, -1)),
            be.xp.ascontiguousarray(t.reshape(1, -1)),
        )
    return _scalar(be, be.mean_squared_error(y2, kind, t2))


def cross_entropy_error(y: Any, t: Any) -> Any:
    r"""Cross-entropy error of probabilities ``y``, exactly as the book defines it.

    .. math:: E = -\frac{1}{N} \sum_n \log(y_{n, t_n} + \delta), \quad \delta = 10^{-7}

    Parameters
    ----------
    y : array_like, shape (K,) or (N, K) (or any ``(..., K)``)
        Probabilities (e.g. softmax output). A 1-D ``y`` is one sample.
    t : array_like
        One-hot targets with ``y``'s shape, or integer labels with shape
        ``y.shape[:-1]``. Dense non-one-hot targets give
        :math:`-\frac1N\sum t \log(y + \delta)`, which equals the label form
        for one-hot rows.

    Returns
    -------
    float
        The loss averaged over the batch (all leading axes).

    Raises
    ------
    ValueError
        Shapes that do not match, labels outside ``[0, K)`` (``-1`` included),
        an empty batch.
    TypeError
        Labels that are not integers (``2.0``): convert them explicitly.

    See Also
    --------
    softmax_cross_entropy : the fused, stable version on logits.

    Examples
    --------
    >>> import nnnum
    >>> t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    >>> y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    >>> round(float(nnnum.cross_entropy_error(y, t)), 12)
    0.510825457099
    >>> round(float(nnnum.cross_entropy_error(y, 2)), 12)  # the same with a label
    0.510825457099
    """
    be = _backend.current()
    y = float_array(y, "y", be.xp)
    kind, t = targets(y, t, be.xp)
    y2, t2 = flat_rows(y, kind, t, be.xp)
    rows = be.cross_entropy_rows(y2, kind, t2, CE_DELTA)
    return _scalar(be, be.xp.sum(rows) / rows.shape[0])


def softmax_cross_entropy(
    logits: Any, t: Any, reduction: Literal["mean", "sum", "none"] = "mean"
) -> Any:
    r"""Fused softmax + cross-entropy on logits, stable by log-sum-exp, with no delta.

    .. math:: \ell_n = \log \sum_k e^{z_{nk}} - z_{n, t_n}

    Parameters
    ----------
    logits : array_like, shape (..., K)
        Any leading batch shape.
    t : array_like
        Integer labels with shape ``logits.shape[:-1]``, or one-hot (or
        probability) targets with ``logits``' shape.
    reduction : {"mean", "sum", "none"}
        Average over all samples, sum, or return the per-sample losses with
        shape ``logits.shape[:-1]``.

    Returns
    -------
    float or ndarray
        Finite for logits of +-1e8; a perfect prediction gives 0.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> z = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]])
    >>> loss = nnnum.softmax_cross_entropy(z, np.array([0, 1]))
    >>> ref = nnnum.cross_entropy_error(nnnum.softmax(z), np.array([0, 1]))
    >>> bool(abs(loss - ref) < 1e-6)
    True
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', not {reduction!r}")
    be = _backend.current()
    z = float_array(logits, "logits", be.xp)
    kind, t = targets(z, t, be.xp, batch_name="logits")
    z2, t2 = flat_rows(z, kind, t, be.xp)
    rows = be.softmax_cross_entropy_rows(z2, kind, t2)
    if reduction == "none":
        return rows.reshape(z.shape[:-1])
    total = be.xp.sum(rows)
    return _scalar(be, total if reduction == "sum" else total / rows.shape[0])


#: The book's ``common/functions.py`` name for :func:`mean_squared_error` (the half sum of squares).
sum_squared_error = mean_squared_error


def softmax_loss(X: Any, t: Any) -> Any:
    """The book's ``softmax_loss``: ``cross_entropy_error(softmax(X), t)``, 1e-7 delta included.

    See :func:`softmax_cross_entropy` for the fused, stable loss without a delta.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> z = np.array([[2.0, 1.0, 0.1]])
    >>> ref = nnnum.cross_entropy_error(nnnum.softmax(z), [0])
    >>> bool(np.isclose(nnnum.softmax_loss(z, [0]), ref))
    True
    """
    from .functions import softmax

    return cross_entropy_error(softmax(X), t)
