"""The perturbations on other processes or machines: a process pool, an Executor, Dask.

For an expensive ``f``, ``numerical_gradient(f, x, workers=...)`` evaluates the plan's
rows on workers: an ``int`` (a pool nnnum starts and stops, ``forkserver`` on Linux,
``spawn`` elsewhere, never ``fork``), a map-like callable (``workers=pool.map``), a
:class:`concurrent.futures.Executor`, a ``dask.distributed.Client``, or
:class:`Workers` (one of these with ``chunk``, ``retries``, ``timeout``). Each worker
runs the same in-place loop as :mod:`.loop` over a contiguous block of elements.

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
  element) and is put back where that says, never by the order results come in; a
  result naming no task of the call, a block twice or one missing is an error
  naming ``workers``.
* ``chunk = ceil(n / (4 * workers))`` by default (:data:`TASKS_PER_WORKER`).
* A call with ``workers=<int>`` from a main module's top-level code outside
  ``if __name__ == "__main__":`` is a :class:`RuntimeError`, before any process starts.
"""

from __future__ import annotations

import ast
import concurrent.futures as cf
import io
import math
import os
import pickle
import reprlib
import sys
import threading
import tokenize
import traceback
import uuid
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._core.regions import REGIONS
from ..checks import scalar_result
from ..steps import where

__all__ = ["Workers", "check_workers", "evaluate", "TASKS_PER_WORKER"]

#: Tasks per worker of the default chunking.
TASKS_PER_WORKER = 4
#: Unpickled payloads a worker keeps (the most recently used tokens).
_KEEP = 2


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
        consecutive elements). Default ``ceil(n / (4 * workers))``.
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
        _kind(self.target)
        if self.chunk is not None and not _is_int(self.chunk, 1):
            raise ValueError(f"workers: chunk must be a positive integer, got {self.chunk!r}")
        if not _is_int(self.retries, 0):
            raise ValueError(f"workers: retries must be an integer >= 0, got {self.retries!r}")
        if (
            isinstance(self.timeout, (bool, np.bool_))
            or not isinstance(self.timeout, (int, float, np.integer, np.floating))
            or not self.timeout > 0
        ):
            raise ValueError(f"workers: timeout must be a positive number, got {self.timeout!r}")


def _is_int(v: Any, least: int) -> bool:
    return bool(
        not isinstance(v, (bool, np.bool_)) and isinstance(v, (int, np.integer)) and v >= least
    )


def _dask_client_type() -> Any:
    mod = sys.modules.get("distributed")  # never imported here: a Client implies it is loaded
    return getattr(mod, "Client", None) if mod is not None else None


def _kind(target: Any) -> str:
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


# ------------------------------------------------------------ pickling f and x
def _root(a: np.ndarray) -> np.ndarray:
    """The last ndarray in ``a``'s chain of bases (the array a view was taken from)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _view_of(
    root: np.ndarray,
    offset: int,
    shape: tuple[int, ...],
    strides: tuple[int, ...],
    dtype: np.dtype,
    cls: type,
    state: dict | None,
) -> np.ndarray:
    """Rebuild a view of ``root`` (unpickling side of :class:`_Pickler`)."""
    raw = root.reshape(-1, order="A").view(np.uint8)
    v = np.ndarray(shape, dtype=dtype, buffer=raw, offset=offset, strides=strides)
    if cls is not np.ndarray:
        v = v.view(cls)
        if state:
            v.__dict__.update(state)
    return v


def _pickler_class() -> type:
    import cloudpickle

    class _Pickler(cloudpickle.Pickler):
        """cloudpickle that notes (``preserve=False``) or keeps (``True``) views of one array."""

        def __init__(self, file: Any, root: np.ndarray, preserve: bool) -> None:
            super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
            self._nn_root, self._nn_preserve = root, preserve
            self.nn_sharing: set[int] = set()

        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, np.ndarray) and _root(obj) is self._nn_root:
                self.nn_sharing.add(id(obj))
                if self._nn_preserve and obj is not self._nn_root:
                    root = self._nn_root
                    offset = (
                        obj.__array_interface__["data"][0] - root.__array_interface__["data"][0]
                    )
                    state = dict(obj.__dict__) if hasattr(obj, "__dict__") else None
                    return _view_of, (
                        root,
                        offset,
                        obj.shape,
                        obj.strides,
                        obj.dtype,
                        type(obj),
                        state,
                    )
                if type(obj) is np.ndarray:
                    return NotImplemented
            return super().reducer_override(obj)

    return _Pickler


def _dumps_payload(f: Any, fx: Any) -> bytes:
    """``(f, fx)`` in one pickle; views of ``fx``'s memory stay views of one array."""
    cls = _pickler_class()
    root = _root(fx) if isinstance(fx, np.ndarray) else None
    buf = io.BytesIO()
    p = cls(buf, root, False)
    p.dump((f, fx))
    if len(p.nn_sharing) < 2 or root is None:
        return buf.getvalue()
    if not (root.flags.c_contiguous or root.flags.f_contiguous):
        return buf.getvalue()  # pragma: no cover (a non-contiguous owner of memory)
    buf = io.BytesIO()
    cls(buf, root, True).dump((f, fx))
    return buf.getvalue()


