"""The chapter's examples, nnnum against book-style code written here, as ratios.

    python -m benchmarks.book            # every example, best of 7, one BLAS thread
    python -m benchmarks.compare --only book

Each reference is written the way the book writes it (``common/gradient.py``'s
element loop with ``np.nditer``, ``gradient_method.py``, ``two_layer_net.py``,
``train_neuralnet.py``); each ratio is ``book time / nnnum time`` of two timings
taken side by side in one process (> 1: nnnum is faster). BLAS runs one thread,
as the issue's figures do. ``benchmarks/bench_book.py`` tracks the same ratios in asv.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .common import (
    BookSimpleNet,
    BookTwoLayerNet,
    Table,
    book_numerical_gradient,
    nnnum,
)

# ------------------------------------------------------------ book-style references


def book_numerical_diff(f: Callable[[float], float], x: float) -> float:
    """``ch04/gradient_1d.py``: the central difference with ``h = 1e-4``."""
    h = 1e-4
    return (f(x + h) - f(x - h)) / (2 * h)


#: ``common/gradient.py``: every element perturbed in place through ``np.nditer``
#: (one home: :func:`nnnum.testing.book_numerical_gradient`).
book_gradient = book_numerical_gradient


def book_gradient_rows(f: Callable[[np.ndarray], float], X: np.ndarray) -> np.ndarray:
    """``ch04/gradient_2d.py``: the gradient at each row of ``X`` (figure 4-9's field)."""
    grad = np.zeros_like(X)
    for i, x in enumerate(X):
        grad[i] = book_gradient(f, x)
    return grad


def book_gradient_descent(
    f: Callable[[np.ndarray], float], init_x: np.ndarray, lr: float, step_num: int = 100
) -> np.ndarray:
    """``ch04/gradient_method.py``."""
    x = init_x.copy()
    for _ in range(step_num):
        x -= lr * book_gradient(f, x)
    return x


def function_2(x: np.ndarray) -> float:
    """The chapter's ``x0**2 + x1**2`` (``ch04/gradient_2d.py``)."""
    return x[0] ** 2 + x[1] ** 2


def function_field(x: np.ndarray) -> float:
    """Figure 4-9's function written for one point: ``np.sum(x**2)``."""
    return np.sum(x**2)


def book_train(net: Any, x_train, t_train, iters: int, batch: int = 100, lr: float = 0.1):
    """The loop of ``ch04/train_neuralnet.py`` (backprop), accuracies once per epoch."""
    train_size = x_train.shape[0]
    per_epoch = max(train_size / batch, 1)
    losses, accs = [], []
    for i in range(iters):
        mask = np.random.choice(train_size, batch)
        xb, tb = x_train[mask], t_train[mask]
        grad = net.gradient(xb, tb)
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= lr * grad[key]
        losses.append(net.loss(xb, tb))
        if i % per_epoch == 0:
            accs.append(net.accuracy(x_train, t_train))
    return losses, accs


# ------------------------------------------------------------------ the cases


def _mnist_like(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 digits with MNIST's sparsity (81% zeros) and one-hot targets, as the book."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 784), dtype=np.float32)
    x[rng.random((n, 784)) < 0.81] = 0.0
    return x, np.eye(10, dtype=np.float32)[rng.integers(0, 10, n)]


def cases(train_iters: int = 200) -> list[tuple[str, Callable[[], Any], Callable[[], Any]]]:
    """(name, nnnum call, book-style call) for every example of the chapter."""
    out: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = []

    def f1(x):
        return 0.01 * x**2 + 0.1 * x

    out.append(
        (
            "numerical_diff at 5",
            lambda: nnnum.numerical_diff(f1, 5.0),
            lambda: book_numerical_diff(f1, 5.0),
        )
    )
    for pt in ([3.0, 4.0], [0.0, 2.0]):
        x = np.array(pt)
        out.append(
            (
                f"numerical_gradient(function_2, {pt})",
                lambda x=x: nnnum.numerical_gradient(function_2, x),
                lambda x=x: book_gradient(function_2, x.copy()),
            )
        )
    g0, g1 = np.meshgrid(np.arange(-2, 2.5, 0.25), np.arange(-2, 2.5, 0.25))
    field = np.array([g0.flatten(), g1.flatten()]).T.copy()  # 324 points (figure 4-9)
    out.append(
        (
            "gradient field, 324 points (figure 4-9)",
            lambda: nnnum.numerical_gradient_2d(function_field, field),
            lambda: book_gradient_rows(function_field, field.copy()),
        )
    )
    init = np.array([-3.0, 4.0])
    for lr in (0.1, 10.0, 1e-10):
        out.append(
            (
                f"gradient_descent lr={lr:g}, 100 steps",
                lambda lr=lr: _quiet(
                    lambda: nnnum.gradient_descent(function_2, init, lr=lr, step_num=100)
                ),
                lambda lr=lr: _quiet(lambda: book_gradient_descent(function_2, init, lr)),
            )
        )
    net_s = nnnum.simpleNet(seed=0)
    book_s = BookSimpleNet(net_s.W)
    xs, ts = np.array([0.6, 0.9]), np.array([0.0, 0.0, 1.0])
    out.append(
        (
            "simpleNet gradient of W",
            lambda: nnnum.numerical_gradient(lambda w: net_s.loss(xs, ts), net_s.W),
            lambda: book_gradient(lambda w: book_s.loss(xs, ts), net_s.W),
        )
    )
    net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
    book = BookTwoLayerNet({k: v.copy() for k, v in net.params.items()})
    x, t = _mnist_like(100)
    for name in ("loss", "accuracy", "gradient"):
        out.append(
            (
                f"TwoLayerNet(784, 50, 10).{name}, batch 100",
                lambda name=name: getattr(net, name)(x, t),
                lambda name=name: getattr(book, name)(x, t),
            )
        )
    xn, tn = _mnist_like(3, seed=1)
    small = nnnum.TwoLayerNet(784, 50, 10, seed=0)
    small_book = BookTwoLayerNet({k: v.copy() for k, v in small.params.items()})
    out.append(
        (
            "TwoLayerNet.numerical_gradient, batch 3",
            lambda: small.numerical_gradient(xn, tn),
            lambda: small_book.numerical_gradient(xn, tn),
        )
    )
    xtr, ttr = _mnist_like(2000, seed=2)

    def run_nnnum() -> Any:
        np.random.seed(0)
        return book_train(nnnum.TwoLayerNet(784, 50, 10, seed=0), xtr, ttr, train_iters)

    def run_book() -> Any:
        np.random.seed(0)
        fresh = nnnum.TwoLayerNet(784, 50, 10, seed=0).params
        return book_train(BookTwoLayerNet(fresh), xtr, ttr, train_iters)

    out.append((f"training loop, {train_iters} backprop iterations", run_nnnum, run_book))
    return out


def _quiet(fn: Callable[[], Any]) -> Any:
    import warnings

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn()


def side_by_side(
    a: Callable[[], Any], b: Callable[[], Any], rounds: int = 7
) -> tuple[float, float]:
    """Best of ``rounds`` of each, interleaved (each round times both): (time a, time b)."""
    a()
    b()
    ta = tb = float("inf")
    for _ in range(rounds):
        number = 1
        t0 = time.perf_counter()
        a()
        once = time.perf_counter() - t0
        number = max(1, int(0.02 / max(once, 1e-7)))
        t0 = time.perf_counter()
        for _ in range(number):
            a()
        ta = min(ta, (time.perf_counter() - t0) / number)
        t0 = time.perf_counter()
        for _ in range(number):
            b()
        tb = min(tb, (time.perf_counter() - t0) / number)
    return ta, tb


def ratios(rounds: int = 7, train_iters: int = 200) -> dict[str, tuple[float, float]]:
    """{case: (nnnum seconds, book seconds)}, BLAS on one thread."""
    from threadpoolctl import threadpool_limits

    res = {}
    with threadpool_limits(1, user_api="blas"):
        for name, ours, theirs in cases(train_iters):
            res[name] = side_by_side(ours, theirs, rounds=3 if "training" in name else rounds)
    return res


def show(rounds: int = 7, train_iters: int = 200) -> None:
    tab = Table(
        "The chapter's examples: nnnum against book-style code (one BLAS thread)",
        ["example", "book-style", "nnnum", "book / nnnum (> 1: nnnum faster)"],
    )
    for name, (ours, theirs) in ratios(rounds, train_iters).items():
        tab.add(name, _fmt(theirs), _fmt(ours), f"{theirs / ours:.2f}")
    tab.show()


def _fmt(t: float) -> str:
    return f"{t * 1e6:.1f} us" if t < 1e-3 else (f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s")


if __name__ == "__main__":
    show(rounds=int(sys.argv[1]) if len(sys.argv) > 1 else 7)
