"""The ``prange`` engine: a Numba-compiled ``f`` evaluated in a parallel kernel.

The kernel is specialised to each ``f``: ``f`` is baked in as a compile-time
constant rather than passed as an argument, because typing a function
argument costs ~20 us on every call, more than the whole kernel for a small
``x``. The kernels of the most recently used functions are kept in a small
LRU cache; older ones are dropped, and with them (once the caller lets go of
``f``) the function and its machine code. A weakly keyed cache cannot do this:
the compiled kernel itself refers to ``f`` through Numba's internals, so a
value would keep its own key alive forever. The kernels themselves are in
:mod:`._prange_kernels`.

``NNNUM_PARALLEL_AFTER_S=<seconds>`` (default 0: off) makes a jitted ``f``'s
calls with ``parallel=None`` start on the serial kernels, which compile in
about half the time of the parallel ones, and move to the parallel
kernels for good once the serial runs have lost that many seconds beside them
(their measured time, less the share the other threads would have taken), or
at once for a call whose work alone would lose that much (its evaluations
times one timed call of ``f``): the ski-rental rule, for programs that make a
few quick calls of many new functions. Off by default, because every call in
the first seconds of a long run would be serial. Both give the same bits.
"""

from __future__ import annotations

import collections
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from ..._core.jit import call_kernel, is_jitted, is_parallel
from ..._core.regions import REGIONS
from ..._core.threads import nests
from ..checks import scalar_result
from ._prange_kernels import build, build_sets, default_chunks
from .base import Options, Ready, Target

#: How many jitted functions keep their compiled gradient kernels.
CACHE_SIZE = 16


def _env_number(name: str, default: str, top: float, meaning: str) -> float:
    """The number in environment variable ``name`` (``default`` if unset), in ``[0, top]``."""
    text = os.environ.get(name, default)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= top:  # NaN too
        raise ValueError(f"{name} must be {meaning}, got {text!r}")
    return value


def _parallel_after() -> float:
    return _env_number(
        "NNNUM_PARALLEL_AFTER_S",
        "0",
        math.inf,
        "a number of seconds >= 0 (0: the parallel kernels at the first call)",
    )


def _copy_budget() -> int:
    mib = _env_number(
        "NNNUM_COPY_BUDGET_MIB",
        "64",
        2.0**40,
        "a number of MiB from 0 to 2**40 (what the default call of a jitted f may hold in "
        "copies of x beyond the gradient and one copy)",
    )
    return int(mib * (1 << 20))


#: Seconds the serial kernels of an ``f`` may lose beside the parallel ones before these are
#: compiled, from ``NNNUM_PARALLEL_AFTER_S``; 0 (the default): the parallel kernels from the
#: first call.
PARALLEL_AFTER_S = _parallel_after()
#: Parallel chunks at most (4 per thread): the size of every kernel's ``done`` flags.
_MAX_CHUNKS = 4 * int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
#: From this size on, the default call perturbs a C-ordered ``x`` in place (memory: the
#: gradient plus one copy per lane beyond the first, see :func:`max_lanes`); below it, a private
#: snapshot (lock-free, and the copy costs less than holding ``x``'s region).
IN_PLACE_MIN_BYTES = 1 << 20
#: Bytes the default call may hold in copies of ``x`` beyond the gradient and one copy (the
#: first lane's snapshot, or its one further lane where ``x`` is perturbed in place), from
#: ``NNNUM_COPY_BUDGET_MIB`` (default 64): a large ``x`` runs in fewer lanes than threads
#: (see :func:`max_lanes`), so that 10^7 float64 elements cost at most 2x ``x``.
COPY_BUDGET_BYTES = _copy_budget()

_CACHE: collections.OrderedDict[int, _Entry] = collections.OrderedDict()
_LOCK = threading.Lock()