def _payload(f: Any, fx: Any, arr: np.ndarray) -> bytes:
    try:
        import cloudpickle  # noqa: F401
    except ImportError as exc:  # pragma: no cover (an install without the extra)
        raise ImportError("workers= needs cloudpickle: pip install 'nnnum[distributed]'") from exc
    with REGIONS.hold(arr):  # x as it is now: no other thread's perturbation in the snapshot
        try:
            return _dumps_payload(f, fx)
        except Exception as exc:
            raise TypeError(
                f"workers: f and x must be picklable (with cloudpickle) to be sent to the "
                f"workers: {type(exc).__name__}: {exc}"
            ) from exc


# ------------------------------------------------------------ the worker side
class _State:
    """A worker's own ``f`` and ``x`` (unpickled once), and the in-place loop over a block."""

    def __init__(self, payload: bytes) -> None:
        self.f, self.fx = pickle.loads(payload)
        fx = self.fx
        self.arr = fx if type(fx) is np.ndarray else fx.view(np.ndarray)
        self.shape = self.arr.shape
        self.flat = self.arr.reshape(-1) if self.arr.flags.c_contiguous else None

    def run(self, lo: int, points: np.ndarray, labels: list[str]) -> tuple:
        f, fx, shape = self.f, self.fx, self.shape
        rows, m = points.shape
        out = np.empty((rows, m))
        view = self.flat if self.flat is not None else self.arr
        for j in range(m):
            i = lo + j
            idx: Any = i if self.flat is not None else np.unravel_index(i, shape)
            orig = view[idx].copy()
            try:
                for r in range(rows):
                    view[idx] = points[r, j]
                    try:
                        v = f(fx)
                    except Exception as exc:
                        return ("error", _pack_error(exc, f"{where(shape, i)} {labels[r]}", True))
                    try:
                        out[r, j] = scalar_result(v, lambda: f"{where(shape, i)} {labels[r]}")
                    except Exception as exc:
                        return ("error", _pack_error(exc, f"{where(shape, i)} {labels[r]}", False))
            finally:
                view[idx] = orig
        return ("ok", out)


_LOCK = threading.Lock()
#: Payload bytes installed by an ``int`` pool's initializer, by token.
_INSTALLED: dict[str, bytes] = {}
#: Unpickled payloads: token -> {thread id: _State}, most recently used last.
_STATES: OrderedDict[str, dict[int, _State]] = OrderedDict()


def _install(token: str, payload: bytes) -> None:
    """Pool initializer: the payload, once per process."""
    with _LOCK:
        _INSTALLED.clear()
        _INSTALLED[token] = payload


def _state(token: str, payload: bytes | None) -> _State | None:
    tid = threading.get_ident()
    with _LOCK:
        per = _STATES.get(token)
        if per is not None:
            _STATES.move_to_end(token)
            if tid in per:
                return per[tid]
        if payload is None:
            payload = _INSTALLED.get(token)
            if payload is None:
                return None
    st = _State(payload)  # outside the lock: unpickling may take a while
    with _LOCK:
        _STATES.setdefault(token, {})[tid] = st
        _STATES.move_to_end(token)
        while len(_STATES) > _KEEP:
            _STATES.popitem(last=False)
    return st


