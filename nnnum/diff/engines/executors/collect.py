"""The caller side: results put back by the identity they carry, errors raised as themselves."""

from __future__ import annotations

import concurrent.futures as cf
import pickle
import reprlib
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ...steps import where

__all__ = ["Collect", "Columns", "Sets", "describe", "drive", "note", "raise_error"]


# ------------------------------------------------------------ the caller side
def note(exc: BaseException, text: str) -> None:
    """Add ``text`` to ``exc``'s notes (its message before Python 3.11)."""
    if hasattr(exc, "add_note"):
        exc.add_note(text)
    elif exc.args and isinstance(exc.args[0], str):  # pragma: no cover (Python < 3.11)
        exc.args = (f"{exc.args[0]} [{text}]",) + exc.args[1:]


def raise_error(info: tuple, name_set: Callable[[int], str] | None = None) -> None:
    """Raise a worker's packed exception as itself, with where it was raised.

    ``name_set`` names a perturbation set where the worker gave its index.
    """
    blob, name, msg, tb, at, by_f = info
    if not isinstance(at, str):
        at = name_set(int(at)) if name_set is not None else f"perturbation set {at}"
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
        note(exc, f"raised by f at {at} (in a worker)")
    elif by_f is None:
        note(exc, f"raised {at} in a worker (does it have every module f needs?)")
    note(exc, f"worker traceback:\n{tb.rstrip()}")
    raise exc


def describe(obj: Any) -> str:
    """A short description of ``obj`` for messages: its type and a bounded repr."""
    return f"{type(obj).__name__} {reprlib.repr(obj)}"


class Collect:
    """Puts each task's block where its result says, advances the progress bar, raises errors.

    A result is matched to its task by the identity it carries (the call's
    token and the block's first element or set), never by the position in
    which it came back; :meth:`check_all` then checks that every task came
    back once. ``blocks`` says where a task's values go (:class:`Columns`: a
    block of columns of ``out``, the gradient's elements; :class:`Sets`: a
    block of rows, perturbation sets).
    """

    def __init__(
        self, out: np.ndarray, tasks: list[tuple[int, int]], bar: Any, token: str, blocks: Any
    ) -> None:
        self.out, self.tasks, self.bar, self.token = out, tasks, bar, token
        self.blocks = blocks
        self.by_lo = {lo: k for k, (lo, _) in enumerate(tasks)}
        self.finished: set[int] = set()

    def block(self, k: int) -> str:
        """The elements or sets of task ``k``, for messages."""
        lo, hi = self.tasks[k]
        return self.blocks.name(lo, hi)

    def _task(self, result: Any, source: str) -> int:
        if (
            type(result) is tuple
            and len(result) == 4
            and result[0] in ("ok", "error", "missing", "value")
            and isinstance(result[1], str)
            and result[1] == self.token
            and type(result[2]) is int
            and result[2] in self.by_lo
        ):
            return self.by_lo[result[2]]
        raise RuntimeError(
            f"workers: {source} returned {describe(result)}, which is not the result of one of "
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
            raise_error(body, getattr(self.blocks, "label", None))
        if status == "value":
            self.blocks.bad_value(*body)
        lo, hi = self.tasks[k]
        if k in self.finished:
            raise RuntimeError(
                f"workers: {source} returned the block {self.block(k)} twice: a map must return "
                "one result per task (it returned more results than tasks)"
            )
        want = self.blocks.shape(self.out, lo, hi)
        if not (isinstance(body, np.ndarray) and body.shape == want):
            raise RuntimeError(
                f"workers: {source} returned {describe(body)} as the values of the block "
                f"{self.block(k)}, not the {want} array its task made"
            )
        self.blocks.put(self.out, lo, hi, body)
        self.finished.add(k)
        if self.bar is not None:
            self.bar.update(self.blocks.evaluations(self.out, lo, hi))
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


class Columns:
    """The gradient's tasks: task ``lo:hi`` is every row of the elements ``lo:hi`` of ``x``."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.x_shape = shape

    def name(self, lo: int, hi: int) -> str:
        """The elements ``lo:hi``, for messages."""
        if hi - lo == 1:
            return where(self.x_shape, lo)
        return f"{where(self.x_shape, lo)} to {where(self.x_shape, hi - 1)}"

    @staticmethod
    def shape(out: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
        """The shape of the task's values: every row, its columns."""
        return (out.shape[0], hi - lo)

    @staticmethod
    def put(out: np.ndarray, lo: int, hi: int, body: np.ndarray) -> None:
        """The task's values into their columns of ``out``."""
        out[:, lo:hi] = body

    @staticmethod
    def evaluations(out: np.ndarray, lo: int, hi: int) -> int:
        """Evaluations of ``f`` the task made (the progress bar's unit)."""
        return out.shape[0] * (hi - lo)

    def bad_value(self, at: int, value: Any) -> None:  # pragma: no cover (columns check there)
        """Not sent by a gradient task (its worker checks the value with the element's name)."""
        raise RuntimeError("workers: a gradient task returned a set's value")


class Sets:
    """Perturbation sets' tasks: task ``lo:hi`` is the sets ``lo:hi``, one row of ``out`` each.

    ``label(p)`` names set ``p`` (in the caller's process: the names stay
    here); ``check(value, at)`` raises the error of a value that is not
    numbers of the output's shape (:func:`nnnum.diff.perturb.values_of`).
    """

    def __init__(self, label: Callable[[int], str], check: Callable[[Any, str], Any]) -> None:
        self.label, self.check = label, check

    def name(self, lo: int, hi: int) -> str:
        """The sets ``lo:hi``, for messages."""
        if hi - lo == 1:
            return f"of the perturbation {lo} ({self.label(lo)})"
        return f"of the perturbations {lo} to {hi - 1} (from {self.label(lo)})"

    @staticmethod
    def shape(out: np.ndarray, lo: int, hi: int) -> tuple[int, int]:
        """The shape of the task's values: its rows, every output."""
        return (hi - lo, out.shape[1])

    @staticmethod
    def put(out: np.ndarray, lo: int, hi: int, body: np.ndarray) -> None:
        """The task's values into their rows of ``out``."""
        out[lo:hi] = body

    @staticmethod
    def evaluations(out: np.ndarray, lo: int, hi: int) -> int:
        """Evaluations of ``f`` the task made: one per set."""
        return hi - lo

    def bad_value(self, at: int, value: Any) -> None:
        """Raise the error of set ``at``'s value, named here (its check's one home)."""
        from .worker import _Unpicklable

        where_ = self.label(int(at))
        if isinstance(value, _Unpicklable):
            raise TypeError(
                f"f must return real numbers (a scalar or an array); it returned a {value} at "
                f"{where_} (in a worker)"
            )
        self.check(value, where_)
        raise RuntimeError(  # pragma: no cover (the worker's check failed, so this one does)
            f"workers: a worker found f's value at {where_} not numbers of the output's shape"
        )


def drive(
    submit: Callable[[int, bool], cf.Future],
    todo: Iterable[int],
    collect: Collect,
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
