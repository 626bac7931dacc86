"""The perturbations on other processes or machines: a process pool, an Executor, Dask.

For an expensive ``f``, ``numerical_gradient(f, x, workers=...)`` evaluates the plan's
rows on workers: an ``int`` (a pool nnnum starts and stops, ``forkserver`` on Linux,
``spawn`` elsewhere, never ``fork``), a map-like callable (``workers=pool.map``), a
:class:`concurrent.futures.Executor`, a ``dask.distributed.Client``, or
:class:`Workers` (one of these with ``chunk``, ``retries``, ``timeout``). Each worker
runs the same in-place loop as :mod:`.loop` over a contiguous block of elements;
for the Jacobian and the Hessian (:func:`distribute_sets`) over a contiguous block of
perturbation sets (:mod:`nnnum.diff.perturb`), as that module's loop does.

The user guide's page on workers (``docs/guide/workers.rst``) is the reference for
users: an example sized for a laptop, the ``__main__`` guard, what is guaranteed (bit
identity, the closure idiom, faults), the BLAS-threads caveat and the cost model.
What this module's code relies on:

* ``f`` and the caller's ``x`` travel in **one** cloudpickle payload, so in a worker
  ``x`` is still the array ``f`` reads (views are rebuilt on one copy of their base);
  it is pickled while ``x``'s memory is held (:data:`nnnum._core.regions.REGIONS`).
* The payload goes once per worker: the pool's initializer; on Dask a task of its
  own (``client.submit``) that every task depends on and that Dask can recompute; for
  an Executor, with the first wave of tasks, later tasks carrying only its token (a
  worker that has not seen it answers "missing" and gets the task again with it); a
  map callable's tasks each carry the bytes. Workers keep the last two payloads.
* Every result carries its task's identity (the call's token and the block's first
  element or set) and is put back where that says, never by the order results come in; a
  result naming no task of the call, a block twice or one missing is an error
  naming ``workers``.
* ``chunk = ceil(n / (4 * workers))`` by default (:data:`TASKS_PER_WORKER`).
* A call with ``workers=<int>`` from a main module's top-level code outside
  ``if __name__ == "__main__":`` is a :class:`RuntimeError`, before any process starts.

One job a module: :mod:`.options` (:class:`Workers` and its check), :mod:`.payload`
(``f`` and ``x`` pickled together), :mod:`.worker` (the worker side), :mod:`.collect`
(results put back, errors raised), :mod:`.transports` (pool, Executor, map, Dask),
:mod:`.guard` (the start method, the ``__main__`` guard); this module is the engine.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np

from ...._core.regions import REGIONS
from ...checks import scalar_result
from ..base import Options, Ready, Target
from .collect import Collect, Columns, Sets
from .guard import guard_message, mp_context, unguarded_main
from .options import TASKS_PER_WORKER, Workers, check_workers, kind
from .payload import make_payload
from .worker import COLUMNS, SETS, State, forget

__all__ = [
    "TASKS_PER_WORKER",
    "Workers",
    "accepts",
    "check_workers",
    "distribute",
    "distribute_sets",
    "evaluate_sets",
    "evaluate",
    "f_at_x",
    "guard_message",
    "kind",
    "make_payload",
    "mp_context",
    "prepare",
    "unguarded_main",
]

# the names of nnnum 0.2's single module, for the callers not yet moved to the new ones
_kind = kind
_payload = make_payload
_unguarded_main = unguarded_main
_guard_message = guard_message
_mp_context = mp_context
_State = State


# ------------------------------------------------------------------ the Engine protocol
def accepts(f: Any, target: Target, options: Options) -> bool:
    """``workers=`` given: the perturbations go to other processes or machines."""
    return options.workers is not None


def prepare(f: Any, target: Target, options: Options) -> Ready:
    """``x``'s values as they are now; the workers perturb their own copies, never ``x``."""
    with REGIONS.hold(target.arr):
        flat = np.ascontiguousarray(target.arr).reshape(-1).copy()
    return Ready(target.ready(flat))


def evaluate(
    f: Any, target: Target, points: np.ndarray, labels: list[str], options: Options
) -> np.ndarray:
    """:func:`distribute` the rows to ``options.workers`` (``f`` and the caller's ``x`` pickled)."""
    return distribute(
        f, target.fx, target.arr, points, labels, options.workers, progress=options.progress
    )


def f_at_x(f: Any, target: Target, options: Options) -> float:
    """``f`` of the caller's object, in this process."""
    return scalar_result(f(target.fx), "x")


def evaluate_sets(
    f: Any,
    base: np.ndarray,
    pert: Any,
    out_shape: tuple[int, ...],
    options: Options,
    scratch: bool = False,
) -> np.ndarray:
    """Sets of perturbations (:mod:`nnnum.diff.perturb`) on ``options.workers``."""
    return distribute_sets(
        f, base, pert, out_shape, options.workers, progress=options.progress, desc=options.desc
    )