def _forget(token: str) -> None:
    with _LOCK:
        _STATES.pop(token, None)
        _INSTALLED.pop(token, None)


#: What a worker was doing when an exception other than ``f``'s was raised.
_UNPICKLING = "while unpickling f and x"


def _run(
    token: str, payload: bytes | None, lo: int, points: np.ndarray, labels: list[str]
) -> tuple:
    """One task: every row of the elements ``lo, lo + 1, ...`` (``points`` is (R, m)).

    Returns ``(status, token, lo, body)``: the task's identity travels with its
    result, so that the caller matches results to tasks whatever order they
    come back in. ``status`` is ``"ok"`` (``body`` the (R, m) values),
    ``"error"`` (``body`` a packed exception) or ``"missing"`` (this worker
    has not seen the payload). Never raises an :class:`Exception`.
    """
    try:
        st = _state(token, payload)
    except Exception as exc:
        return ("error", token, lo, _pack_error(exc, _UNPICKLING, None))
    if st is None:
        return ("missing", token, lo, None)
    status, body = st.run(lo, points, labels)
    return (status, token, lo, body)


def _run_packed(args: tuple) -> tuple:
    """:func:`_run` for a map-like callable (one argument per task)."""
    return _run(*args)


def _pack_error(exc: BaseException, at: str, by_f: bool | None) -> tuple:
    import cloudpickle

    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    blob: bytes | None
    try:
        blob = cloudpickle.dumps(exc)
        pickle.loads(blob)  # it must also come back
    except Exception:
        blob = None
    name = f"{type(exc).__module__}.{type(exc).__qualname__}"
    return (blob, name, str(exc), tb, at, by_f)


# ------------------------------------------------------------ the caller side
def _note(exc: BaseException, text: str) -> None:
    if hasattr(exc, "add_note"):
        exc.add_note(text)
    elif exc.args and isinstance(exc.args[0], str):  # pragma: no cover (Python < 3.11)
        exc.args = (f"{exc.args[0]} [{text}]",) + exc.args[1:]


def _raise_error(info: tuple) -> None:
    blob, name, msg, tb, at, by_f = info
    exc = None
    if blob is not None:
        try:
            exc = pickle.loads(blob)
        except Exception:
            exc = None
    if not isinstance(exc, BaseException):
        if by_f is None:
            what = f"{name}: {msg} was raised {at}"
        else:
            what = f"f raised {name}: {msg} at {at}"
        raise RuntimeError(
            f"{what} in a worker; the exception itself could not be "
            f"sent back (it does not pickle).\nWorker traceback:\n{tb}"
        )
    if by_f:
        _note(exc, f"raised by f at {at} (in a worker)")
    elif by_f is None:
        _note(exc, f"raised {at} in a worker (does it have every module f needs?)")
    _note(exc, f"worker traceback:\n{tb.rstrip()}")
    raise exc


def _describe(obj: Any) -> str:
    return f"{type(obj).__name__} {reprlib.repr(obj)}"


