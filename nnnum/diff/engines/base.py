"""The Engine protocol: one way to evaluate a plan of perturbations, whatever runs ``f``.

An engine is a module (or any object) with four functions:

* ``accepts(f, target, options) -> bool``: whether it is the one to run ``f``
  (:func:`nnnum.diff.engines.select` asks the engines of its registry in order);
* ``prepare(f, target, options)``: a context manager giving the :class:`Target`
  to plan on: ``flat``, the values of ``x`` the perturbations are made from
  (taken while ``x``'s memory is held: no other thread's perturbation in them),
  ``base``, a private copy where the engine evaluates on one, and ``extra``,
  the calls of ``f`` it made to check it; ``x``'s memory stays held while the
  context is open where the engine perturbs ``x`` itself;
* ``evaluate(f, target, points, labels, options) -> ndarray (R, n)``:
  ``F[r, i] = f(x with x_i = points[r, i])``, every other element unchanged
  (``labels[r]`` says what row ``r`` adds to ``x_i``, for messages);
* ``f_at_x(f, target, options) -> float``: ``f`` at ``x`` itself;
* ``evaluate_sets(f, base, pert, out_shape, options, scratch) -> ndarray (P, M)``:
  the second job, for the Jacobian and the Hessian: ``F[p] = f(base perturbed by
  set p).ravel()`` for the sets of :class:`nnnum.diff.perturb.Perturbations`, ``f``
  returning an array of ``out_shape`` (``f`` gets a copy of ``base``, never ``x``).

:func:`run` is the one way they are driven: prepare, plan and finish
(:func:`nnnum.diff.finish.differentiate`), evaluating through the engine.
Engines know nothing of stencils or steps.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from ..finish import Outcome, differentiate
from ..stencils import Stencil

__all__ = ["Engine", "Options", "Target", "UnseenPerturbationWarning", "run", "warn_if_unseen"]


@dataclass
class Options:
    """What the caller asked of the engine; each engine reads the fields it needs.

    Parameters
    ----------
    parallel : bool or None
        The ``prange`` kernel or its serial twin (jitted ``f``).
    workers : Any
        ``workers=`` (checked): other processes or machines.
    progress : bool or None
        The progress bar, with ``workers``.
    batched : bool
        ``f`` takes a batch ``(B, *x.shape)`` of parameter copies.
    chunk : int or None
        Perturbed copies per call of a batched ``f``.
    backend : Any
        The backend module (:func:`nnnum.backends.current`).
    desc : str
        The progress bar's name: the public function asked.
    """

    parallel: bool | None = None
    workers: Any = None
    progress: bool | None = None
    batched: bool = False
    chunk: int | None = None
    backend: Any = None
    desc: str = "numerical_gradient"


@dataclass
class Target:
    """``x`` as the engines see it.

    Parameters
    ----------
    x : Any
        The caller's argument, as given (for messages).
    fx : Any
        The caller's object, which ``f`` is called with and may close over
        (its memory is ``arr``'s); for a batched ``f``, the array on the backend.
    arr : Any
        A plain-ndarray view of ``fx``'s memory, checked (batched: ``fx``).
    shape : tuple of int
        ``x``'s shape.
    copied : bool
        ``x`` was copied into a new array (a list, ...) that an ``f`` reading
        the parameters it closes over never sees: see :func:`warn_if_unseen`.
    flat : ndarray or None
        Set by ``prepare``: ``x``'s values in C order, float (what is planned on).
    base : Any
        Set by ``prepare``: the engine's private copy of ``x``, where it has one.
    extra : int
        Set by ``prepare``: calls of ``f`` made to check it, counted in ``nfev``.
    """

    x: Any
    fx: Any
    arr: Any
    shape: tuple[int, ...]
    copied: bool = False
    flat: np.ndarray | None = None
    base: Any = None
    extra: int = 0

    def ready(self, flat: np.ndarray, base: Any = None, extra: int = 0) -> Target:
        """A copy of this target with what ``prepare`` took (the caller's stays as it was)."""
        return Target(self.x, self.fx, self.arr, self.shape, self.copied, flat, base, extra)


class Engine(Protocol):
    """What an engine implements (a module satisfies it with four functions)."""

    def accepts(self, f: Any, target: Target, options: Options) -> bool:
        """Whether this engine runs ``f`` (the first of the registry that accepts does)."""

    def prepare(self, f: Any, target: Target, options: Options) -> AbstractContextManager[Target]:
        """A context giving the target with ``flat`` (and ``base``, ``extra``) set."""

    def evaluate(
        self, f: Any, target: Target, points: np.ndarray, labels: list[str], options: Options
    ) -> np.ndarray:
        """``F[r, i] = f(x with x_i = points[r, i])``, shape ``points.shape``, float64."""

    def f_at_x(self, f: Any, target: Target, options: Options) -> float:
        """``f`` at ``x`` itself."""

    def evaluate_sets(
        self,
        f: Any,
        base: np.ndarray,
        pert: Any,
        out_shape: tuple[int, ...],
        options: Options,
        scratch: bool = False,
    ) -> np.ndarray:
        """``F[p] = f(base perturbed by set p).ravel()``, ``(P, prod(out_shape))``."""


class Ready:
    """A ``prepare`` that holds nothing while the plan runs: gives its target (``nullcontext``)."""

    __slots__ = ("target",)

    def __init__(self, target: Target) -> None:
        self.target = target

    def __enter__(self) -> Target:
        return self.target

    def __exit__(self, *exc: object) -> None:
        return None


def run(
    engine: Engine,
    f: Callable[[Any], Any],
    target: Target,
    options: Options,
    h: float | str,
    st: Stencil,
    levels: int,
    estimate: bool,
) -> Outcome:
    """Plan the perturbations of ``x``, evaluate them with ``engine``, finish.

    The one driver of every engine: ``engine.prepare`` takes ``x``'s values
    (and holds ``x``'s memory as long as the engine needs), then
    :func:`~nnnum.diff.finish.differentiate` plans, calls ``engine.evaluate``
    (and ``engine.f_at_x`` where the stencil or the estimate needs ``f(x)``)
    and finishes. The calls ``prepare`` made to check ``f`` are added to
    ``Outcome.extra``.
    """
    with engine.prepare(f, target, options) as t:
        assert t.flat is not None  # set by prepare
        out = differentiate(
            t.flat,
            t.shape,
            h,
            st,
            levels,
            lambda points, labels: warn_if_unseen(
                engine.evaluate(f, t, points, labels, options), t
            ),
            lambda: engine.f_at_x(f, t, options),
            estimate=estimate,
        )
    out.extra += t.extra
    return out


class UnseenPerturbationWarning(RuntimeWarning):
    """``x`` was a list (copied into a new array) and ``f`` never saw the perturbations."""


def warn_if_unseen(values: np.ndarray, target: Target) -> np.ndarray:
    """``values``, with a warning where ``f`` visibly never saw the copy of ``x`` it was given.

    The warning points at the caller of the public function (``numerical_gradient``
    -> :func:`run` -> ``differentiate`` -> the evaluation -> here).
    """
    if target.copied and values.size > 1 and bool((values == values.flat[0]).all()):
        warnings.warn(
            "f returned the same value for every perturbation of x, and x is a "
            f"{type(target.x).__name__}, which numerical_gradient copies into a new array: an f "
            "that reads the parameters it closes over instead of its argument never sees that "
            "copy (the gradient is 0). Pass the NumPy array f reads, e.g. np.asarray(x, float)",
            UnseenPerturbationWarning,
            stacklevel=6,
        )
    return values
