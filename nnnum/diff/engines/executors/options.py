"""The ``workers=`` option: :class:`Workers`, its check, and the kind of target it names."""

from __future__ import annotations

import concurrent.futures as cf
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TASKS_PER_WORKER", "Workers", "check_workers", "is_int", "kind"]

#: Tasks per worker of the default chunking.
TASKS_PER_WORKER = 4


# ------------------------------------------------------------------ the option
@dataclass(frozen=True)
class Workers:
    """``workers=`` with options, e.g. ``workers=Workers(client, chunk=8, timeout=60)``.

    Parameters
    ----------
    target : int, callable, concurrent.futures.Executor or dask.distributed.Client
        Where to evaluate (see :mod:`nnnum.diff.engines.executors`).
    chunk : int, optional
        Elements per task (each task evaluates every row of ``chunk``
        consecutive elements), or perturbation sets per task for
        ``numerical_jacobian`` and ``numerical_hessian``. Default
        ``ceil(n / (4 * workers))``, ``n`` the elements or the sets.
    retries : int
        For an ``int`` target: fresh pools started after a worker process
        dies before giving up (default 2).
    timeout : float
        For a Dask client: seconds to wait for a worker to be connected
        (default 30).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> from nnnum.diff.engines.executors import Workers
    >>> g = nnnum.numerical_gradient(lambda w: float(np.sum(w**2)), np.array([1.0, 2.0]),
    ...                              workers=Workers(map, chunk=1), progress=False)
    >>> g.tolist()
    [2.0, 4.0]
    """

    target: Any
    chunk: int | None = None
    retries: int = 2
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if isinstance(self.target, Workers):
            raise TypeError("workers: Workers(...) takes an int, a map, an Executor or a Client")
        kind(self.target)
        if self.chunk is not None and not is_int(self.chunk, 1):
            raise ValueError(f"workers: chunk must be a positive integer, got {self.chunk!r}")
        if not is_int(self.retries, 0):
            raise ValueError(f"workers: retries must be an integer >= 0, got {self.retries!r}")
        if (
            isinstance(self.timeout, (bool, np.bool_))
            or not isinstance(self.timeout, (int, float, np.integer, np.floating))
            or not self.timeout > 0
        ):
            raise ValueError(f"workers: timeout must be a positive number, got {self.timeout!r}")


def is_int(v: Any, least: int) -> bool:
    """An integer (not a bool) of at least ``least``."""
    return bool(
        not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer)) and v >= least
    )


def _dask_client_type() -> Any:
    mod = sys.modules.get("distributed")  # never imported here: a Client implies it is loaded
    return getattr(mod, "Client", None) if mod is not None else None


def kind(target: Any) -> str:
    """``"pool"``, ``"dask"``, ``"executor"`` or ``"map"``; TypeError/ValueError otherwise."""
    if isinstance(target, (bool, np.bool_)):
        raise TypeError(
            f"workers must be an int, a map, an Executor or a Dask Client, not {target!r}"
        )
    if isinstance(target, (int, np.integer)):
        if target < 1:
            raise ValueError(f"workers must be at least 1 (processes), got {target!r}")
        return "pool"
    client = _dask_client_type()
    if client is not None and isinstance(target, client):
        if getattr(target, "asynchronous", False):
            raise TypeError("workers: an asynchronous Dask Client is not supported; pass a Client")
        return "dask"
    if isinstance(target, cf.Executor):
        return "executor"
    if isinstance(target, type) and (
        issubclass(target, cf.Executor) or (client is not None and issubclass(target, client))
    ):
        raise TypeError(
            f"workers must be an int, a map, an Executor or a Dask Client; got the class "
            f"{target.__name__}: pass an instance (e.g. {target.__name__}(4))"
        )
    if callable(target):
        return "map"
    hint = ""
    if callable(getattr(target, "map", None)):
        hint = f" (pass its map: workers=<your {type(target).__name__}>.map)"
    elif isinstance(target, str):
        hint = ' (for a Dask scheduler address, pass dask.distributed.Client("tcp://host:8786"))'
    raise TypeError(
        "workers must be an int (local processes), a map-like callable (pool.map), a "
        "concurrent.futures.Executor or a dask.distributed.Client, not "
        f"{type(target).__name__}{hint}"
    )


def check_workers(workers: Any, progress: Any = None) -> Workers | None:
    """Check ``numerical_gradient``'s ``workers`` and ``progress`` options.

    Parameters
    ----------
    workers : None, int, callable, concurrent.futures.Executor, dask.distributed.Client or Workers
        Where to evaluate ``f`` (``None``: in this process).
    progress : bool or None
        The progress bar's option (checked also when ``workers`` is None).

    Returns
    -------
    Workers or None
        ``workers`` as a :class:`Workers` (``None`` for ``None``).

    Raises
    ------
    TypeError
        A ``workers`` of no supported kind (a string, a float, a class, ...)
        or a ``progress`` that is not True, False or None.
    ValueError
        An ``int`` below 1, or a bad option of :class:`Workers`.

    Examples
    --------
    >>> from nnnum.diff.engines.executors import check_workers
    >>> check_workers(2).target, check_workers(None)
    (2, None)
    >>> check_workers("bogus")
    Traceback (most recent call last):
    ...
    TypeError: workers must be an int (local processes), a map-like callable (pool.map), a \
concurrent.futures.Executor or a dask.distributed.Client, not str (for a Dask scheduler \
address, pass dask.distributed.Client("tcp://host:8786"))
    """
    if progress is not None and not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"progress must be True, False or None, got {progress!r}")
    if workers is None:
        return None
    return workers if isinstance(workers, Workers) else Workers(workers)