class _Collect:
    """Puts each task's block where its result says, advances the progress bar, raises errors.

    A result is matched to its task by the identity it carries (the call's
    token and the block's first element), never by the position in which it
    came back; :meth:`check_all` then checks that every task came back once.
    """

    def __init__(
        self, out: np.ndarray, tasks: list[tuple[int, int]], bar: Any, token: str, shape: tuple
    ) -> None:
        self.out, self.tasks, self.bar, self.token, self.shape = out, tasks, bar, token, shape
        self.by_lo = {lo: k for k, (lo, _) in enumerate(tasks)}
        self.finished: set[int] = set()

    def block(self, k: int) -> str:
        lo, hi = self.tasks[k]
        if hi - lo == 1:
            return where(self.shape, lo)
        return f"{where(self.shape, lo)} to {where(self.shape, hi - 1)}"

    def _task(self, result: Any, source: str) -> int:
        if (
            type(result) is tuple
            and len(result) == 4
            and result[0] in ("ok", "error", "missing")
            and isinstance(result[1], str)
            and result[1] == self.token
            and type(result[2]) is int
            and result[2] in self.by_lo
        ):
            return self.by_lo[result[2]]
        raise RuntimeError(
            f"workers: {source} returned {_describe(result)}, which is not the result of one of "
            "this call's tasks: a map must call the function it is given once per item and "
            "return what it returned (in any order), as map, pool.map or pool.imap_unordered do"
        )

    def __call__(self, result: Any, source: str, expect: int | None = None) -> int | None:
        """Store one result; its task's index, or None when the worker lacked the payload."""
        k = self._task(result, source)
        if expect is not None and k != expect:
            raise RuntimeError(
                f"workers: {source} returned the result of the block {self.block(k)} for the "
                f"task of the block {self.block(expect)}"
            )
        status, body = result[0], result[3]
        if status == "missing":
            return None
        if status == "error":
            _raise_error(body)
        lo, hi = self.tasks[k]
        if k in self.finished:
            raise RuntimeError(
                f"workers: {source} returned the block {self.block(k)} twice: a map must return "
                "one result per task (it returned more results than tasks)"
            )
        if not (isinstance(body, np.ndarray) and body.shape == (self.out.shape[0], hi - lo)):
            raise RuntimeError(
                f"workers: {source} returned {_describe(body)} as the values of the block "
                f"{self.block(k)}, not the ({self.out.shape[0]}, {hi - lo}) array its task made"
            )
        self.out[:, lo:hi] = body
        self.finished.add(k)
        if self.bar is not None:
            self.bar.update(self.out.shape[0] * (hi - lo))
        return k

    def check_all(self, source: str, returned: int) -> None:
        """Every task came back (once: :meth:`__call__` refuses a second)."""
        lost = [k for k in range(len(self.tasks)) if k not in self.finished]
        if lost:
            blocks = ", ".join(self.block(k) for k in lost[:3]) + (", ..." if len(lost) > 3 else "")
            raise RuntimeError(
                f"workers: {source} returned {returned} results for {len(self.tasks)} tasks; "
                f"{len(lost)} never came back (the blocks {blocks}): a map must return one "
                "result per task"
            )


def _drive(
    submit: Callable[[int, bool], cf.Future],
    todo: Iterable[int],
    collect: _Collect,
    limit: int,
    first_with_payload: int,
    source: str,
) -> None:
    """Submit tasks (at most ``limit`` in flight), collect results, resubmit on a miss."""
    queue = deque(todo)
    resend: deque[int] = deque()
    inflight: dict[cf.Future, int] = {}
    sent = 0
    try:
        while queue or resend or inflight:
            while (queue or resend) and len(inflight) < limit:
                if resend:
                    k, with_payload = resend.popleft(), True
                else:
                    k, with_payload = queue.popleft(), sent < first_with_payload
                sent += with_payload
                inflight[submit(k, with_payload)] = k
            done, _ = cf.wait(list(inflight), return_when=cf.FIRST_COMPLETED)
            for fut in done:
                k = inflight.pop(fut)
                if collect(fut.result(), source, expect=k) is None:
                    resend.append(k)
    except BaseException:
        for fut in inflight:
            fut.cancel()
        raise


def _mp_context() -> Any:
    """``forkserver`` on Linux (nnnum preloaded in the server), ``spawn`` elsewhere."""
    import multiprocessing as mp

    if sys.platform.startswith("linux") and "forkserver" in mp.get_all_start_methods():
        ctx = mp.get_context("forkserver")
        try:  # add ourselves to the preload (only used when the server starts)
            from multiprocessing import forkserver

            mods = list(getattr(forkserver._forkserver, "_preload_modules", ["__main__"]))
            if __name__ not in mods:
                ctx.set_forkserver_preload(mods + [__name__])
        except Exception:  # pragma: no cover (a private attribute changed)
            pass
        return ctx
    return mp.get_context("spawn")


def _mentions_name(test: ast.expr) -> bool:
    return any(isinstance(n, ast.Name) and n.id == "__name__" for n in ast.walk(test))


