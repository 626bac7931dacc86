"""The book's one-layer ``SimpleNet`` (``simpleNet``), its loss in one kernel."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import backends as _backend
from ..functions import softmax
from ..losses import CE_DELTA, cross_entropy_error
from ._fastpath import NO_LABELS, NO_TARGETS, kernels
from ._params import randn

__all__ = ["SimpleNet", "simpleNet"]


class SimpleNet:
    """The book's one-layer net: weights ``W`` of shape (2, 3), softmax + cross-entropy.

    Parameters
    ----------
    seed : int or numpy.random.Generator, optional
        Draw ``W`` (standard normal) from this seed or Generator. Without it,
        ``W`` comes from NumPy's global random state as in the book
        (``np.random.randn(2, 3)``), so ``np.random.seed(0)`` before
        construction gives the book's weights.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> net = nnnum.SimpleNet(seed=0)
    >>> x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    >>> dW = nnnum.numerical_gradient(lambda w: net.loss(x, t), net.W)  # the book's idiom
    >>> dW.shape
    (2, 3)
    """

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        self.W = randn(seed, (2, 3))

    def predict(self, x: Any) -> np.ndarray:
        """Logits ``x @ W``, for one sample of 2 inputs or a batch (N, 2)."""
        if x is None:
            raise TypeError("x is None; pass 2 inputs, e.g. np.array([0.6, 0.9])")
        xa = np.asarray(x)
        if np.issubdtype(xa.dtype, np.complexfloating) or not (
            np.issubdtype(xa.dtype, np.number) or xa.dtype == np.bool_
        ):
            raise TypeError(f"x must be real numbers, got dtype {xa.dtype}")
        w = np.asarray(self.W, dtype=np.float64)
        if xa.ndim not in (1, 2) or xa.shape[-1] != w.shape[0]:
            raise ValueError(
                f"x has shape {xa.shape} but W has {w.shape[0]} rows: expected "
                f"({w.shape[0]},) or (batch, {w.shape[0]})"
            )
        return xa.astype(np.float64) @ self.W

    def loss(self, x: Any, t: Any) -> float:
        """``cross_entropy_error(softmax(x @ W), t)``."""
        if type(self).predict is SimpleNet.predict:
            fast = _simple_loss(self.W, x, t)
            if fast is not None:
                return fast
        return float(cross_entropy_error(softmax(self.predict(x)), t))


#: The book's spelling (``ch04/gradient_simplenet.py``), so its scripts port unchanged.
simpleNet = SimpleNet


def _simple_loss(w: Any, x: Any, t: Any) -> float | None:
    """SimpleNet's loss in one kernel, or None where the general path must check and report."""
    if type(w) is not np.ndarray or w.dtype != np.float64 or w.ndim != 2:
        return None
    if not _backend.current().JIT or _backend.current().DEVICE:
        return None
    if type(x) is not np.ndarray or x.dtype.kind not in "biuf" or x.ndim not in (1, 2):
        return None
    if x.shape[-1] != w.shape[0] or x.size == 0 or w.shape[1] == 0:
        return None
    z = x.astype(np.float64) @ w
    t = np.asarray(t)
    k = w.shape[1]
    z2 = z.reshape(-1, k)
    if t.shape == z.shape and t.dtype.kind in "biuf":
        tt = t.reshape(-1, k)
        if tt.dtype not in (np.float32, np.float64):
            tt = tt.astype(np.float64)
        labels, dense = NO_LABELS, True
    elif t.shape == z.shape[:-1] and t.dtype.kind in "iu":
        tt, labels, dense = NO_TARGETS, t.reshape(-1).astype(np.int64, copy=False), False
    else:
        return None
    rows = np.empty(z2.shape[0])
    if kernels()._output_serial(
        z2, _zeros(k), labels, tt, dense, CE_DELTA, np.empty_like(z2), rows, True
    ):
        return None
    return float(np.sum(rows) / rows.shape[0])


@functools.cache
def _zeros(k: int) -> np.ndarray:
    """A read-only zero bias of ``k`` classes (SimpleNet has none)."""
    z = np.zeros(k)
    z.flags.writeable = False
    return z
