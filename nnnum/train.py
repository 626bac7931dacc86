"""Mini-batch SGD, as the book's ``train_neuralnet.py``, with numerical or backprop gradients."""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import _backend

__all__ = ["train", "TrainHistory", "plot_history"]

GradientKind = Literal["numerical", "backprop"]


@dataclass
class TrainHistory:
    """What :func:`train` measured, as plain host data.

    Attributes
    ----------
    train_loss : ndarray
        Mini-batch loss after each iteration's forward pass (before its update).
    eval_iters : list of int
        Iterations at which the accuracies were measured (once per epoch).
    train_acc, test_acc : list of float
        Accuracy on the whole training and test sets at those iterations
        (``test_acc`` empty without test data).
    seconds : float
        Wall time of the training loop, evaluations included.
    """

    gradient: str
    lr: float
    batch_size: int
    iters: int
    train_loss: np.ndarray = field(default_factory=lambda: np.empty(0))
    eval_iters: list[int] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: float = 0.0


def _host_float(v: Any) -> float:
    return float(v.get()) if hasattr(v, "get") else float(v)


def _check_data(net: Any, x: Any, t: Any, name: str) -> tuple[Any, Any]:
    """The network's own checks, naming the data set: whole batches only, no single sample."""
    x = net._check_x(x, name, one_sample_ok=False)
    net._labels(x, t, f"the labels of {name}")
    return x, _backend.current().xp.asarray(t)


def _blas_single_thread() -> contextlib.AbstractContextManager[Any]:
    """One BLAS thread while Numba kernels run: spinning BLAS threads would halve them."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def train(
    net: Any,
    x_train: Any,
    t_train: Any,
    x_test: Any = None,
    t_test: Any = None,
    *,
    iters: int = 1000,
    batch_size: int = 100,
    lr: float = 0.1,
    gradient: GradientKind = "numerical",
    seed: int | np.random.Generator | None = 0,
    progress: bool | None = None,
) -> TrainHistory:
    """Train ``net`` by mini-batch SGD, as in the book's ``train_neuralnet.py``.

    Each iteration samples ``batch_size`` training examples (with a seeded
    :class:`numpy.random.Generator`), takes the gradient (``"numerical"``:
    ``net.numerical_gradient``, the fast structured one for ``TwoLayerNet``;
    ``"backprop"``: ``net.gradient``) and updates every parameter by
    ``-lr * grad``. Accuracies on the full training and test sets are measured
    once per epoch (``max(n_train // batch_size, 1)`` iterations).

    Parameters
    ----------
    net : TwoLayerNet
    x_train, t_train : array_like
        Training inputs ``(n, input_size)`` and labels (or one-hot targets).
    x_test, t_test : array_like, optional
        Test set for the per-epoch test accuracy.
    iters, batch_size : int
    lr : float
        Learning rate.
    gradient : {"numerical", "backprop"}
    seed : int or Generator
        Seeds the mini-batch sampling: the same seed gives the same batches.
    progress : bool, optional
        Show a tqdm progress bar; by default only for runs of 500+ iterations
        on a terminal. ``False`` is quiet.

    Returns
    -------
    TrainHistory

    Raises
    ------
    FloatingPointError
        A non-finite gradient; ``params`` are left as they were before that step.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> from nnnum.datasets import load_digits, train_test_split
    >>> (xtr, ttr), (xte, tte) = train_test_split(*load_digits(), seed=0)
    >>> net = nnnum.TwoLayerNet(64, 30, 10, weight_init_std=0.1, seed=0)
    >>> hist = nnnum.train(net, xtr, ttr, xte, tte, iters=300, lr=2.0, progress=False)
    >>> hist.test_acc[-1] > 0.85
    True
    """
    if gradient not in ("numerical", "backprop"):
        raise ValueError(f"gradient must be 'numerical' or 'backprop', not {gradient!r}")
    for name, v in (("iters", iters), ("batch_size", batch_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    lr = float(lr)
    if not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    xp = _backend.current().xp
    x_train, t_train = _check_data(net, x_train, t_train, "x_train")
    has_test = x_test is not None
    if has_test:
        x_test, t_test = _check_data(net, x_test, t_test, "x_test")
    n_train = x_train.shape[0]
    batch_size = min(batch_size, n_train)
    iter_per_epoch = max(n_train // batch_size, 1)
    rng = np.random.default_rng(seed)
    hist = TrainHistory(gradient=gradient, lr=lr, batch_size=batch_size, iters=iters)
    losses = []
    show = iters >= 500 if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        # disable=None: no bar when stderr is not a terminal (logs, CI) unless progress=True
        bar = tqdm(
            total=iters,
            desc=f"train ({gradient})",
            unit="it",
            leave=False,
            disable=None if progress is None else False,
            mininterval=0.5,
        )
    grad_fn = net.numerical_gradient if gradient == "numerical" else net.gradient
    t0 = time.perf_counter()
    try:
        with _blas_single_thread():
            for i in range(iters):
                idx = xp.asarray(rng.choice(n_train, batch_size, replace=False))
                xb, tb = x_train[idx], t_train[idx]
                losses.append(net.loss(xb, tb))
                grads = grad_fn(xb, tb)
                new = {}
                for key, p in net.params.items():
                    g = grads[key]
                    if not bool(xp.isfinite(g).all()):
                        raise FloatingPointError(
                            f"non-finite {gradient} gradient of {key} at iteration {i}; params "
                            f"are left as they were before this step (lower lr?)"
                        )
                    new[key] = p - lr * g
                net.params.update(new)  # all or nothing
                if i % iter_per_epoch == 0 or i == iters - 1:
                    hist.eval_iters.append(i)
                    hist.train_acc.append(net.accuracy(x_train, t_train))
                    if has_test:
                        hist.test_acc.append(net.accuracy(x_test, t_test))
                    if bar is not None:
                        bar.set_postfix(
                            loss=f"{_host_float(losses[-1]):.3f}",
                            test_acc=f"{hist.test_acc[-1]:.3f}" if has_test else "-",
                        )
                if bar is not None:
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        hist.seconds = time.perf_counter() - t0
        if losses and xp is not np:  # one transfer of the whole history from the device
            hist.train_loss = np.asarray(xp.stack([xp.asarray(v) for v in losses]).get())
        else:
            hist.train_loss = np.array([float(v) for v in losses])
    return hist


def plot_history(hist: TrainHistory, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the book's figures to a PNG: loss per iteration, train/test accuracy per epoch.

    Returns
    -------
    Path
        Where the PNG was written.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(np.arange(len(hist.train_loss)), hist.train_loss, lw=0.8)
    ax1.set_xlabel("iteration")
    ax1.set_ylabel("loss")
    ax1.set_title(f"training loss ({hist.gradient} gradient)")
    epochs = np.arange(len(hist.train_acc))
    few = len(epochs) <= 40
    ax2.plot(epochs, hist.train_acc, marker="o" if few else None, label="train acc")
    if hist.test_acc:
        ax2.plot(
            epochs, hist.test_acc, marker="s" if few else None, linestyle="--", label="test acc"
        )
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("accuracy")
    ax2.set_ylim(0, 1.0)
    ax2.legend(loc="lower right")
    ax2.set_title("accuracy")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
