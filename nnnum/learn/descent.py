"""Gradient descent with numerical gradients (the book's ``gradient_descent``)."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np

from .. import backends as _backend
from .._core.jit import is_jitted
from ..diff.api import Method, numerical_gradient
from ..diff.checks import NonFiniteError
from ..diff.checks import scalar_result as _scalar_result
from ..diff.engines.loop import float_view
from ..diff.finish import raise_not_finite2
from ..diff.options import check_engine, check_flag, check_options, check_parallel_applies
from ..diff.steps import DEFAULT_H, StepResolutionError, where

__all__ = ["gradient_descent", "DescentHistory", "DivergenceWarning"]


_STALLED = (
    "the gradient is exactly zero after |x| grew: f's values no longer change under the "
    "perturbation h, which the rounding of f (or a plateau it reached) swallows"
)
#: Up to this many parameters a book-style descent runs each step in Python floats.
_FLOAT_STEPS = 64
_isfinite = math.isfinite
_F64 = np.float64


class DivergenceWarning(RuntimeWarning):
    """Gradient descent left the range where a numerical gradient can be taken."""


class DescentHistory(NamedTuple):
    r"""The path of :func:`gradient_descent`.

    Attributes
    ----------
    x : ndarray, shape (step_num + 1, \*init_x.shape)
        ``x`` before the first step and after each step.
    f : ndarray, shape (step_num + 1,)
        ``f(x)`` at each of those points.
    """

    x: np.ndarray
    f: np.ndarray


def gradient_descent(
    f: Callable[[Any], Any],
    init_x: Any,
    lr: float = 0.01,
    step_num: int = 100,
    *,
    h: float | Literal["auto"] | None = None,
    order: int = 2,
    method: Method = "central",
    richardson: int = 0,
    parallel: bool | None = None,
    batched: bool = False,
    history: bool | Literal["full"] = False,
    workers: Any = None,
) -> Any:
    r"""Minimise ``f`` by gradient descent with central-difference gradients.

    .. math:: x \leftarrow x - \eta \, \nabla f(x)

    Parameters
    ----------
    f : callable
        ``f(x) -> float``; a Numba-compiled ``f`` uses the parallel kernel.
    init_x : array_like
        Starting point; never modified (the book's version updates it in place).
    lr : float
        Learning rate :math:`\eta`.
    step_num : int
        Number of steps.
    h, order, method, richardson, parallel, batched : keyword-only
        How each gradient is taken, as in :func:`nnnum.numerical_gradient`:
        by default the book's central difference with ``h = 1e-4``; e.g.
        ``order=4``, ``h="auto"``, or ``method="complex"`` (the complex step,
        for an ``f`` that accepts complex input).
    history : bool or "full", keyword-only
        ``True``: also return ``x_history``, an ndarray of shape
        ``(step_num, *init_x.shape)`` holding the point *before* each step,
        exactly the book's ``gradient_method.py`` form (plot ``x_history[:, 0]``
        against ``x_history[:, 1]``). ``"full"``: also return a
        :class:`DescentHistory` with every point, the final one included, and
        ``f`` at each.
    workers : int, callable, Executor or dask.distributed.Client, optional
        Evaluate each gradient's perturbations on other processes or machines
        (see :func:`nnnum.numerical_gradient`). An ``int`` starts a pool per
        step: for many steps pass an Executor or a Dask ``Client``.

    Returns
    -------
    x : ndarray
        The final point, float64, with ``init_x``'s shape.
    x_history : ndarray or DescentHistory
        Only when ``history`` is set.

    Warns
    -----
    DivergenceWarning
        When ``x`` grows so large that ``x + h == x``, ``f`` overflows or a step
        leaves the finite numbers: the descent has diverged. The last finite
        point is returned and the history stops there (fewer than ``step_num``
        rows).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> f = lambda x: x[0]**2 + x[1]**2
    >>> x = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    >>> bool(np.all(np.abs(x) < 1e-8))
    True
    >>> x, x_history = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), 0.1, 20, history=True)
    >>> x_history.shape, x_history[0].tolist()
    ((20, 2), [-3.0, 4.0])
    >>> x = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), 0.1, 100, method="complex")
    >>> bool(np.all(np.abs(x) < 1e-8))
    True
    """
    if isinstance(step_num, bool) or not isinstance(step_num, (int, np.integer)) or step_num < 0:
        raise ValueError(f"step_num must be an integer >= 0, got {step_num!r}")
    if isinstance(lr, (bool, np.bool_)) or not isinstance(
        lr, (int, float, np.integer, np.floating)
    ):
        raise TypeError(f"lr must be a real number, got {type(lr).__name__} {lr!r}")
    lr = float(lr)
    if not np.isfinite(lr):
        raise ValueError(f"lr must be finite, got {lr!r}")
    if not (isinstance(history, str) and history == "full"):
        try:
            history = check_flag(history, "history")
        except TypeError:
            raise ValueError(
                f"history must be False, True or 'full', got {type(history).__name__} {history!r}"
            ) from None
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    # bad options fail here, before the first step (even for step_num=0)
    _, _, _, is_complex = check_options(h, order, method, richardson)
    batched = check_flag(batched, "batched")
    parallel = check_flag(parallel, "parallel", allow_none=True)
    check_engine(is_complex, batched, parallel, workers, None)
    check_parallel_applies(f, parallel)
    x0 = np.asarray(init_x)
    if np.issubdtype(x0.dtype, np.complexfloating) or not (
        np.issubdtype(x0.dtype, np.number) or x0.dtype == np.bool_
    ):
        raise TypeError(f"init_x must be real numbers, got dtype {x0.dtype}")
    x = np.array(x0, dtype=np.float64)
    if not np.isfinite(x).all():
        i = int(np.flatnonzero(~np.isfinite(x).reshape(-1))[0])
        raise ValueError(f"init_x is not finite at flat index {i}: the descent cannot start there")
    xs = np.empty((step_num + 1,) + x.shape) if history else None
    done = step_num
    # a gradient that is exactly zero after the iterate grew this far is a divergence whose
    # perturbation the rounding of f swallowed, not a minimum
    grown = 2.0 * max(float(np.abs(x).max()) if x.size else 0.0, 1.0)
    # the book's options on a plain f of a few numbers: each step in Python floats (the same
    # bits; x is the descent's own array, so no region lock), else numerical_gradient
    cur = (
        x.reshape(-1).tolist()
        if _is_book_call(h, order, method, richardson, parallel, batched, workers)
        and 0 < x.size <= _FLOAT_STEPS
        and not is_jitted(f)
        and not _backend.current().DEVICE
        else None
    )
    hf = DEFAULT_H if h is None or isinstance(h, str) else float(h)
    first = 0
    if cur is not None:
        x, first, stop = _book_steps(f, x, cur, lr, hf, step_num, xs)
        if stop is not None:
            why, exc = stop
            if exc is not None and first == 0:
                raise exc  # at init_x itself: the caller's h or f, not a divergence
            _diverged(first, x, why)
            step_num = done = first
    for i in range(first, step_num):  # the general path goes on from the step it is given
        if xs is not None:
            xs[i] = x
        try:
            grad = numerical_gradient(
                f, x, h=h, order=order, method=method, richardson=richardson,
                parallel=parallel, batched=batched, workers=workers,
            )  # fmt: skip
        except (StepResolutionError, NonFiniteError) as exc:
            # f's own exceptions pass through as themselves: only nnnum's word that x + h
            # rounds away or that f's values left the finite numbers is divergence
            if i == 0:
                raise  # at init_x itself: the caller's h or f, not a divergence
            _diverged(i, x, str(exc))
            done = i
            break
        if x.size and not grad.any():
            if i == 0:
                _check_reads_argument(f, x)
            elif float(np.abs(x).max()) > grown:
                _diverged(i, x, _STALLED)
                done = i
                break
        with np.errstate(over="ignore", invalid="ignore"):
            new = x - lr * grad
        if not np.isfinite(new).all():
            _diverged(i, x, "the step left the finite numbers")
            done = i
            break
        x = new
    if xs is None:
        return x
    if history is True:
        return x, xs[:done]
    xs[done] = x
    fs = np.array([_scalar_result(f(xs[k].copy()), f"step {k}") for k in range(done + 1)])
    return x, DescentHistory(xs[: done + 1], fs)


def _book_steps(
    f: Callable[[Any], Any],
    x: np.ndarray,
    cur: list[float],
    lr: float,
    h: float,
    step_num: int,
    xs: np.ndarray | None,
) -> tuple[np.ndarray, int, tuple[str, Exception | None] | None]:
    """The book's descent on a few float64 parameters, each step in Python floats.

    The same bits as ``x - lr * numerical_gradient(f, x)`` per step (Python's
    float arithmetic is NumPy's float64 arithmetic). Returns ``(x, i, stop)``:
    ``stop`` is None when all steps ran, else ``(why, exception)`` for a
    divergence at step ``i`` (``x`` the last point); step ``i`` is then handed
    to the general path only where a step rounds (no ``f`` was called for it).
    The perturbation loop is :func:`nnnum.diff.engines.loop.central2_floats`'s,
    fused with the update: calling it per step cost a third more per step.
    """
    two_h, tol = 2.0 * h, 0.02 * h
    n = len(cur)
    rng = range(n)
    shape = x.shape
    plus, minus, steps = [0.0] * n, [0.0] * n, [0.0] * n
    fp, fm, grad, new = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    # x is the descent's own array, updated in place as the book's descent updates its x
    mv = float_view(x.reshape(-1))
    grown = 2.0 * max(max(map(abs, cur)), 1.0)
    for i in range(step_num):
        if xs is not None:
            xs[i] = x
        for k in rng:
            v = cur[k]
            p, m = v + h, v - h
            s = p - m
            if not abs(s - two_h) <= tol:  # NaN fails it too: the general path warns or raises
                return x, i, None
            plus[k], minus[k], steps[k] = p, m, s
        k, v = -1, 0.0
        finite = True
        try:
            for k in rng:
                v = cur[k]
                mv[k] = plus[k]
                a = f(x)
                mv[k] = minus[k]
                b = f(x)
                mv[k] = v
                # Python floats (a NumPy scalar would warn where the step overflows)
                if a.__class__ is not float:
                    a = (
                        float(a)
                        if a.__class__ is _F64
                        else _scalar_result(a, f"{where(shape, k)} + h")
                    )
                if b.__class__ is not float:
                    b = (
                        float(b)
                        if b.__class__ is _F64
                        else _scalar_result(b, f"{where(shape, k)} - h")
                    )
                fp[k], fm[k] = a, b
                g = (a - b) / steps[k]
                grad[k] = g
                new[k] = v - lr * g  # numpy's x - lr * grad, bit for bit
                finite = finite and _isfinite(g)
        finally:
            if k >= 0:
                mv[k] = v
        if not finite:
            try:
                raise_not_finite2(np.array([fp, fm]), np.array(grad), shape)
            except NonFiniteError as exc:
                return x, i, (str(exc), exc)
        if not any(grad):
            if i == 0:
                _check_reads_argument(f, x)
            elif max(map(abs, cur)) > grown:
                return x, i, (_STALLED, None)
        if not all(map(_isfinite, new)):
            return x, i, ("the step left the finite numbers", None)
        cur[:] = new
        for k in rng:
            mv[k] = new[k]
    return x, step_num, None


def _is_book_call(
    h: Any, order: Any, method: Any, richardson: Any, parallel: Any, batched: Any, workers: Any
) -> bool:
    """Whether each gradient is the book's two-point central difference with a float ``h``."""
    return (
        (h is None or type(h) is float)
        and type(order) is int
        and order == 2
        and method == "central"
        and type(richardson) is int
        and richardson == 0
        and parallel is None
        and batched is False
        and workers is None
    )


def _check_reads_argument(f: Callable[[Any], Any], x: np.ndarray) -> None:
    """A ValueError where ``f`` gives one value at ``x`` and at two points far from it.

    Called once, when the first gradient is exactly zero: the book's closure
    ``lambda w: net.loss(x, t)`` reads ``net.W``, which the descent never
    changes (it descends on a copy of ``init_x``), so ``f`` never sees ``x``.
    The probes move every element by a different amount (a fixed pattern, so
    the check is repeatable): an ``f`` flat along the diagonal or periodic in
    a step is not taken for one that ignores its argument; one that raises
    or returns a non-number at a probe reads it.
    """
    k = np.arange(x.size, dtype=np.float64).reshape(x.shape)
    pattern = np.where(k % 2 == 0, 1.0, -1.0) * (1.0 + 0.618 * (k % 5))
    scale = np.maximum(np.abs(x), 1.0)
    probes = (x + 7.0710678e-4 * scale * pattern, -x + 2.7182818 * scale * pattern)
    try:
        at_x = _scalar_result(f(x.copy()), "init_x")
        same = all(_scalar_result(f(p), "a probe") == at_x for p in probes)
    except Exception:  # noqa: BLE001 (an f that fails somewhere else reads its argument)
        return
    if not same:
        return
    raise ValueError(
        "f returns the same value at init_x and at points far from it: it does not read its "
        "argument, so gradient descent cannot move it. gradient_descent never modifies "
        "init_x (the book's version updates it in place, which is why its closure "
        "`lambda w: net.loss(x, t)` trains net.W there): it passes its own copy to f. Write f "
        "of its argument, e.g. `def f(W): net.W[...] = W; return net.loss(x, t)`, or for a "
        "network use net.numerical_gradient. (If f is really constant, as accuracy is as a "
        "loss over a wide region, no step can leave: use a loss with a gradient.)"
    )


def _diverged(i: int, x: np.ndarray, why: str) -> None:
    warnings.warn(
        f"gradient descent diverged at step {i} (max |x| = {np.abs(x).max():.3g}); "
        f"returning the last point. Lower lr. ({why})",
        DivergenceWarning,
        stacklevel=3,
    )