class _Entry:
    """One jitted ``f``'s kernels, compiled on first use, and the argument types checked."""

    __slots__ = (
        "f",
        "parallel",
        "serial",
        "central2",
        "complex",
        "checked",
        "nested",
        "sets",
        "seconds",
        "lost",
        "hot",
    )

    def __init__(self, f: Any) -> None:
        self.f = f
        self.parallel, self.serial, self.central2, *pair = build(f)
        #: (parallel, serial) complex-step kernels
        self.complex = tuple(pair)
        #: (dtype, ndim) for which ``f`` was seen to return a real scalar
        self.checked: set[tuple[str, int]] = set()
        #: ``f`` runs parallel regions of its own: launched from a parallel kernel they would
        #: nest, which Numba's ``workqueue`` layer cannot do (it aborts the process), so
        #: such an ``f`` runs from the serial kernel
        self.nested = runs_parallel_regions(f)
        #: (parallel, serial) kernels of the sets job, by whether f returns a scalar: built
        #: on first use (the gradient never needs them)
        self.sets: dict[bool, tuple[Any, Any]] = {}
        #: one evaluation of ``f``, timed (None until a call that compiled nothing was timed)
        self.seconds: float | None = None
        #: what the serial kernels have cost beyond the parallel ones, so far (seconds)
        self.lost = 0.0
        #: the parallel kernels run from now on (with ``parallel=None``)
        self.hot = False

    def sets_kernels(self, scalar: bool) -> tuple[Any, Any]:
        """The sets job's (parallel, serial) kernels for a scalar or an array ``f``."""
        pair = self.sets.get(scalar)
        if pair is None:
            pair = self.sets[scalar] = build_sets(self.f, scalar)
        return pair


def runs_parallel_regions(f: Any, _seen: set[int] | None = None) -> bool:
    """True for a jitted ``f`` compiled with ``parallel=True`` or calling one that is.

    Read from the Python source's references (globals, closure cells, nested
    functions), recursively: the compiled code cannot be inspected once it
    comes from Numba's on-disk cache. A parallel function reached only through
    an argument is not seen.
    """
    seen = set() if _seen is None else _seen
    if id(f) in seen:
        return False
    seen.add(id(f))
    if is_parallel(f):
        return True
    py = getattr(f, "py_func", None)
    if py is None:
        return False
    refs: list[Any] = [c.cell_contents for c in (py.__closure__ or ()) if _filled(c)]
    codes = [py.__code__]
    while codes:
        code = codes.pop()
        refs += [py.__globals__.get(name) for name in code.co_names]
        codes += [c for c in code.co_consts if isinstance(c, type(code))]
    return any(is_jitted(r) and runs_parallel_regions(r, seen) for r in refs)


def _filled(cell: Any) -> bool:
    try:
        _ = cell.cell_contents
    except ValueError:  # an empty cell
        return False
    return True


# ------------------------------------------------------------------ the Engine protocol
def accepts(f: Any, target: Target, options: Options) -> bool:
    """A Numba-compiled ``f`` of an at least 1-d ``x``, on a backend that compiles."""
    return bool(is_jitted(f) and target.arr.ndim > 0 and options.backend.JIT)


def prepare(f: Any, target: Target, options: Options) -> Ready:
    """A private C-ordered copy of ``x`` (``x`` as it is now), and ``f`` checked on it.

    The check call (one evaluation, counted in ``nfev``) compiles ``f`` for
    the copy's type and checks that it returns a real scalar.
    """
    with REGIONS.hold(target.arr):  # a consistent snapshot: no other thread's perturbation in it
        base = np.ascontiguousarray(target.arr).copy()
    scalar_result(timed_check(_entry(f), base), "x")  # checks the return type, compiles f
    return Ready(target.ready(base.reshape(-1), base, extra=1))


def evaluate(
    f: Any, target: Target, points: np.ndarray, labels: list[str], options: Options
) -> np.ndarray:
    """:func:`perturbed` on the engine's own copy of ``x``."""
    return perturbed(f, target.base, points, options.parallel)


def f_at_x(f: Any, target: Target, options: Options) -> float:
    """``f`` of the engine's own copy of ``x``."""
    return scalar_result(f(target.base), "x")


