"""The worker side: a worker's own ``f`` and ``x``, unpickled once, and one task's loop.

A task is one of two jobs (:data:`COLUMNS`, :data:`SETS`): every row of a block of
consecutive elements (the gradient's plan), or a block of consecutive perturbation
sets (the Jacobian's colours, the Hessian's pairs: :mod:`nnnum.diff.perturb`).
"""

from __future__ import annotations

import math
import pickle
import threading
import traceback
from collections import OrderedDict
from typing import Any

import numpy as np

from ...checks import scalar_result
from ...steps import where

__all__ = [
    "COLUMNS",
    "KEEP",
    "SETS",
    "State",
    "forget",
    "install",
    "pack_error",
    "run_packed",
    "run_task",
    "state",
]

#: Unpickled payloads a worker keeps (the most recently used tokens).
KEEP = 2
#: The gradient's job: ``(COLUMNS, points, labels)``, every row of a block of elements.
COLUMNS = "columns"
#: The perturbation sets' job: ``(SETS, ptr, idx, val, out_shape)``, a block of sets.
SETS = "sets"


# ------------------------------------------------------------ the worker side
class State:
    """A worker's own ``f`` and ``x`` (unpickled once), and the in-place loop over a block."""

    def __init__(self, payload: bytes) -> None:
        self.f, self.fx = pickle.loads(payload)
        fx = self.fx
        self.arr = fx if type(fx) is np.ndarray else fx.view(np.ndarray)
        self.shape = self.arr.shape
        self.flat = self.arr.reshape(-1) if self.arr.flags.c_contiguous else None

    def run(self, lo: int, job: tuple) -> tuple:
        """The task's job: ``("ok", values)``, ``("error", packed)`` or ``("value", ...)``."""
        if job[0] == SETS:
            return self.sets(lo, *job[1:])
        return self.columns(lo, *job[1:])

    def columns(self, lo: int, points: np.ndarray, labels: list[str]) -> tuple:
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

    def sets(
        self, lo: int, ptr: np.ndarray, idx: np.ndarray, val: np.ndarray, out_shape: tuple
    ) -> tuple:
        """Sets ``lo, lo + 1, ...`` (``ptr`` from 0): ``f`` of each, flattened, one row each.

        The payload's ``x`` is this worker's own copy (the caller sent a private
        base), perturbed and restored in place, as :func:`nnnum.diff.engines.loop.evaluate_sets`
        does with its copy: the same values, bit for bit. Where ``f`` raises, the
        packed exception's place is the set's index ``lo + p``; where its value is
        not ``out_shape`` numbers, ``("value", lo + p, value)`` goes back for the
        caller to check with the set's name (one home for that check).
        """
        from ...perturb import values_of

        f, x = self.f, self.fx
        flat = self.arr.reshape(-1)  # the base is C-ordered: a view
        cplx = flat.dtype.kind == "c"
        count = ptr.size - 1
        out = np.empty((count, math.prod(out_shape)), dtype=np.complex128 if cplx else np.float64)
        for p in range(count):
            ii = idx[ptr[p] : ptr[p + 1]]
            orig = flat[ii]  # a copy (fancy index)
            flat[ii] = val[ptr[p] : ptr[p + 1]]
            try:
                try:
                    v = f(x)
                except Exception as exc:
                    return ("error", pack_error(exc, lo + p, True))
                try:
                    out[p] = values_of(v, out_shape, "", cplx)
                except Exception:
                    return ("value", (lo + p, _sendable(v)))
            finally:
                flat[ii] = orig
        return ("ok", out)


def _sendable(v: Any) -> Any:
    """``v`` where it pickles, else a description that says what it was."""
    import cloudpickle

    try:
        pickle.loads(cloudpickle.dumps(v))
        return v
    except Exception:
        return _Unpicklable(f"{type(v).__module__}.{type(v).__qualname__}")


class _Unpicklable(str):
    """The type name of a value ``f`` returned that could not be sent back."""


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


def run_task(token: str, payload: bytes | None, lo: int, job: tuple) -> tuple:
    """One task: the ``job`` (:data:`COLUMNS` or :data:`SETS`) from element or set ``lo``.

    Returns ``(status, token, lo, body)``: the task's identity travels with its
    result, so that the caller matches results to tasks whatever order they
    come back in. ``status`` is ``"ok"`` (``body`` the values: (R, m) for
    columns, (sets, outputs) for sets), ``"error"`` (``body`` a packed
    exception), ``"value"`` (a set's value that is not numbers of the shape:
    ``(set, value)``) or ``"missing"`` (this worker has not seen the payload).
    Never raises an :class:`Exception`.
    """
    try:
        st = state(token, payload)
    except Exception as exc:
        return ("error", token, lo, pack_error(exc, UNPICKLING, None))
    if st is None:
        return ("missing", token, lo, None)
    status, body = st.run(lo, job)
    return (status, token, lo, body)


def run_packed(args: tuple) -> tuple:
    """:func:`run_task` for a map-like callable (one argument per task)."""
    return run_task(*args)


def pack_error(exc: BaseException, at: str | int, by_f: bool | None) -> tuple:
    """An exception as picklable parts (itself where it pickles, its traceback, where).

    ``at`` says where in words, or is the index of a perturbation set (the
    caller names it: the names of the sets stay in the caller's process).
    """
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
