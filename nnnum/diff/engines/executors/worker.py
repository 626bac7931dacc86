"""The worker side: a worker's own ``f`` and ``x``, unpickled once, and one task's loop."""

from __future__ import annotations

import pickle
import threading
import traceback
from collections import OrderedDict
from typing import Any

import numpy as np

from ...checks import scalar_result
from ...steps import where

__all__ = ["KEEP", "State", "forget", "install", "pack_error", "run_packed", "run_task", "state"]

#: Unpickled payloads a worker keeps (the most recently used tokens).
KEEP = 2


# ------------------------------------------------------------ the worker side
class State:
    """A worker's own ``f`` and ``x`` (unpickled once), and the in-place loop over a block."""

    def __init__(self, payload: bytes) -> None:
        self.f, self.fx = pickle.loads(payload)
        fx = self.fx
        self.arr = fx if type(fx) is np.ndarray else fx.view(np.ndarray)
        self.shape = self.arr.shape
        self.flat = self.arr.reshape(-1) if self.arr.flags.c_contiguous else None

    def run(self, lo: int, points: np.ndarray, labels: list[str]) -> tuple:
        """Every row of the elements from ``lo``: ``("ok", values)`` or ``("error", packed)``."""
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
                        return ("error", pack_error(exc, f"{where(shape, i)} {labels[r]}", True))
                    try:
                        out[r, j] = scalar_result(v, lambda: f"{where(shape, i)} {labels[r]}")
                    except Exception as exc:
                        return ("error", pack_error(exc, f"{where(shape, i)} {labels[r]}", False))
            finally:
                view[idx] = orig
        return ("ok", out)


_LOCK = threading.Lock()
#: Payload bytes installed by an ``int`` pool's initializer, by token.
_INSTALLED: dict[str, bytes] = {}
#: Unpickled payloads: token -> {thread id: State}, most recently used last.
_STATES: OrderedDict[str, dict[int, State]] = OrderedDict()


def install(token: str, payload: bytes) -> None:
    """Pool initializer: the payload, once per process."""
    with _LOCK:
        _INSTALLED.clear()
        _INSTALLED[token] = payload


def state(token: str, payload: bytes | None) -> State | None:
    """The calling thread's :class:`State` of the payload ``token`` (None: not seen here)."""
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
    st = State(payload)  # outside the lock: unpickling may take a while
    with _LOCK:
        _STATES.setdefault(token, {})[tid] = st
        _STATES.move_to_end(token)
        while len(_STATES) > KEEP:
            _STATES.popitem(last=False)
    return st


def forget(token: str) -> None:
    """Drop the payload ``token`` and its unpickled copies."""
    with _LOCK:
        _STATES.pop(token, None)
        _INSTALLED.pop(token, None)


#: What a worker was doing when an exception other than ``f``'s was raised.
UNPICKLING = "while unpickling f and x"


def run_task(
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
        st = state(token, payload)
    except Exception as exc:
        return ("error", token, lo, pack_error(exc, UNPICKLING, None))
    if st is None:
        return ("missing", token, lo, None)
    status, body = st.run(lo, points, labels)
    return (status, token, lo, body)


def run_packed(args: tuple) -> tuple:
    """:func:`run_task` for a map-like callable (one argument per task)."""
    return run_task(*args)


def pack_error(exc: BaseException, at: str, by_f: bool | None) -> tuple:
    """An exception as picklable parts (itself where it pickles, its traceback, where)."""
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