# ------------------------------------------------------------------ the distribution
def distribute(
    f: Callable[[Any], Any],
    fx: Any,
    arr: np.ndarray,
    points: np.ndarray,
    row_labels: list[str],
    workers: Any,
    *,
    progress: bool | None = None,
) -> np.ndarray:
    """``F[r, i] = f(x with x_i = points[r, i])`` evaluated on ``workers``.

    ``fx`` is the caller's object (what ``f`` may close over) and ``arr`` a
    plain-ndarray view of its memory (what is perturbed); neither is modified
    here: each worker perturbs its own unpickled copy. Bit-identical to
    :func:`nnnum.diff.engines.loop.in_place`.
    """
    opts = _options(workers, progress)
    rows, n = points.shape
    out = np.empty((rows, n))
    if n == 0 or rows == 0:
        return out
    size = _size(opts)
    chunk = opts.chunk or max(1, math.ceil(n / (TASKS_PER_WORKER * size)))
    tasks = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    labels = [str(s) for s in row_labels]

    def job(k: int) -> tuple:
        lo, hi = tasks[k]
        return (COLUMNS, np.ascontiguousarray(points[:, lo:hi]), labels)

    payload = make_payload(f, fx, arr)
    blocks = Columns(arr.shape)
    _run(opts, size, payload, tasks, job, out, blocks, "numerical_gradient", rows * n, progress)
    return out


def distribute_sets(
    f: Callable[[Any], Any],
    base: np.ndarray,
    pert: Any,
    out_shape: tuple[int, ...],
    workers: Any,
    *,
    progress: bool | None = None,
    desc: str = "numerical_jacobian",
) -> np.ndarray:
    """``F[p] = f(base perturbed by set p).ravel()`` for every set of ``pert``, on ``workers``.

    ``pert`` is a :class:`nnnum.diff.perturb.Perturbations`; ``base`` a private
    C-ordered copy of ``x`` (``f`` receives a copy, never the caller's ``x``),
    pickled with ``f``. Each task is a block of consecutive sets, evaluated on
    the worker's own copy of ``base`` as :func:`nnnum.diff.engines.loop.evaluate_sets` does:
    bit-identical to it, whatever the transport, the chunk or the order in which
    results come back. Errors name the set (``pert.label``) in this process.
    """
    from ...perturb import values_of

    opts = _options(workers, progress)
    cplx = base.dtype.kind == "c"
    total = pert.count
    out = np.empty((total, math.prod(out_shape)), dtype=np.complex128 if cplx else np.float64)
    if total == 0:
        return out
    size = _size(opts)
    chunk = opts.chunk or max(1, math.ceil(total / (TASKS_PER_WORKER * size)))
    tasks = [(lo, min(lo + chunk, total)) for lo in range(0, total, chunk)]
    ptr, idx, val = pert.ptr, pert.idx, pert.val

    def job(k: int) -> tuple:
        lo, hi = tasks[k]
        s, e = int(ptr[lo]), int(ptr[hi])
        return (SETS, ptr[lo : hi + 1] - s, idx[s:e], val[s:e], out_shape)

    def check(value: Any, at: str) -> Any:
        return values_of(value, out_shape, at, cplx)

    payload = make_payload(f, base, base)
    _run(opts, size, payload, tasks, job, out, Sets(pert.label, check), desc, total, progress)
    return out


def _options(workers: Any, progress: bool | None) -> Workers:
    opts = check_workers(workers, progress)
    if opts is None:
        raise TypeError("workers: evaluate needs workers (None evaluates in this process)")
    return opts


def _size(opts: Workers) -> int:
    """Workers to plan the chunks for; a pool's ``__main__`` guard and Dask checked first."""
    from . import transports  # imports multiprocessing: only when workers are used

    target_kind = kind(opts.target)
    if target_kind == "pool":
        guard = unguarded_main()
        if guard is not None:
            raise RuntimeError(
                f"workers={opts.target!r}: " + guard_message(guard, "the new worker processes")
            )
        return int(opts.target)
    if target_kind == "dask":
        return transports.dask_ready(opts.target, opts.timeout)  # fail fast, before pickling
    return transports.known_size(opts.target) or os.cpu_count() or 1


def _run(
    opts: Workers,
    size: int,
    payload: bytes,
    tasks: list[tuple[int, int]],
    job: Callable[[int], tuple],
    out: np.ndarray,
    blocks: Any,
    desc: str,
    evaluations: int,
    progress: bool | None,
) -> None:
    """The tasks on the transport ``opts`` names, their values put into ``out``."""
    from . import transports

    target_kind = kind(opts.target)
    token = uuid.uuid4().hex
    bar = _bar(progress, evaluations, desc)
    collect = Collect(out, tasks, bar, token, blocks)
    try:
        if target_kind == "pool":
            transports.on_pool(size, opts, token, payload, tasks, job, collect)
        elif target_kind == "executor":
            transports.on_executor(opts.target, token, payload, tasks, job, collect)
        elif target_kind == "map":
            transports.on_map(opts.target, token, payload, tasks, job, collect)
        else:
            transports.on_dask(opts.target, opts, token, payload, tasks, job, collect)
    finally:
        if bar is not None:
            bar.close()
        forget(token)  # copies this process made (map, threads)


def _bar(progress: bool | None, total: int, desc: str) -> Any:
    if progress is False or progress is np.False_:
        return None
    from tqdm.auto import tqdm

    # progress=None: only on a terminal, and only when the run lasts over a second
    return tqdm(
        total=total,
        desc=desc,
        unit="f",
        leave=False,
        disable=None if progress is None else False,
        delay=1.0 if progress is None else 0.0,
        mininterval=0.5,
    )
