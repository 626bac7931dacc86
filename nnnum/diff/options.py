"""The one check of every differentiation option, before any work (as SciPy's ``_derivative_iv``).

Each public function asks here: the step, the stencil and Richardson levels
(:func:`check_options`, :func:`check_levels`), the on/off flags
(:func:`check_flag`), and the engine options that cannot go together
(:func:`check_engine`, :func:`check_parallel_applies`); :func:`check_run` is
the flags and the engine options together, as every derivative takes them. A
wrong value is an error naming the option; none is ever silently ignored.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .._core.jit import is_jitted
from .stencils import Stencil, stencil
from .steps import check_h

__all__ = [
    "Run",
    "check_complex_options",
    "check_engine",
    "check_flag",
    "check_levels",
    "check_options",
    "check_parallel_applies",
    "check_run",
]


def check_flag(value: Any, name: str, *, allow_none: bool = False) -> Any:
    """``value`` if it is a bool (``np.bool_`` included, or None when allowed), else a TypeError.

    The one check of every on/off option: ``full_output="yes"`` or
    ``history=1`` is an error, never read as true.
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if value is None and allow_none:
        return None
    expected = "True, False or None" if allow_none else "True or False"
    raise TypeError(f"{name} must be {expected}, got {value!r}")


def check_options(
    h: Any, order: Any, method: Any, richardson: Any
) -> tuple[float | str, Stencil, int, bool]:
    """The checked step, stencil, number of levels, and whether ``method`` is the complex step.

    ``h=None`` is the method's default: the book's ``1e-4``, or ``"auto"`` for the complex step.
    """
    if isinstance(method, str) and method == "complex":
        check_complex_options(order, richardson)
        hc = check_h("auto" if h is None else h, allow_auto=True)
        return hc, stencil(2, "central"), 1, True
    st = stencil(order, method)
    hv = check_h(h, allow_auto=True)
    return hv, st, check_levels(richardson), False


def check_levels(richardson: Any) -> int:
    """The number of Richardson levels, ``richardson + 1``: ``richardson`` an integer 0 to 6."""
    if (
        isinstance(richardson, (bool, np.bool_))
        or not isinstance(richardson, (int, np.integer))
        or not 0 <= richardson <= 6
    ):
        raise ValueError(f"richardson must be an integer from 0 to 6, got {richardson!r}")
    return int(richardson) + 1


def check_complex_options(order: Any, richardson: Any) -> None:
    """The complex step has one order and no Richardson levels: anything else is an error."""
    if isinstance(order, (bool, np.bool_)) or order != 2:
        raise ValueError(
            "method='complex' has one order (2: with the automatic step its truncation "
            "error, h**2 times the third derivative / 6, is far below rounding), got "
            f"order={order!r}; the orders 4, 6, 8 are for the finite-difference methods"
        )
    if isinstance(richardson, (bool, np.bool_)) or richardson != 0:
        raise ValueError(
            "method='complex' needs no Richardson extrapolation (its step leaves no truncation "
            f"error to cancel), got richardson={richardson!r}"
        )


def check_engine(
    is_complex: bool, batched: bool, parallel: bool | None, workers: Any, progress: bool | None
) -> None:
    """The engine options that cannot go together: an error, never silently ignored."""
    if workers is not None:
        from .engines import executors

        executors.check_workers(workers)
        if is_complex:
            raise ValueError(
                "workers= distributes the finite-difference methods; method='complex' runs in "
                "this process (a jitted f in the parallel kernel, or batched=True)"
            )
        if batched:
            raise ValueError(
                "batched=True evaluates the perturbations in batches in this process (or on "
                "the device); workers= spreads single evaluations over processes: choose one"
            )
        if parallel is not None:
            raise ValueError(
                "parallel= chooses the prange kernel for a jitted f in this process; workers= "
                "evaluates f on other processes: leave parallel unset"
            )
    elif progress is not None:
        raise ValueError("progress= draws the progress bar of workers=; pass it with workers=")
    if batched and parallel is not None:
        raise ValueError(
            "parallel= chooses the prange kernel for a jitted f; batched=True evaluates f on "
            "batches instead: leave parallel unset"
        )


class Run(NamedTuple):
    """The checked on/off flags and engine options of a derivative (:func:`check_run`)."""

    full_output: bool
    batched: bool
    parallel: bool | None
    workers: Any
    progress: bool | None


def check_run(
    full_output: Any,
    batched: Any,
    parallel: Any,
    workers: Any,
    progress: Any,
    *,
    is_complex: bool = False,
) -> Run:
    """The flags checked (:func:`check_flag`), then the engine options (:func:`check_engine`)."""
    run = Run(
        check_flag(full_output, "full_output"),
        check_flag(batched, "batched"),
        check_flag(parallel, "parallel", allow_none=True),
        workers,
        check_flag(progress, "progress", allow_none=True),
    )
    check_engine(is_complex, run.batched, run.parallel, run.workers, run.progress)
    return run


def check_parallel_applies(f: Any, parallel: bool | None) -> None:
    """``parallel=True`` asks for the prange kernel, which only a jitted ``f`` runs in."""
    if parallel is True and not is_jitted(f):
        raise ValueError(
            "parallel=True runs a Numba-compiled f in the parallel prange kernel, but f is a "
            "plain Python function (its calls run one after another): compile it with "
            "@numba.njit or nnnum.jit, or leave parallel unset"
        )
