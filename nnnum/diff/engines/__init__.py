"""Engines: how a plan of perturbations is evaluated.

Each engine implements the :class:`~.base.Engine` protocol (``accepts``,
``prepare``, ``evaluate``, ``f_at_x``, ``evaluate_sets``): given the rows of perturbed values
``points`` (R, n) (row ``r``, column ``i``: the value of ``x_i`` in evaluation
``r``, every other element unchanged) it returns ``F`` (R, n) of ``f`` values.
``evaluate_sets`` is the same for sets of perturbations and an ``f`` returning an
array (the Jacobian's colours, the Hessian's pairs: :mod:`nnnum.diff.perturb`).
The engines know nothing of stencils or steps; :func:`~.base.run` drives any
of them. :data:`ENGINES` is asked in order, the first that accepts runs ``f``:

* :mod:`.batched` - a batched ``f`` on an array namespace (NumPy or CuPy);
* :mod:`.executors` - any ``f`` on a process pool, an Executor or a Dask cluster
  (``workers=``), each worker running the in-place loop on its own copy;
* :mod:`.prange` - a Numba-compiled ``f``, a parallel kernel on private copies;
* :mod:`.loop` - a Python ``f``, ``x`` perturbed in place and restored.

A new engine is one module with the five functions and its entry in :data:`ENGINES`.
"""

from __future__ import annotations

from typing import Any

from . import batched, executors, loop, prange
from .base import Engine, Options, Target, UnseenPerturbationWarning, run

__all__ = ["ENGINES", "Engine", "Options", "Target", "UnseenPerturbationWarning", "run", "select"]

#: The engines, in the order they are asked (the loop accepts every ``f``).
ENGINES: tuple[Engine, ...] = (batched, executors, prange, loop)


def select(f: Any, target: Target, options: Options) -> Engine:
    """The first engine of :data:`ENGINES` that accepts ``f`` (the loop, at the latest)."""
    for engine in ENGINES:
        if engine.accepts(f, target, options):
            return engine
    raise LookupError("no engine accepts f")  # pragma: no cover (the loop accepts every f)
