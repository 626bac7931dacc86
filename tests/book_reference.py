"""Plain-NumPy oracles for chapter 4 of *Deep Learning from Scratch*.

The book's conventions as it describes them: the central difference (absolute
step ``h = 1e-4``, divided by ``2 * h``), its element-by-element in-place
perturbation, its cross-entropy with a ``1e-7`` guard that turns one-hot (or
any same-shaped) targets into labels by ``argmax``, and its two-layer net
(sigmoid hidden layer, softmax output, weights drawn from NumPy's global random
state, backprop with ``(y - t) / batch`` at the output). Slow on purpose: every
number here is what the book's scripts print, so that nnnum can be compared
against it.

The book's functions (sigmoid, softmax, cross-entropy) and networks have one
home, the benchmarks' :mod:`benchmarks.common` (``book_*``, :class:`BookSimpleNet`,
:class:`BookTwoLayerNet`: the suite times nnnum against them); this file names
them as the tests use them, adds the book's constructors (weights from NumPy's
global random state) and runs them on its own element loop, :func:`gradient`,
which owes nothing to nnnum.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from benchmarks.common import BOOK_KEYS as KEYS
from benchmarks.common import (
    BOOK_OPS,
    BookSimpleNet,
    BookTwoLayerNet,
    book_cross_entropy_error,
    book_init_params,
    book_sigmoid,
    book_softmax,
)

H = 1e-4


# ----------------------------------------------------------------- differentiation
def central_diff(f: Callable, x, h: float = H):
    """Symmetric difference quotient over a step of ``2 * h``."""
    return (f(x + h) - f(x - h)) / (2 * h)


def partial(f: Callable, x: np.ndarray, idx, h: float = H) -> float:
    """One partial derivative: perturb ``x[idx]`` in place, evaluate, put it back."""
    keep = x[idx].copy()
    x[idx] = keep + h
    up = f(x)
    x[idx] = keep - h
    down = f(x)
    x[idx] = keep
    return (up - down) / (2 * h)


def gradient(f: Callable, x: np.ndarray, h: float = H) -> np.ndarray:
    """Every partial derivative of ``f`` at ``x`` (any shape), one element at a time."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        g[idx] = partial(f, x, idx, h)
    return g


def gradient_rows(f: Callable, X: np.ndarray, h: float = H) -> np.ndarray:
    """For a 2-D ``X``: the gradient of ``f`` at each row (a 1-D ``X`` is one point)."""
    if X.ndim == 1:
        return gradient(f, X, h)
    out = np.zeros_like(X)
    for i in range(X.shape[0]):
        out[i] = gradient(f, X[i], h)
    return out


def descend(f: Callable, x0, lr: float = 0.01, step_num: int = 100):
    """Plain gradient descent; returns the last point and the points before each step."""
    x = np.array(x0, dtype=float)
    path = []
    for _ in range(step_num):
        path.append(x.copy())
        x -= lr * gradient(f, x)
    return x, np.array(path)


# ----------------------------------------------------------------- activations, losses
#: ``1 / (1 + exp(-a))`` (:func:`benchmarks.common.book_sigmoid`)
sigmoid = book_sigmoid
#: max-subtracted, along the last axis (:func:`benchmarks.common.book_softmax`)
softmax = book_softmax
#: mean of ``-log(y[label] + 1e-7)``; same-shaped targets are read by ``argmax``
#: (:func:`benchmarks.common.book_cross_entropy_error`)
cross_entropy = book_cross_entropy_error


def half_sum_squares(y, t):
    return 0.5 * np.sum((np.asarray(y, float) - np.asarray(t, float)) ** 2)


# ----------------------------------------------------------------- networks
#: The functions a network is built from. A book script that changes only its imports
#: runs its own classes on another library's functions: pass that library's as ``ops``.
REFERENCE_OPS = SimpleNamespace(**{**vars(BOOK_OPS), "numerical_gradient": gradient})


class SimpleNet(BookSimpleNet):
    """One linear layer ``x @ W`` (2 -> 3), softmax, cross-entropy, on :data:`REFERENCE_OPS`.

    :class:`benchmarks.common.BookSimpleNet` with the book's constructor:
    ``W = np.random.randn(2, 3)`` from NumPy's global random state.
    """

    def __init__(self, ops=REFERENCE_OPS):
        super().__init__(np.random.randn(2, 3), ops)


class TwoLayerNet(BookTwoLayerNet):
    """The book's two-layer net, built as its constructor builds it, on :data:`REFERENCE_OPS`.

    Sigmoid hidden layer, softmax output; one-hot targets, as the chapter's
    scripts use. The network itself has one home,
    :class:`benchmarks.common.BookTwoLayerNet` (``gradient``: backprop with
    ``(y - t) / batch``; ``exact_gradient``: the ``1e-7`` guard differentiated
    too); this adds the book's constructor: weights drawn from NumPy's global
    random state.
    """

    def __init__(
        self, input_size, hidden_size, output_size, weight_init_std=0.01, ops=REFERENCE_OPS
    ):
        params = book_init_params(input_size, hidden_size, output_size, weight_init_std)
        super().__init__(params, ops)


def training_loop(
    network,
    x_train,
    t_train,
    x_test,
    t_test,
    iters_num: int,
    batch_size: int = 100,
    learning_rate: float = 0.1,
    numerical: bool = False,
):
    """The chapter's mini-batch SGD loop, as its training script runs it.

    Batches come from ``np.random.choice`` (global state, with replacement);
    parameters are updated in place by key; train and test accuracy are taken
    whenever ``i % (train_size / batch_size) == 0`` (a float, as in the book).
    Returns ``(train_loss_list, train_acc_list, test_acc_list)``.
    """
    train_size = x_train.shape[0]
    iter_per_epoch = max(train_size / batch_size, 1)
    losses, train_acc, test_acc = [], [], []
    for i in range(iters_num):
        mask = np.random.choice(train_size, batch_size)
        xb, tb = x_train[mask], t_train[mask]
        grad = network.numerical_gradient(xb, tb) if numerical else network.gradient(xb, tb)
        for key in KEYS:
            network.params[key] -= learning_rate * grad[key]
        losses.append(network.loss(xb, tb))
        if i % iter_per_epoch == 0:
            train_acc.append(network.accuracy(x_train, t_train))
            test_acc.append(network.accuracy(x_test, t_test))
    return losses, train_acc, test_acc
