"""Gradient descent with numerical gradients (the book's ``gradient_descent``)."""

from __future__ import annotations

import warnings
from typing import Any, Callable, NamedTuple

import numpy as np

from .gradient import StepResolutionError, _scalar_result, numerical_gradient

__all__ = ["gradient_descent", "DescentHistory", "DivergenceWarning"]


class DivergenceWarning(RuntimeWarning):
    """Gradient descent left the range where a numerical gradient can be taken."""


class DescentHistory(NamedTuple):
    """The path of :func:`gradient_descent`.

    Attributes
    ----------
    x : ndarray, shape (step_num + 1, *init_x.shape)
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
    h: float = 1e-4,
    history: bool = False,
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
    h : float, keyword-only
        Step of the numerical gradient.
    history : bool, keyword-only
        Also return a :class:`DescentHistory` with every ``x`` and ``f(x)``,
        to plot the path as the book does.

    Returns
    -------
    x : ndarray
        The final point. If ``x`` grows so large that ``x + h == x`` (or ``f``
        overflows) the descent has diverged: a :class:`DivergenceWarning` is
        issued and the last point returned (the history stops there).
        Float64, with ``init_x``'s shape.
    history : DescentHistory
        Only when ``history=True``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> f = lambda x: x[0]**2 + x[1]**2
    >>> x = nnnum.gradient_descent(f, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    >>> bool(np.all(np.abs(x) < 1e-8))
    True
    """
    if isinstance(step_num, bool) or not isinstance(step_num, (int, np.integer)) or step_num < 0:
        raise ValueError(f"step_num must be an integer >= 0, got {step_num!r}")
    lr = float(lr)
    if not np.isfinite(lr):
        raise ValueError(f"lr must be finite, got {lr!r}")
    x = np.array(init_x, dtype=np.float64)
    xs = np.empty((step_num + 1,) + x.shape) if history else None
    fs = np.empty(step_num + 1) if history else None
    done = step_num
    for i in range(step_num):
        if xs is not None and fs is not None:
            xs[i] = x
            fs[i] = _scalar_result(f(x), f"step {i}")
        try:
            grad = numerical_gradient(f, x, h=h)
        except (StepResolutionError, FloatingPointError) as exc:
            warnings.warn(
                f"gradient descent diverged at step {i} (max |x| = {np.abs(x).max():.3g}); "
                f"returning the last point. Lower lr. ({exc})",
                DivergenceWarning,
                stacklevel=2,
            )
            done = i
            break
        x = x - lr * grad
    if xs is None or fs is None:
        return x
    xs[done] = x
    fs[done] = _scalar_result(f(x), f"step {done}")
    return x, DescentHistory(xs[: done + 1], fs[: done + 1])