# ------------------------------------------------------------------ the kernels
def perturbed(f: Any, base: np.ndarray, points: np.ndarray, parallel: bool | None) -> np.ndarray:
    """``F[r, i] = f(base with base_i = points[r, i])``, in the kernel specialised to ``f``.

    ``base`` is a private C-ordered copy of ``x`` (shaped like it); each chunk
    of elements perturbs its own copy of it, so ``x`` is never touched. The
    result is bit-identical for the serial and parallel kernels and any number
    of threads. An ``f`` compiled with ``parallel=True`` runs its own parallel
    regions: it is called from the serial kernel (nested parallel regions
    abort under Numba's workqueue layer), with the same result; under
    ``workqueue`` every ``f`` is (see :func:`_parallel_ok`).
    """
    flat = base.reshape(-1)
    rows, n = points.shape
    out = np.empty((rows, n))
    entry = _entry(f)
    if _parallel_ok(entry, parallel, rows * n):
        _run(entry.parallel, entry.serial, flat, points, base.shape, default_chunks(n), out)
    else:
        _serial(entry, entry.serial, flat, points, base.shape, 1, out)
    return out


def _parallel_ok(entry: _Entry, parallel: bool | None, evaluations: int) -> bool:
    """Whether ``entry.f`` runs from the parallel kernel for ``evaluations`` of it.

    Not when asked not to, not for an ``f`` seen to run parallel regions of its
    own, and not at all under a threading layer that cannot nest parallel
    regions (``workqueue``: see :func:`nnnum._core.threads.nests`), where an ``f``
    reaching a parallel function in a way the source scan cannot see (a module
    attribute, an argument) would abort the process. With ``parallel=None``,
    once the serial kernel has lost :data:`PARALLEL_AFTER_S` (see the module's
    docstring), or when ``f``'s time is unknown. The serial kernel gives the
    same bits.
    """
    if parallel is False or entry.nested or not nests():
        return False
    if parallel is True or entry.hot or PARALLEL_AFTER_S <= 0.0:
        entry.hot = True  # compiled now, or soon: kept from now on
        return True
    threads = numba.get_num_threads()
    if threads < 2:
        return False
    if entry.seconds is None or (
        entry.lost + evaluations * entry.seconds * (1.0 - 1.0 / threads) >= PARALLEL_AFTER_S
    ):
        entry.hot = True
    return entry.hot


def _serial(entry: _Entry, serial_kernel: Any, *args: Any) -> None:
    """Run a serial kernel (:func:`_run`) and add what it lost beside the parallel one.

    A call that compiled the kernel adds nothing: compiling the parallel one costs more.
    """
    _, seconds = _timed(serial_kernel, _run, None, serial_kernel, *args)
    if seconds is not None:
        entry.lost += seconds * (1.0 - 1.0 / max(1, numba.get_num_threads()))


def _timed(dispatcher: Any, call: Any, *args: Any) -> tuple[Any, float | None]:
    """``call(*args)`` and its seconds; None for the seconds where ``dispatcher`` compiled."""
    overloads = getattr(dispatcher, "overloads", None)
    before = len(overloads) if overloads is not None else -1
    start = time.perf_counter()
    value = call(*args)
    seconds = time.perf_counter() - start
    return value, seconds if overloads is not None and len(overloads) == before else None


def _run(
    par_kernel: Any,
    serial_kernel: Any,
    *args: Any,
    rerun: Callable[[], tuple[Any, ...]] | None = None,
) -> None:
    """Run a perturbation kernel; ``f``'s exceptions reach the caller, from any thread.

    Numba re-raises an exception of the calling thread's share of a parallel
    loop, but one raised in a worker thread is lost: the kernel returns with
    that thread's chunk unfinished and nothing said (a silently wrong
    gradient). Every chunk therefore ticks ``done`` last thing; an unticked
    chunk means ``f`` raised, and the serial kernel runs again, in this
    thread, where the exception surfaces as itself (on ``rerun()``'s arguments
    where given: fresh ones for a kernel that modifies its own).
    """
    done = np.zeros(_MAX_CHUNKS, dtype=np.bool_)
    if par_kernel is not None:
        call_kernel(par_kernel, *args, done)
        if np.count_nonzero(done) == done.size:
            return
        if rerun is not None:
            args = rerun()
    call_kernel(serial_kernel, *args, done)
    if np.count_nonzero(done) != done.size:  # pragma: no cover (an exception always surfaces)
        raise RuntimeError("the serial kernel stopped without an exception")
    if par_kernel is not None:
        raise RuntimeError(
            "f raised an exception in a worker thread of the parallel kernel but not when "
            "the same evaluations were run again serially: f does not give the same result "
            "for the same input (pass parallel=False to run it serially)"
        )


