"""Evaluate ``f`` at sets of perturbations of ``x``, ``f`` returning an array of any shape.

The engines of :mod:`.engines` perturb one element of ``x`` per evaluation and
expect a scalar ``f``. The Jacobian (a colour perturbs many elements at once),
the Hessian (a pair of elements) and their relatives need the generalisation
written here once: perturbation ``p`` sets the elements ``idx[ptr[p]:ptr[p+1]]``
of a private copy of ``x`` to ``val[ptr[p]:ptr[p+1]]``, and row ``p`` of the
result holds ``f`` there, flattened (float64, or complex128 for the complex
step). ``x`` itself is never written: ``f`` receives the copy.

Every engine of :mod:`.engines` evaluates these sets in its own module, by the
protocol's second job ``evaluate_sets(f, base, pert, out_shape, options,
scratch)`` (:class:`~.engines.base.Engine`); :func:`evaluate` is the one call:

* :mod:`.engines.loop` - a Python ``f``, one call per set on one private copy;
* :mod:`.engines.batched` - ``f`` maps ``(B, *x.shape)`` to ``(B, *out_shape)``,
  chunks of about :data:`~.engines.batched.HOST_BATCH_BYTES`;
* :mod:`.engines.prange` - a Numba-compiled ``f`` in a parallel kernel specialised
  to it, each chunk of sets on its own copy (bit-identical to the serial kernel
  and to the loop, for any thread count);
* :mod:`.engines.executors` - blocks of sets on a process pool, an Executor, a
  map or a Dask cluster, each worker running the loop on its own unpickled copy
  (bit-identical to the loop).

This module holds what they share: :class:`Perturbations`, the check of ``f``'s
values (:func:`values_of`, :func:`check_finite_values`) and :func:`evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import NonFiniteError, all_finite

__all__ = [
    "Perturbations",
    "check_finite_values",
    "evaluate",
    "numbers",
    "output_name",
    "values_of",
]


@dataclass(frozen=True)
class Perturbations:
    """``P`` perturbations of a flat ``x``: CSR rows of (element, new value) pairs.

    ``label(p)`` says in words where perturbation ``p`` is (for messages).
    ``scatter``, optional: ``p * x.size + idx`` for every pair (the positions in a
    ``(P, x.size)`` batch), where the caller keeps it from call to call.
    """

    ptr: np.ndarray
    idx: np.ndarray
    val: np.ndarray
    label: Callable[[int], str]
    scatter: np.ndarray | None = None

    @property
    def count(self) -> int:
        """The number of perturbations (evaluations of ``f``)."""
        return int(self.ptr.size - 1)


def numbers(dt: np.dtype) -> bool:
    """Whether values of dtype ``dt`` are numbers: not bool, str or object."""
    return dt.kind in "iufc" or (dt != np.bool_ and np.issubdtype(dt, np.number))


def values_of(value: Any, out_shape: tuple[int, ...] | None, at: str, complex_ok: bool) -> Any:
    """``f``'s value as a flat float64 (complex128) array, checked: numbers of ``out_shape``."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(
            f"f must return real numbers (a scalar or an array); it returned "
            f"{type(value).__name__} {value!r} at {at}"
        )
    arr = np.asarray(value if not hasattr(value, "get") else value.get())
    if not numbers(arr.dtype):
        raise TypeError(f"f must return numbers; it returned dtype {arr.dtype} at {at}")
    if arr.dtype.kind == "c" and not complex_ok:
        raise TypeError(f"f must return real numbers; it returned dtype {arr.dtype} at {at}")
    if out_shape is not None and arr.shape != out_shape:
        raise ValueError(
            f"f must return the same shape at every point: shape {out_shape} at x, "
            f"{arr.shape} at {at}"
        )
    return arr.astype(np.complex128 if complex_ok else np.float64).reshape(-1)


def output_name(k: int, out_shape: tuple[int, ...]) -> str:
    """Output ``k`` of ``f`` (flat index) in words: ``f`` for a scalar, else ``f[i, j]``."""
    if not out_shape:
        return "f"
    return "f[" + ", ".join(map(str, np.unravel_index(k, out_shape))) + "]"


def check_finite_values(values: np.ndarray, pert: Perturbations, out_shape: tuple) -> None:
    """NonFiniteError naming the first output and perturbation where ``f`` is NaN or inf."""
    if all_finite(values):
        return
    ok = np.isfinite(values)
    p, k = (int(v) for v in np.argwhere(~ok)[0])
    raise NonFiniteError(
        f"{output_name(k, out_shape)} returned {values[p, k].item()!r} at {pert.label(p)}; "
        "the derivative is undefined there"
    )


def evaluate(
    f: Callable[[Any], Any],
    base: np.ndarray,
    pert: Perturbations,
    out_shape: tuple[int, ...] | None,
    *,
    engine: Any,
    options: Any,
    scratch: bool = False,
) -> np.ndarray:
    """``F[p] = f(x perturbed by p).ravel()``, ``(P, prod(out_shape))``, on ``engine``.

    ``engine``: an engine of :data:`~.engines.ENGINES` (its ``evaluate_sets``),
    ``options`` its :class:`~.engines.Options`. ``base``: a private C-ordered
    copy of ``x`` (real, or complex for the complex step), shaped like ``x``;
    never modified. ``scratch``: the caller reads the values before it calls
    ``f`` again, so the batched engine may hand back ``f``'s own array of one
    batch instead of a copy. ``out_shape`` None (the batched engine only):
    ``f``'s shape is read from its values, returned shaped ``(P, *f(x).shape)``.
    """
    if out_shape is None and not getattr(engine, "FINDS_SHAPE", False):
        raise ValueError("evaluate: only the batched engine finds f's shape from its values")
    if pert.count == 0 and out_shape is not None:
        cplx = base.dtype.kind == "c"
        return np.empty((0, math.prod(out_shape)), dtype=np.complex128 if cplx else np.float64)
    values: np.ndarray = engine.evaluate_sets(f, base, pert, out_shape, options, scratch)
    return values
