"""Mini-batch SGD, as the book's ``train_neuralnet.py``, with numerical or backprop gradients."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .. import backends as _backend

__all__ = ["train", "TrainHistory", "TrainingDivergedError", "plot_history"]

GradientKind = Literal["numerical", "backprop"]

#: The step ``h`` that ``net.numerical_gradient`` takes by default.
NUMERICAL_H = 1e-4


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


class TrainingDivergedError(FloatingPointError):
    """Training diverged: a loss, gradient or updated parameter is not finite.

    Raised by :func:`train` (a :class:`FloatingPointError`, so code catching
    that keeps working). The network's ``params`` are left exactly as they
    were before the failing iteration's update.

    Attributes
    ----------
    iteration : int
        The iteration (0-based, as ``TrainHistory.eval_iters``) that failed.
    reason : str
        What was not finite (or too large), in words.
    history : TrainHistory
        What was measured up to the failure (``train_loss`` ends with that
        iteration's loss).
    """

    def __init__(self, iteration: int, reason: str, history: TrainHistory) -> None:
        self.iteration = iteration
        self.reason = reason
        self.history = history
        super().__init__(
            f"training diverged at iteration {iteration}: {reason}; the params are left as they "
            "were before this step (try a lower lr)"
        )


def _param_trouble(params: dict[str, Any], h: float = NUMERICAL_H) -> str | None:
    """Why the numerical gradient cannot work at ``params`` (non-finite, or too large), or None."""
    xp = _backend.current().xp
    for key, p in params.items():
        if not bool(xp.isfinite(p).all()):
            return f"{key} is not finite"
        if bool(((p + h) - (p - h) <= 0).any()):
            big = _host_float(xp.abs(p).max())
            return f"{key} reaches {big:.3g}, too large for the numerical gradient's step h={h:g}"
    return None


def _host_float(v: Any) -> float:
    return float(v.get()) if hasattr(v, "get") else float(v)


def _check_data(net: Any, x: Any, t: Any, name: str) -> tuple[Any, Any]:
    """The network's own checks, naming the data set: whole batches only, no single sample."""
    x, t = net.check_batch(x, t, name)
    return x, t


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
    verbose: bool = False,
    callback: Callable[[TrainHistory], None] | None = None,
) -> TrainHistory:
    """Train ``net`` by mini-batch SGD, as in the book's ``train_neuralnet.py``.

    Each iteration samples ``batch_size`` training examples (with a seeded
    :class:`numpy.random.Generator`), takes the gradient (``"numerical"``:
    ``net.numerical_gradient``, the fast structured one for ``TwoLayerNet``;
    ``"backprop"``: ``net.gradient``) and updates every parameter by
    ``-lr * grad``. Accuracies on the full training and test sets are measured
    once per epoch (``max(n_train // batch_size, 1)`` iterations) and after
    the last iteration.

    Parameters
    ----------
    net : TwoLayerNet
    x_train, t_train : array_like
        Training inputs ``(n, input_size)`` and labels (or one-hot targets).
    x_test, t_test : array_like, optional
        Test set for the per-epoch test accuracy.
    iters : int
        Iterations (mini-batch updates), at least 1.
    batch_size : int
        Samples per mini-batch; clamped to the training set's size (the size
        used is ``TrainHistory.batch_size``).
    lr : float
        Learning rate, finite and > 0.
    gradient : {"numerical", "backprop"}
    seed : int or Generator
        Seeds the mini-batch sampling: the same seed gives the same batches.
    progress : bool, optional
        Show a tqdm progress bar; by default only for runs of 500+ iterations
        on a terminal. ``False`` is quiet.
    verbose : bool
        Print the book's line at each evaluation, ``train acc, test acc |
        0.9, 0.91`` (``train acc | 0.9`` without test data), to stdout (through
        tqdm when its bar is shown). Default: quiet.
    callback : callable, optional
        Called as ``callback(history)`` after each evaluation, with the
        history so far (``history.eval_iters[-1]`` is the iteration).

    Returns
    -------
    TrainHistory

    Raises
    ------
    TrainingDivergedError
        A :class:`FloatingPointError`: the loss, a gradient or an updated
        parameter is not finite, or the parameters grew too large for the
        numerical gradient's step (its ``StepResolutionError``); ``params``
        are left as they were before that iteration's update.
    ValueError
        Bad arguments or data (shapes, NaN/inf inputs, labels out of range).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> from nnnum.data import load_digits, train_test_split
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
    for key, p in net.params.items():
        if not bool(xp.isfinite(p).all()):
            raise ValueError(f"net.params[{key!r}] contains NaN or inf before training")
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

    def diverged(i: int, reason: str) -> TrainingDivergedError:
        return TrainingDivergedError(i, reason, hist)

    t0 = time.perf_counter()
    try:
        # divergence is detected explicitly (TrainingDivergedError), not by NumPy's warnings
        with _blas_single_thread(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for i in range(iters):
                idx = xp.asarray(rng.choice(n_train, batch_size, replace=False))
                xb, tb = x_train[idx], t_train[idx]
                loss = net.loss(xb, tb)
                losses.append(loss)
                if not bool(xp.isfinite(xp.asarray(loss))):
                    raise diverged(i, f"the loss is {_host_float(loss)}")
                try:
                    grads = grad_fn(xb, tb)
                except (ValueError, FloatingPointError) as exc:
                    # the data were checked above: what fails here is the parameters
                    trouble = _param_trouble(net.params)
                    if trouble is None and isinstance(exc, FloatingPointError):
                        trouble = f"the {gradient} gradient failed ({exc})"
                    if trouble is None:
                        raise
                    raise diverged(i, trouble) from exc
                new = {key: p - lr * grads[key] for key, p in net.params.items()}
                # one check (one device sync) of every updated parameter: a NaN/inf gradient or
                # an overflowing update shows there; the error path then says which it was
                if not bool(xp.stack([xp.isfinite(v).all() for v in new.values()]).all()):
                    for key in new:  # pragma: no branch (a non-finite one raises)
                        if not bool(xp.isfinite(grads[key]).all()):
                            raise diverged(i, f"the {gradient} gradient of {key} is not finite")
                        if not bool(xp.isfinite(new[key]).all()):
                            raise diverged(i, f"the update of {key} overflows (lr={lr:g})")
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
                    if verbose:
                        _print_epoch(hist, has_test, bar)
                    if callback is not None:
                        callback(hist)
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


def _print_epoch(hist: TrainHistory, has_test: bool, bar: Any) -> None:
    """The book's per-epoch line (``train_neuralnet.py``), around the progress bar if any."""
    if has_test:
        line = f"train acc, test acc | {hist.train_acc[-1]}, {hist.test_acc[-1]}"
    else:
        line = f"train acc | {hist.train_acc[-1]}"
    if bar is not None:
        bar.write(line, file=sys.stdout)
    else:
        print(line, flush=True)


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
