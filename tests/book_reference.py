"""Plain-NumPy oracles for chapter 4 of *Deep Learning from Scratch*.

Written for this test suite from the algorithms the book describes (not its
code): the forward difference conventions it uses (absolute step ``h = 1e-4``,
divided by ``2 * h``), its element-by-element in-place perturbation, its
cross-entropy with a ``1e-7`` guard that turns one-hot (or any same-shaped)
targets into labels by ``argmax``, and its two-layer net (sigmoid hidden layer,
softmax output, weights drawn from NumPy's global random state, backprop with
``(y - t) / batch`` at the output). Slow on purpose: every number here is what
the book's scripts print, so that nnnum can be compared against it.

The two-layer net is the benchmarks' :class:`benchmarks.common.BookTwoLayerNet`
(one home for the book's network: the suite times nnnum against it), run here
on this file's functions.
"""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np

from benchmarks.common import BOOK_KEYS as KEYS
from benchmarks.common import BookTwoLayerNet, book_init_params

H = 1e-4
DELTA = 1e-7


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
def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def softmax(a):
    shifted = a - np.max(a, axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=-1, keepdims=True)


def half_sum_squares(y, t):
    return 0.5 * np.sum((np.asarray(y, float) - np.asarray(t, float)) ** 2)


def cross_entropy(y, t):
    """Mean of ``-log(y[label] + 1e-7)``; same-shaped targets are read by ``argmax``."""
    y = np.asarray(y, dtype=float)
    t = np.asarray(t)
    if y.ndim == 1:
        y = y[None, :]
        t = t.reshape(1, -1) if t.size == y.size else t.reshape(1)
    if t.size == y.size:
        t = t.argmax(axis=1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + DELTA)) / n


# ----------------------------------------------------------------- networks
#: The functions a network is built from. A book script that changes only its imports
#: runs its own classes on another library's functions: pass that library's as ``ops``.
REFERENCE_OPS = SimpleNamespace(
    sigmoid=sigmoid,
    sigmoid_grad=lambda a: (1.0 - sigmoid(a)) * sigmoid(a),
    softmax=softmax,
    cross_entropy_error=cross_entropy,
    numerical_gradient=gradient,
)


class SimpleNet:
    """One linear layer ``x @ W`` (2 -> 3), softmax, cross-entropy."""

    def __init__(self, ops=REFERENCE_OPS):
        self.ops = ops
        self.W = np.random.randn(2, 3)

    def predict(self, x):
        return np.dot(x, self.W)

    def loss(self, x, t):
        return self.ops.cross_entropy_error(self.ops.softmax(self.predict(x)), t)


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