def check_call(f: Any, base: np.ndarray) -> Any:
    """``f(base)``, called once from Python (it compiles ``f`` for ``base``'s type), clear errors.

    A jitted ``f`` with an explicit signature (``@njit("float64(float64[:])")``)
    that does not take ``base`` (float32, or another number of dimensions)
    raises Numba's bare ``No matching definition``: it comes back as a
    ``TypeError`` saying what ``x`` is, what ``f`` takes and what to do. Other
    exceptions of ``f`` pass through as themselves.
    """
    try:
        return f(base)
    except TypeError as exc:
        if "No matching definition" not in str(exc):
            raise
        raise TypeError(_signature_message(f, base, exc)) from exc


def timed_check(entry: _Entry, base: np.ndarray) -> Any:
    """:func:`check_call` of ``entry.f``, timed into ``entry.seconds`` where nothing compiled.

    Only with :data:`PARALLEL_AFTER_S` on: nothing reads the time otherwise.
    """
    if PARALLEL_AFTER_S <= 0.0:
        return check_call(entry.f, base)
    value, seconds = _timed(entry.f, check_call, entry.f, base)
    if seconds is not None:
        entry.seconds = seconds
    return value


def _signature_message(f: Any, x: np.ndarray, exc: BaseException) -> str:
    sigs = "; ".join(
        "(" + ", ".join(str(t) for t in sig) + ")" for sig in getattr(f, "signatures", ())
    )
    return (
        f"f is compiled with an explicit signature {sigs or '()'} that does not take x, a "
        f"{x.ndim}-D {x.dtype} array (Numba: {str(exc).strip().splitlines()[0]}). Pass x "
        "of a type f was compiled for (e.g. x.astype(np.float64), or the shape it expects), "
        "or compile f without a signature (lazily) so that it compiles for the x it is given"
    )


def central2(f: Any, x: np.ndarray, h: float) -> np.ndarray | None:
    """The book's default gradient of the jitted ``f`` in one parallel kernel, or None.

    ``(f(x + h e_i) - f(x - h e_i)) / ((x_i + h) - (x_i - h))``, bit-identical to
    the general path (plan, :func:`perturbed`, finish) at about a third of its
    per-call cost, which is most of the time for a small ``x``. ``x`` is the
    caller's writable float32/float64 array (at least 1-d, any layout). A
    C-ordered ``x`` of :data:`IN_PLACE_MIN_BYTES` or more is perturbed in place
    by the kernel's first lane (holding its memory region, as the loop engine
    does for a Python ``f``) and copied once for each other lane: the gradient
    plus one copy of ``x`` per lane beyond the first, and ``x`` ends bit for
    bit as it began, also when ``f`` raises. Any other ``x`` is perturbed
    through a private C-ordered snapshot. A large ``x`` runs in fewer lanes
    than threads (:func:`max_lanes`): the copies beyond the gradient and one copy
    of ``x`` hold at most :data:`COPY_BUDGET_BYTES`.
    None when any element needs the general path: a step that rounds by more
    than 1%, NaN or inf in ``x``, a non-finite difference (the general path
    raises or warns, naming the element). An ``f`` that runs its own parallel
    regions is not run here (None).
    """
    if x.nbytes >= IN_PLACE_MIN_BYTES and type(x) is np.ndarray and x.flags.c_contiguous:
        entry = _checked(f, x)  # compiles f for x: before x's region is held
        if entry is None:
            return None
        held = REGIONS.acquire_one(x)
        try:
            return _central2(entry, x, h, max_lanes(x.nbytes, in_place=True))
        finally:
            REGIONS.release_one(held)
    base = REGIONS.snapshot(x)
    entry = _checked(f, base)
    return None if entry is None else _central2(entry, base, h, max_lanes(base.nbytes, False))