def _unguarded_main() -> tuple[str, int] | None:
    """Where the main module's unguarded top-level code runs this call, if it does.

    ``(path, line)`` when the main module's top-level code, outside an
    ``if __name__ == "__main__":`` block, is what is running this call.
    Every process that ``spawn`` or ``forkserver`` starts imports the main
    module again (as ``__mp_main__``; a package's ``__main__`` excepted), so
    such a call would run again in each new process and fail there while the
    process bootstraps. ``None`` when the main module is not a file (``-c``,
    an interactive session, a notebook), is not running its top level, or
    the line is inside any ``if`` that tests ``__name__``.
    """
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str):
        return None
    name = getattr(getattr(main, "__spec__", None), "name", None)
    if isinstance(name, str) and (name == "__main__" or name.endswith(".__main__")):
        return None  # multiprocessing does not import a package's __main__ again
    frame: Any = sys._getframe(1)
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)
    ):
        frame = frame.f_back
    if frame is None or frame.f_lineno is None:
        return None
    line = frame.f_lineno
    try:
        with tokenize.open(path) as fh:
            tree = ast.parse(fh.read(), path)
    except (OSError, SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.If)
            and _mentions_name(node.test)
            and node.lineno <= line <= (node.end_lineno or node.lineno)
        ):
            return None
    return path, line


def _guard_message(guard: tuple[str, int], who: str) -> str:
    path, line = guard
    return (
        f"{who} import the main module {path} again, which calls numerical_gradient from its "
        f'top-level code (line {line}) outside an `if __name__ == "__main__":` block, so '
        "each new process would run the call again: the main module needs that guard (put "
        "the script's top-level code under it)"
    )


