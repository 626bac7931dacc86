"""Shared inputs and reference implementations for the asv suite and ``compare.py``.

Every reference here is what a user would otherwise write or pick: the book's
per-element loop, the book's NumPy softmax-then-cross-entropy, ``np.sum`` as
the memory floor of a pass over the logits.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

try:  # keep old commits and partial installs benchmarkable
    import nnnum
    from nnnum.testing import book_numerical_gradient  # noqa: F401 (re-exported)
except ImportError:  # pragma: no cover
    nnnum = None

try:
    import numba
except ImportError:  # pragma: no cover
    numba = None


def best_time(fn: Callable[[], Any], repeat: int = 5, number: int = 1) -> float:
    """Best of ``repeat`` wall times of ``number`` calls, per call (the usual timeit rule)."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


class threads:
    """Context manager: run Numba kernels with ``n`` threads."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __enter__(self) -> threads:
        self.old = numba.get_num_threads()
        numba.set_num_threads(min(self.n, numba.config.NUMBA_NUM_THREADS))
        return self

    def __exit__(self, *exc: Any) -> None:
        numba.set_num_threads(self.old)


def max_threads() -> int:
    return int(numba.config.NUMBA_NUM_THREADS)


# ------------------------------------------------------------------ references
def book_softmax_cross_entropy(z: np.ndarray, t: np.ndarray) -> float:
    """The book's composition: softmax (max-subtracted), then cross_entropy_error with delta."""
    z = z - z.max(axis=1, keepdims=True)
    y = np.exp(z)
    y /= y.sum(axis=1, keepdims=True)
    return -np.sum(np.log(y[np.arange(len(t)), t] + 1e-7)) / len(t)


def rosenbrock_np(x: np.ndarray) -> float:
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    g = np.zeros_like(x)
    g[:-1] = -400.0 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * (x[1:] - x[:-1] ** 2)
    return g


if numba is not None:

    @numba.njit(cache=True, nogil=True)
    def rosenbrock_jit(x):  # noqa: D103
        s = 0.0
        for i in range(x.size - 1):
            a = x[i + 1] - x[i] * x[i]
            b = 1.0 - x[i]
            s += 100.0 * a * a + b * b
        return s


def logits(n: int, k: int = 10, seed: int = 0, dtype: Any = np.float64):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, k)) * 3).astype(dtype), rng.integers(0, k, n)