def max_lanes(nbytes: int, in_place: bool) -> int:
    """The most parallel lanes the default call runs for an ``x`` of ``nbytes`` (one per thread).

    Every lane but the first holds a copy of ``x``. Perturbed in place, the
    first lane is ``x`` itself and one further lane is always allowed (the
    gradient plus one copy); through a snapshot, the snapshot is that copy.
    Beyond it, as many lanes as :data:`COPY_BUDGET_BYTES` holds copies. The
    kernel runs at most one lane per thread; the lane count changes no bit of
    the result.
    """
    return min(1 << 30, 1 + int(in_place) + COPY_BUDGET_BYTES // max(1, nbytes))


def _checked(f: Any, x: np.ndarray) -> _Entry | None:
    """``f``'s entry, its return type checked on ``x`` once per argument type; None: nested."""
    entry = _entry(f)
    key = (x.dtype.char, x.ndim)
    if key not in entry.checked:
        scalar_result(timed_check(entry, x), "x")  # its return type, once per argument type
        if entry.seconds is None and PARALLEL_AFTER_S > 0.0:  # f compiled for x: time it
            timed_check(entry, x)
        entry.checked.add(key)
    return None if entry.nested else entry


class _GeneralPath(Exception):
    """A lane stopped at an element for the general path and another lost f's exception."""


#: The kernel's state at the start: not bad, no element perturbed.
_STATE = (0.0, -1.0, 0.0)


def _restore(base: np.ndarray, state: np.ndarray) -> None:
    """The element the kernel's first lane had perturbed (``state[1]``, if any): its value back."""
    if state[1] >= 0.0:
        base.reshape(-1)[int(state[1])] = state[2]
        state[1] = -1.0


def _central2(entry: _Entry, base: np.ndarray, h: float, lanes: int) -> np.ndarray | None:
    """:func:`central2`'s kernel in at most ``lanes`` lanes on ``base`` (no other thread's)."""
    df = np.empty_like(base)
    state = np.array(_STATE)  # bad, the element lane 0 has perturbed (-1: none), its value
    par_kernel, serial_kernel = entry.central2
    hx = base.dtype.type(h)
    try:
        if _parallel_ok(entry, None, 2 * base.size):
            _run(
                par_kernel,
                serial_kernel,
                base,
                hx,
                h,
                df,
                state,
                lanes,
                rerun=lambda: _restored(base, state, hx, h, df),
            )
        else:
            _serial(entry, serial_kernel, base, hx, h, df, state, 1)
    except _GeneralPath:
        return None
    finally:
        _restore(base, state)  # f raised with an element of x perturbed
    return None if state[0] else df


def _restored(
    base: np.ndarray, state: np.ndarray, hx: Any, h: float, df: np.ndarray
) -> tuple[Any, ...]:
    """The serial rerun's arguments, ``base`` restored where a lost exception left it perturbed.

    Where a lane had also stopped at an element for the general path, the one
    serial lane would stop there too, before the element where ``f`` raised: the
    general path, which evaluates every element, raises it instead.
    """
    _restore(base, state)
    if state[0]:
        raise _GeneralPath
    state[:] = _STATE
    return (base, hx, h, df, state, 1)


def complex_step(f: Any, base: np.ndarray, h: np.ndarray, parallel: bool | None) -> np.ndarray:
    """``Im f(x + i t h_k e_k)`` (``(3, n)``, see :func:`..complex_step.loop`), in ``f``'s kernel.

    The kernel steps every element by ``h`` and ``2h``; the few suspects of
    :func:`..complex_step.suspects` are stepped by ``4h`` from Python.

    ``base``: a private C-ordered float copy of ``x``; each chunk of elements
    steps its own complex copy. Each call first evaluates ``f`` at ``x`` itself
    (from here): it must compile for a complex ``x`` and return a complex
    number with no imaginary part there (clear errors otherwise).
    Bit-identical for the serial and parallel kernels and any thread count.
    """
    from numba.core.errors import TypingError

    from ..complex_step import (
        check_real_at_x,
        complex_dtype,
        complex_result,
        new_values,
        third_steps,
    )

    entry = _entry(f)
    xc = base.astype(complex_dtype(base.dtype))
    try:
        value = f(xc)  # at x itself: its type, and real there (no branch cut)
    except TypingError as exc:
        raise TypeError(
            "method='complex' needs f to compile for a complex x, and Numba cannot: "
            + _typing_reason(str(exc))
        ) from exc
    except TypeError as exc:
        if "No matching definition" not in str(exc):
            raise
        raise TypeError(
            "method='complex' needs f to take a complex x, but its explicit signature "
            f"does not: {exc}. Compile f without a signature (lazily) to use the complex step"
        ) from exc
    check_real_at_x(complex_result(value, "x (unperturbed, complex)"), base.shape)
    out = new_values(base.size)
    par_kernel, serial_kernel = entry.complex
    hs = np.ascontiguousarray(h, dtype=np.float64)
    if _parallel_ok(entry, parallel, 2 * base.size):
        _run(par_kernel, serial_kernel, xc, hs, out)
    else:
        _serial(entry, serial_kernel, xc, hs, out)
    third_steps(f, xc, hs, out, base.dtype)  # the few suspects, from here
    return out


def _typing_reason(message: str) -> str:
    """The informative lines of a Numba typing error (the function and types it failed on)."""
    keep = [
        line.strip()
        for line in message.splitlines()
        if line.strip()
        and not line.startswith(("Failed in", "During:", "File ", "^"))
        and "nopython" not in line
    ]
    text = " ".join(keep[:3])
    return text[:400] if text else message.strip().splitlines()[0]


def kernels(f: Any) -> tuple[Any, Any]:
    """The (parallel, serial) perturbation kernels specialised to the jitted ``f``."""
    entry = _entry(f)
    return entry.parallel, entry.serial


def _entry(f: Any) -> _Entry:
    key = id(f)
    entry = _CACHE.get(key)  # one C call: atomic under the GIL, no lock needed to read
    if entry is not None and entry.f is f:
        with _LOCK:
            if key in _CACHE:
                _CACHE.move_to_end(key)
        return entry
    entry = _Entry(f)
    with _LOCK:
        _CACHE[key] = entry
        _CACHE.move_to_end(key)
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    return entry


def cached_functions() -> list[Any]:
    """The jitted functions whose kernels are cached, oldest first (for tests)."""
    with _LOCK:
        return [entry.f for entry in _CACHE.values()]


# ------------------------------------------------------------------ sets of perturbations
def evaluate_sets(
    f: Any,
    base: np.ndarray,
    pert: Any,
    out_shape: tuple[int, ...],
    options: Options,
    scratch: bool = False,
) -> np.ndarray:
    """Sets of perturbations (:mod:`nnnum.diff.perturb`) in a kernel specialised to ``f``.

    Each chunk of sets runs on its own copy of ``base`` and restores what it
    set: bit-identical to :func:`nnnum.diff.engines.loop.evaluate_sets` and to
    the serial kernel, for any thread count.
    """
    cplx = base.dtype.kind == "c"
    out = np.empty((pert.count, math.prod(out_shape)), dtype=np.complex128 if cplx else np.float64)
    entry = _entry(f)
    par, ser = entry.sets_kernels(out_shape == ())
    flat = np.ascontiguousarray(base).reshape(-1)
    ptr = np.ascontiguousarray(pert.ptr, dtype=np.int64)
    idx = np.ascontiguousarray(pert.idx, dtype=np.int64)
    val = np.ascontiguousarray(pert.val, dtype=base.dtype)
    if _parallel_ok(entry, options.parallel, pert.count):
        nchunks = max(1, min(pert.count, 4 * numba.get_num_threads()))
        _run(par, ser, flat, base.shape, ptr, idx, val, out, nchunks)
    else:
        _serial(entry, ser, flat, base.shape, ptr, idx, val, out, 1)
    return out