def _kill(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel what is queued and terminate the pool's processes (ours only)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for p in procs:
        try:
            p.terminate()
        except Exception:  # pragma: no cover (already gone)
            pass
    pool.shutdown(wait=True, cancel_futures=True)
    for p in procs:
        p.join(5)
        if p.is_alive():  # pragma: no cover (ignored SIGTERM)
            p.kill()
            p.join(1)


def _on_pool(
    size: int,
    opts: Workers,
    token: str,
    payload: bytes,
    tasks: list,
    pts: Callable,
    labels: list,
    collect: _Collect,
) -> None:
    ctx = _mp_context()
    last: BaseException | None = None
    for _attempt in range(opts.retries + 1):
        todo = [k for k in range(len(tasks)) if k not in collect.finished]
        pool = cf.ProcessPoolExecutor(
            max_workers=min(size, len(todo)),
            mp_context=ctx,
            initializer=_install,
            initargs=(token, payload),
        )

        def submit(k: int, with_payload: bool, pool: cf.ProcessPoolExecutor = pool) -> cf.Future:
            return pool.submit(
                _run, token, payload if with_payload else None, tasks[k][0], pts(k), labels
            )

        try:
            _drive(submit, todo, collect, len(todo), 0, f"the pool of workers={size}")
        except BrokenProcessPool as exc:
            _kill(pool)
            last = exc
            continue
        except BaseException:
            _kill(pool)
            raise
        pool.shutdown(wait=True)
        return
    raise BrokenProcessPool(
        f"workers: a worker process died in each of {opts.retries + 1} pools (killed, or out "
        f"of memory?); {len(tasks) - len(collect.finished)} of {len(tasks)} tasks unfinished. "
        "Workers(n, retries=...) sets how often a fresh pool is tried"
    ) from last


def _on_executor(
    ex: cf.Executor,
    token: str,
    payload: bytes,
    tasks: list,
    pts: Callable,
    labels: list,
    collect: _Collect,
) -> None:
    size = _known_size(ex)
    # a known size: the first wave (one task per worker) carries the payload, and one more
    # task per worker waits in the Executor's queue, so that no worker idles while this
    # thread answers; unknown: everything at once, each task with the payload
    first = size if size is not None else len(tasks)
    limit = 2 * size if size is not None else len(tasks)
    name = type(ex).__name__

    def submit(k: int, with_payload: bool) -> cf.Future:
        try:
            return ex.submit(
                _run, token, payload if with_payload else None, tasks[k][0], pts(k), labels
            )
        except cf.BrokenExecutor:
            raise
        except Exception as exc:
            raise RuntimeError(
                f"workers: the {name} does not accept tasks ({type(exc).__name__}: {exc}); "
                "was it shut down (its with-block left)? Pass a running Executor"
            ) from exc

    try:
        _drive(submit, range(len(tasks)), collect, limit, first, f"the {name}")
    except cf.BrokenExecutor as exc:
        _note(
            exc,
            "the Executor broke (a worker process died?); nnnum restarts only the pools it "
            "owns (workers=<int>), and Dask reschedules tasks itself",
        )
        guard = _unguarded_main()
        if guard is not None:
            _note(exc, _guard_message(guard, "the Executor's processes"))
        raise


def _on_map(
    fmap: Callable,
    token: str,
    payload: bytes,
    tasks: list,
    pts: Callable,
    labels: list,
    collect: _Collect,
) -> None:
    args = [(token, payload, lo, pts(k), labels) for k, (lo, _) in enumerate(tasks)]
    source = f"the map {getattr(fmap, '__qualname__', type(fmap).__name__)}"
    try:
        results = fmap(_run_packed, args)
    except Exception as exc:  # the tasks never raise: this is the map's own failure
        raise RuntimeError(
            f"workers: {source} raised {type(exc).__name__}: {exc} (a closed or shut-down pool?)"
        ) from exc
    try:
        it = iter(results)
    except TypeError:
        raise RuntimeError(
            f"workers: {source} returned {_describe(results)}, not an iterable of results: "
            "a map must return one result per item, as map, pool.map or pool.imap_unordered do"
        ) from None
    returned = 0
    while True:
        try:
            result = next(it)
        except StopIteration:
            break
        except Exception as exc:
            raise RuntimeError(
                f"workers: {source} raised {type(exc).__name__}: {exc} while returning its "
                f"results ({returned} of {len(tasks)} returned)"
            ) from exc
        returned += 1
        if collect(result, source) is None:  # pragma: no cover (every task carries the payload)
            raise RuntimeError(f"workers: a task of {source} came back without its payload")
    collect.check_all(source, returned)


def _dask_address(client: Any) -> str:
    """The scheduler's address, also after the client lost it."""
    for get in (
        lambda: client.scheduler.address,
        lambda: client._scheduler_identity["address"],
        lambda: client.cluster.scheduler_address,
        lambda: client._start_arg,
    ):
        try:
            addr = get()
        except Exception:
            continue
        if isinstance(addr, str) and addr:
            return addr
    return "<unknown address>"


def _dask_ready(client: Any, timeout: float) -> int:
    """Threads of the client's workers, once at least one is there (else a clear error)."""
    addr = _dask_address(client)
    status = getattr(client, "status", "running")
    if status != "running":
        raise RuntimeError(
            f"workers: the Dask client of the scheduler at {addr} is {status!r}, not running "
            "(scheduler gone, or client closed)"
        )
    try:
        client.wait_for_workers(1, timeout=timeout)
        nthreads = client.nthreads()
    except (TimeoutError, cf.TimeoutError):
        raise TimeoutError(
            f"workers: no Dask worker is connected to the scheduler at {addr} after "
            f"{timeout:g} s; start workers (dask worker {addr}) or check the address"
        ) from None
    except OSError as exc:
        raise RuntimeError(
            f"workers: the Dask scheduler at {addr} cannot be reached: {exc}"
        ) from exc
    return max(1, sum(int(v) for v in nthreads.values()))


def _same(payload: bytes) -> bytes:
    """The Dask task that holds the payload: recomputable from its own arguments."""
    return payload


def _on_dask(
    client: Any,
    opts: Workers,
    token: str,
    payload: bytes,
    tasks: list,
    pts: Callable,
    labels: list,
    collect: _Collect,
) -> None:
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    # the payload as a task, not scattered data: the scheduler keeps its bytes, so that when
    # every worker holding it dies Dask recomputes it (scattered data is lost with them, and
    # every task depending on it is cancelled); each worker fetches it once from a peer
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge object", category=UserWarning)
        pf = client.submit(_same, payload, pure=False, key=f"nnnum-{token}-payload")
    futures = []
    try:
        for k, (lo, _) in enumerate(tasks):
            futures.append(
                client.submit(
                    _run, token, pf, lo, pts(k), labels, pure=False, key=f"nnnum-{token}-{k}"
                )
            )
        index = {fut.key: k for k, fut in enumerate(futures)}
        for fut in as_completed(futures):
            k = index[fut.key]
            try:
                result = fut.result()
            except KilledWorker as exc:
                raise RuntimeError(
                    f"workers: a Dask worker died (killed, or out of memory?) each time it ran "
                    f"the block {collect.block(k)} (task {fut.key}); Dask gives a task up after "
                    "distributed.scheduler.allowed-failures such deaths"
                ) from exc
            except cf.CancelledError as exc:
                raise RuntimeError(
                    f"workers: the Dask task of the block {collect.block(k)} ({fut.key}) was "
                    f"cancelled: {exc}"
                ) from exc
            if collect(result, "Dask", expect=k) is None:  # pragma: no cover (payload is sent)
                raise RuntimeError("workers: a Dask task came back without its payload")
    except BaseException:
        try:
            client.cancel(futures + [pf])
        except Exception:  # pragma: no cover (client gone)
            pass
        raise
    finally:
        del futures
        pf.release()


def _known_size(target: Any) -> int | None:
    for obj in (target, getattr(target, "__self__", None)):
        for attr in ("_max_workers", "_processes"):
            v: Any = getattr(obj, attr, None)
            if _is_int(v, 1):
                return int(v)
    return None


def _bar(progress: bool | None, total: int) -> Any:
    if progress is False or progress is np.False_:
        return None
    from tqdm.auto import tqdm

    # progress=None: only on a terminal, and only when the run lasts over a second
    return tqdm(
        total=total,
        desc="numerical_gradient",
        unit="f",
        leave=False,
        disable=None if progress is None else False,
        delay=1.0 if progress is None else 0.0,
        mininterval=0.5,
    )


def evaluate(
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
    :func:`nnnum.diff.engines.loop.evaluate`.
    """
    opts = check_workers(workers, progress)
    if opts is None:
        raise TypeError("workers: evaluate needs workers (None evaluates in this process)")
    kind = _kind(opts.target)
    rows, n = points.shape
    out = np.empty((rows, n))
    if n == 0 or rows == 0:
        return out
    if kind == "pool":
        guard = _unguarded_main()
        if guard is not None:
            raise RuntimeError(
                f"workers={opts.target!r}: " + _guard_message(guard, "the new worker processes")
            )
    if kind == "dask":
        size = _dask_ready(opts.target, opts.timeout)  # fail fast, before pickling
    elif kind == "pool":
        size = int(opts.target)
    else:
        size = _known_size(opts.target) or os.cpu_count() or 1
    chunk = opts.chunk or max(1, math.ceil(n / (TASKS_PER_WORKER * size)))
    tasks = [(lo, min(lo + chunk, n)) for lo in range(0, n, chunk)]
    labels = [str(s) for s in row_labels]

    def pts(k: int) -> np.ndarray:
        lo, hi = tasks[k]
        return np.ascontiguousarray(points[:, lo:hi])

    payload = _payload(f, fx, arr)
    token = uuid.uuid4().hex
    bar = _bar(progress, rows * n)
    collect = _Collect(out, tasks, bar, token, arr.shape)
    try:
        if kind == "pool":
            _on_pool(size, opts, token, payload, tasks, pts, labels, collect)
        elif kind == "executor":
            _on_executor(opts.target, token, payload, tasks, pts, labels, collect)
        elif kind == "map":
            _on_map(opts.target, token, payload, tasks, pts, labels, collect)
        else:
            _on_dask(opts.target, opts, token, payload, tasks, pts, labels, collect)
    finally:
        if bar is not None:
            bar.close()
        _forget(token)  # copies this process made (map, threads)
    return out