# ---------------------------------------------------------------------- MNIST
def mnist_dir() -> Path | None:
    env = os.environ.get("NNNUM_MNIST_DIR")
    cands = [Path(env)] if env else []
    cands.append(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist")
    for p in cands:
        if (p / "t10k-images-idx3-ubyte.gz").is_file():
            return p
    return None


def mnist_batch(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """A batch of real MNIST digits when available, else synthetic digits with MNIST's sparsity."""
    rng = np.random.default_rng(seed)
    d = mnist_dir()
    if d is not None:
        from nnnum.data import load_mnist

        x, t = load_mnist(d, split="test")
        idx = rng.choice(len(x), n, replace=False)
        return x[idx].astype(np.float64), t[idx], "real MNIST"
    x = rng.random((n, 784))
    x[rng.random((n, 784)) < 0.81] = 0.0
    return x, rng.integers(0, 10, n), "synthetic (81% zeros; MNIST files not found)"


def dense_batch(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 784)), rng.integers(0, 10, n)


def book_sigmoid(x: np.ndarray) -> np.ndarray:
    """``common/functions.py``'s sigmoid."""
    return 1 / (1 + np.exp(-x))


def book_sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """``common/functions.py``'s sigmoid_grad."""
    return (1.0 - book_sigmoid(x)) * book_sigmoid(x)


def book_softmax(x: np.ndarray) -> np.ndarray:
    """``common/functions.py``'s softmax (one sample or a batch)."""
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def book_cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """``common/functions.py``'s cross-entropy: one-hot targets read by ``argmax``, or labels."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    n = y.shape[0]
    return -np.sum(np.log(y[np.arange(n), t] + 1e-7)) / n


def _book_gradient(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """``common/gradient.py``'s loop (:func:`nnnum.testing.book_numerical_gradient`)."""
    return book_numerical_gradient(f, x)  # looked up here: an old nnnum may lack it


#: The functions the book's networks are built from (``common/functions.py`` and
#: ``common/gradient.py``). A book script that changes only its imports runs its own classes
#: on another library's functions: pass that library's as ``ops``.
BOOK_OPS = SimpleNamespace(
    sigmoid=book_sigmoid,
    sigmoid_grad=book_sigmoid_grad,
    softmax=book_softmax,
    cross_entropy_error=book_cross_entropy_error,
    numerical_gradient=_book_gradient,
)

BOOK_KEYS = ("W1", "b1", "W2", "b2")


def book_init_params(
    input_size: int, hidden_size: int, output_size: int, weight_init_std: float = 0.01
) -> dict[str, np.ndarray]:
    """The book's ``TwoLayerNet.__init__``: ``W1`` then ``W2`` from NumPy's global random state
    (``weight_init_std * np.random.randn``), zero biases."""
    return {
        "W1": weight_init_std * np.random.randn(input_size, hidden_size),
        "b1": np.zeros(hidden_size),
        "W2": weight_init_std * np.random.randn(hidden_size, output_size),
        "b2": np.zeros(output_size),
    }


class BookSimpleNet:
    """The book's simpleNet in plain NumPy (``ch04/gradient_simplenet.py``), on given weights.

    ``predict`` is ``np.dot(x, W)``, ``loss`` the book's
    ``cross_entropy_error(softmax(predict(x)), t)`` on the functions ``ops``
    (:data:`BOOK_OPS`: the book's); ``tests/book_reference.py`` builds on it.
    """

    def __init__(self, w: np.ndarray, ops: Any = BOOK_OPS) -> None:
        self.W = w
        self.ops = ops

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.dot(x, self.W)

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.ops.cross_entropy_error(self.ops.softmax(self.predict(x)), t)


class BookTwoLayerNet:
    """The book's TwoLayerNet in plain NumPy (``ch04/two_layer_net.py``), on given weights.

    The honest reference for timing the book's code and for checking nnnum against
    it (``tests/book_reference.py`` builds on it): no validation, no dispatch,
    exactly the NumPy calls the book makes, on the functions ``ops``
    (:data:`BOOK_OPS`: the book's). ``gradient`` is its backprop with the output
    error ``(y - t) / batch``, for one-hot ``t``: the derivative of the loss
    without its ``1e-7`` guard; ``exact_gradient`` also differentiates the guard
    (``-log(y_t + delta)``), term for term.
    """

    def __init__(self, params: dict[str, np.ndarray], ops: Any = BOOK_OPS) -> None:
        self.params = params  # shared with the nnnum net: same weights
        self.ops = ops

    def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        p, ops = self.params, self.ops
        a1 = np.dot(x, p["W1"]) + p["b1"]
        z1 = ops.sigmoid(a1)
        return a1, z1, ops.softmax(np.dot(z1, p["W2"]) + p["b2"])

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._forward(x)[2]

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.ops.cross_entropy_error(self.predict(x), t)

    def accuracy(self, x: np.ndarray, t: np.ndarray) -> float:
        y = np.argmax(self.predict(x), axis=1)
        t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        def loss_w(_: np.ndarray) -> float:
            return self.loss(x, t)

        return {k: self.ops.numerical_gradient(loss_w, self.params[k]) for k in BOOK_KEYS}

    def _backward(
        self, x: np.ndarray, a1: np.ndarray, z1: np.ndarray, dy: np.ndarray
    ) -> dict[str, np.ndarray]:
        da1 = np.dot(dy, self.params["W2"].T)
        dz1 = self.ops.sigmoid_grad(a1) * da1
        return {
            "W1": np.dot(x.T, dz1),
            "b1": np.sum(dz1, axis=0),
            "W2": np.dot(z1.T, dy),
            "b2": np.sum(dy, axis=0),
        }

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        a1, z1, y = self._forward(x)
        return self._backward(x, a1, z1, (y - t) / x.shape[0])

    def exact_gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        a1, z1, y = self._forward(x)
        # d/da_j of -log(y_t + delta) = -(y_t / (y_t + delta)) * ([j == t] - y_j)
        w = np.sum(t * y / (y + 1e-7), axis=1, keepdims=True)
        return self._backward(x, a1, z1, w * (y - t) / x.shape[0])


def book_net_gradient_sampled(
    net: Any, x: np.ndarray, t: np.ndarray, samples: int = 400, seed: int = 0
) -> float:
    """Seconds for the book's full gradient, timed on a random sample of parameters and scaled.

    The book's loop runs one full forward pass (:class:`BookTwoLayerNet`) per
    perturbation; every parameter costs the same, so timing ``samples`` random
    ones and scaling by the total count estimates the full loop (39,760
    parameters for 784-50-10).
    """
    book = BookTwoLayerNet(net.params)
    rng = np.random.default_rng(seed)
    keys = list(net.params)
    sizes = np.array([net.params[k].size for k in keys])
    total = int(sizes.sum())
    flat_choice = rng.choice(total, samples, replace=False)
    bounds = np.cumsum(sizes)
    book.loss(x, t)
    t0 = time.perf_counter()
    for flat in flat_choice:
        ki = int(np.searchsorted(bounds, flat, side="right"))
        p = net.params[keys[ki]]
        local = int(flat - (bounds[ki - 1] if ki else 0))
        idx = np.unravel_index(local, p.shape)
        tmp = p[idx]
        p[idx] = tmp + 1e-4
        book.loss(x, t)
        p[idx] = tmp - 1e-4
        book.loss(x, t)
        p[idx] = tmp
    return (time.perf_counter() - t0) / samples * total


class Table:
    """A markdown table printed by the comparison scripts."""

    def __init__(self, title: str, columns: list[str]) -> None:
        self.title, self.columns, self.rows = title, columns, []

    def add(self, *cells: Any) -> None:
        self.rows.append([c if isinstance(c, str) else f"{c:.3g}" for c in cells])

    def show(self) -> None:
        print(f"\n### {self.title}\n")
        print("| " + " | ".join(self.columns) + " |")
        print("|" + "|".join("---" for _ in self.columns) + "|")
        for r in self.rows:
            print("| " + " | ".join(r) + " |")
        sys.stdout.flush()
