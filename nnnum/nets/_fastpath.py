"""The networks' fast path: one look at the inputs, then one kernel per layer.

Each public method of ``TwoLayerNet`` (and ``SimpleNet.loss``) first asks
:func:`fast_inputs` whether the call is one the kernels of
:mod:`._forward_kernels` take as they are: the Numba backend, float64
parameters of consistent shapes, a finite real batch. Anything else returns
None, and the method takes its general path, which checks everything and names
the problem.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import backends as _backend
from .._core.jit import PARALLEL_MIN_SIZE
from ..losses import CE_DELTA
from . import _input_layer, _warm

#: NumPy sums runs of up to this many elements directly (its pairwise summation's leaf).
PW_BLOCK = 128
NO_LABELS = np.zeros(0, dtype=np.int64)
NO_TARGETS = np.zeros((0, 0))
NO_ROWS = np.zeros(0)


class FastInputs(NamedTuple):
    """What :func:`fast_inputs` found: the batch, its hidden layer, its targets."""

    x: np.ndarray
    z1: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    dense: bool
    compressed: _input_layer.Compressed | None


def kernels() -> Any:
    """The network kernels, imported on first use (``import nnnum`` compiles nothing)."""
    return _warm.module("_forward_kernels")


def kernel(name: str) -> Any:
    """Kernel ``name`` of :mod:`._forward_kernels`, once a cold start's helper has cached it.

    (:mod:`._warm`: on a cold cache a helper process compiles it; waiting for it is
    shorter than compiling it here.) Anything else: the kernel at once.
    """
    return _warm.kernel("_forward_kernels", name)


def fast_inputs(p: Any, x: Any, t: Any) -> FastInputs | None:
    """``(x, z1, labels, targets, dense, compressed)`` for the kernels, or None: the general path.

    ``p`` is the net's ``params``; ``z1`` is the hidden layer, ``sigmoid(x @ W1 + b1)``;
    ``compressed`` is :func:`._input_layer.compress` of ``x`` (None: BLAS's products).

    One look at everything: the Numba backend, float64 parameters of
    consistent shapes, a real ``x`` of ``(batch, input_size)`` (or one
    sample) with no NaN or inf, and (unless ``t`` is None) targets of the
    batch's shape or integer labels; labels are range-checked in the kernel.
    """
    if type(p) is not dict or not _backend.current().JIT or _backend.current().DEVICE:
        return None
    try:
        w1, b1, w2, b2 = p["W1"], p["b1"], p["W2"], p["b2"]
    except KeyError:
        return None
    for v in (w1, b1, w2, b2):
        if type(v) is not np.ndarray or v.dtype != np.float64:
            return None
    if w1.ndim != 2 or w2.ndim != 2 or b1.shape != (w1.shape[1],):
        return None
    d, hdim = w1.shape
    k = w2.shape[1]
    if w2.shape[0] != hdim or b2.shape != (k,) or d == 0 or hdim == 0 or k == 0:
        return None
    if type(x) is not np.ndarray or x.dtype.kind not in "biuf":
        return None
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != d or x.shape[0] == 0:
        return None
    n = x.shape[0]
    if t is None:
        labels, tt, dense = NO_LABELS, NO_TARGETS, False
    elif type(t) is not np.ndarray:
        return None
    elif t.shape == (n, k) and t.dtype.kind in "biuf":
        tt = t if t.dtype in (np.float32, np.float64) else t.astype(np.float64)
        labels, dense = NO_LABELS, True
    elif t.shape == (n,) and t.dtype.kind in "iu":
        labels, tt, dense = t.astype(np.int64, copy=False), NO_TARGETS, False
    else:
        return None
    c = _input_layer.compress(x)
    fused = _input_layer.hidden(c, w1, b1)
    if fused is None:
        with np.errstate(all="ignore"):  # NaN or inf in x: an error, not matmul's warning
            z1 = _input_layer.as_float64(x) @ w1
        bad = sigmoid_rows(z1, b1)
    else:
        z1, bad = fused
    if bad:
        # every row of x with a NaN or inf has a NaN or inf pre-activation: only then is x scanned
        if not np.isfinite(x).all():
            return None
        # a finite x overflowing, or NaN or inf weights: the general path's product (NumPy
        # warns of it, or raises under np.errstate), then the same sigmoid
        z1 = _input_layer.product(x, w1, c)
        sigmoid_rows(z1, b1)
    return FastInputs(x, z1, labels, tt, dense, c)


def sigmoid_rows(a1: np.ndarray, b1: np.ndarray) -> int:
    """``_hidden_serial(a1, b1)``, a large ``a1`` split by rows over the threads.

    No parallel loop to compile on a first call; each row is computed alone, so
    the result is the parallel kernel's bit for bit, for any thread count.
    """
    if a1.size < PARALLEL_MIN_SIZE:
        return int(kernel("_hidden_serial")(a1, b1))
    from ._structured import _row_ranges, _run_tasks

    ranges = _row_ranges(a1.shape[0])
    bad = [0] * len(ranges)

    def task(c: int, lo: int, hi: int) -> None:
        bad[c] = kernels()._hidden_serial(a1[lo:hi], b1)

    _run_tasks([(task, (c, lo, hi)) for c, (lo, hi) in enumerate(ranges)])
    return int(sum(bad))


def probabilities(a2: np.ndarray, b2: np.ndarray, labels: np.ndarray = NO_LABELS) -> Any:
    """``softmax(a2 + b2)`` (``a2`` overwritten by the logits); None for a label out of range."""
    y = np.empty_like(a2)
    kern = kernel("_output_parallel" if a2.size >= PARALLEL_MIN_SIZE else "_output_serial")
    dense = labels.shape[0] == 0
    if kern(a2, b2, labels, NO_TARGETS, dense, CE_DELTA, y, NO_ROWS, False):
        return None
    return y
