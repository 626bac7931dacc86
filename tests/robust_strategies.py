"""Shared pieces of the robustness tests: hostile arrays, the outcome check, settings and f's.

Every call in the suite goes through :func:`run_call`, which takes a bit-level
snapshot of every input array (and of the memory it views), makes the call,
records any warning, and hands back the result or the exception.  The checks
:func:`assert_clear_error` and :func:`assert_unmodified` then decide whether
the outcome is one the spec allows:

* the right answer (compared by the test against a reference), or
* a ``TypeError`` / ``ValueError`` / ``FloatingPointError`` (or one of nnnum's
  documented subclasses) whose message names the offending argument,

and, either way, every input array bit-identical afterwards.  Anything else
(IndexError, KeyError, AttributeError, ZeroDivisionError, SystemError, a Numba
typing error, a NumPy ufunc error that does not say which argument is wrong,
a stray RuntimeWarning from inside nnnum) is a defect.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.lib.stride_tricks import as_strided, sliding_window_view

import nnnum

#: every non-finite value f can return (ids: inf, -inf, nan)
NONFINITE = [np.inf, -np.inf, np.nan]

#: Warnings nnnum documents; anything else raised from inside a call is a defect.
DOCUMENTED_WARNINGS = (nnnum.StepRoundingWarning, nnnum.DivergenceWarning)
ALLOWED_ERRORS = (TypeError, ValueError, FloatingPointError)
#: Subclasses of the allowed types that still are not "a clear error".
FORBIDDEN_ERRORS = (IndexError, KeyError, AttributeError, ZeroDivisionError, SystemError)


# --------------------------------------------------------------------------- snapshots
def _bits(a: np.ndarray) -> Any:
    """A bit-exact, NaN-safe image of ``a``'s values (and layout-independent)."""
    if a.dtype == object:
        return ("object", a.shape, [repr(v) for v in a.reshape(-1).tolist()])
    c = np.array(a, copy=True, order="C")
    return (str(a.dtype), a.shape, c.tobytes())


def _arrays_in(obj: Any) -> list[np.ndarray]:
    if isinstance(obj, np.ndarray):
        out = [obj]
        base = obj.base
        while isinstance(base, np.ndarray):
            out.append(base)
            base = base.base
        return out
    if isinstance(obj, dict):
        return [a for v in obj.values() for a in _arrays_in(v)]
    if isinstance(obj, (list, tuple)):
        return [a for v in obj for a in _arrays_in(v)]
    return []


@dataclass
class Outcome:
    result: Any = None
    error: BaseException | None = None
    warnings: list[warnings.WarningMessage] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.error is not None:
            return f"raised {type(self.error).__module__}.{type(self.error).__name__}: {self.error}"
        return f"returned {self.result!r}"[:400]


def run_call(fn: Callable[[], Any], *inputs: Any) -> Outcome:
    """Call ``fn()``; snapshot every array in ``inputs`` before and compare after."""
    arrays = [a for obj in inputs for a in _arrays_in(obj)]
    before = [_bits(a) for a in arrays]
    out = Outcome()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            out.result = fn()
        except Exception as exc:  # noqa: BLE001 - classified by the caller
            out.error = exc
    out.warnings = list(rec)
    for i, (a, b) in enumerate(zip(arrays, before, strict=True)):
        if _bits(a) != b:
            out.modified.append(f"input array #{i} (shape {a.shape}, dtype {a.dtype})")
    return out


def stray_warnings(out: Outcome, allowed: tuple[type[Warning], ...] = ()) -> list[str]:
    ok = DOCUMENTED_WARNINGS + allowed
    return [
        f"{w.category.__name__}: {w.message}"
        for w in out.warnings
        if not issubclass(w.category, ok)
        and not issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning))
    ]


def assert_unmodified(out: Outcome) -> None:
    assert not out.modified, f"inputs modified by the call ({out.describe()}): {out.modified}"


def is_clear_error(exc: BaseException | None, names: tuple[str, ...]) -> str | None:
    """``None`` when ``exc`` is an allowed, clear error naming one of ``names``; else why not."""
    if exc is None:
        return "no error was raised"
    mod = type(exc).__module__ or ""
    if not isinstance(exc, ALLOWED_ERRORS) or isinstance(exc, FORBIDDEN_ERRORS):
        return f"{mod}.{type(exc).__name__} is not an allowed error type"
    if mod.startswith("numba"):
        return f"a Numba internal error escaped: {mod}.{type(exc).__name__}"
    msg = str(exc)
    if not msg.strip():
        return "empty error message"
    if names and not any(
        re.search(rf"(?<![A-Za-z_]){re.escape(n)}(?![A-Za-z_])", msg) for n in names
    ):
        return f"message does not name the offending argument (one of {names}): {msg[:300]!r}"
    return None


def assert_clear_error(out: Outcome, names: tuple[str, ...], *, allow_warnings=()) -> None:
    """The call must have raised a clear error naming one of ``names``, inputs untouched."""
    assert_unmodified(out)
    why = is_clear_error(out.error, names)
    assert why is None, f"{why} [{out.describe()}]"
    stray = stray_warnings(out, allow_warnings)
    assert not stray, f"stray warnings before the error: {stray}"


def assert_ok_or_clear(out: Outcome, names: tuple[str, ...], check: Callable[[Any], None]) -> str:
    """Either a result that passes ``check`` or a clear error; returns 'ok' or 'error'."""
    assert_unmodified(out)
    stray = stray_warnings(out)
    assert not stray, f"stray warnings ({out.describe()}): {stray}"
    if out.error is None:
        check(out.result)
        return "ok"
    why = is_clear_error(out.error, names)
    assert why is None, f"{why} [{out.describe()}]"
    return "error"


# --------------------------------------------------------------------------- comparison
def close(a: Any, b: Any, rtol: float, atol: float = 0.0) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=True))


def same_bits(a: Any, b: Any) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and a.tobytes() == np.ascontiguousarray(b).tobytes()
    )


# --------------------------------------------------------------------------- strategies
LAYOUTS = ("C", "F", "strided", "negative", "view", "readonly", "broadcast", "overlap")


def finite_floats(dtype: Any, lo: float = -1e3, hi: float = 1e3) -> st.SearchStrategy[float]:
    width = np.dtype(dtype).itemsize * 8
    return st.floats(lo, hi, width=width, allow_nan=False, allow_infinity=False)


def hostile_floats(dtype: Any) -> st.SearchStrategy[float]:
    """Mostly ordinary values, with NaN, +-inf, huge (+-1e8, the dtype's max) and tiny."""
    info = np.finfo(dtype)
    width = np.dtype(dtype).itemsize * 8
    specials = [
        np.nan,
        np.inf,
        -np.inf,
        0.0,
        -0.0,
        float(info.max),
        -float(info.max),
        float(info.tiny),
        float(info.smallest_subnormal),
    ]
    if dtype != np.float16:
        specials += [1e8, -1e8]
    return st.one_of(
        st.floats(-50, 50, width=width),
        st.sampled_from(specials),
        st.floats(width=width, allow_nan=True, allow_infinity=True),
    )


def place(base: np.ndarray, layout: str) -> np.ndarray:
    """``base``'s values presented in memory layout ``layout`` (same values, same shape).

    ``broadcast`` and ``overlap`` keep the values only when they allow it: they are
    built from the first element / a sliding window, so callers compare against
    ``np.array(result_of_place)``, not against ``base``.
    """
    if layout == "C":
        return np.array(base, order="C", copy=True)  # (np.ascontiguousarray makes 0-d 1-d)
    if layout == "F":
        return np.array(base, order="F", copy=True)
    if layout == "strided":
        big = np.zeros(tuple(2 * n for n in base.shape) or (), dtype=base.dtype)
        if base.ndim == 0:
            big[()] = base
            return big
        view = big[tuple(slice(None, None, 2) for _ in base.shape)]
        view[...] = base
        return view
    if layout == "negative":
        if base.ndim == 0:
            return base.copy()
        flipped = np.array(base[tuple(slice(None, None, -1) for _ in base.shape)], order="C")
        return flipped[tuple(slice(None, None, -1) for _ in base.shape)]
    if layout == "view":
        if base.ndim == 0:
            return base.reshape(1)[0:1].reshape(())
        holder = np.zeros((base.shape[0] + 2,) + base.shape[1:], dtype=base.dtype)
        holder[1:-1] = base
        return holder[1:-1]
    if layout == "readonly":
        c = np.array(base, copy=True)
        c.flags.writeable = False
        return c
    if layout == "broadcast":
        first = base.reshape(-1)[:1] if base.size else base.reshape(-1)
        if base.size == 0:
            return np.broadcast_to(base, base.shape)
        return np.broadcast_to(first.reshape((1,) * base.ndim), base.shape)
    if layout == "overlap":
        # a writeable view whose rows share memory: row i is flat[i : i + k]
        if base.ndim == 0 or base.size == 0:
            return np.array(base, copy=True)
        k = base.shape[-1]
        rows = int(np.prod(base.shape[:-1]))
        flat = np.ascontiguousarray(base).reshape(-1)[: rows + k - 1].copy()
        if flat.size < rows + k - 1:
            flat = np.resize(flat, rows + k - 1)
        win = sliding_window_view(flat, k, writeable=True)
        return (
            win.reshape(base.shape) if win.shape == base.shape else win[:rows].reshape(base.shape)
        )
    raise AssertionError(layout)


def writeable_broadcast(value: float, shape: tuple[int, ...]) -> np.ndarray:
    """A writeable array with a 0 stride (every element is one memory cell)."""
    cell = np.array([value])
    return as_strided(cell, shape=shape, strides=(0,) * len(shape), writeable=True)


shapes_nd = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)
shapes_nonempty = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)


@st.composite
def float_arrays(draw, dtype, shape_strategy=shapes_nd, elements=None, layouts=LAYOUTS):
    shape = draw(shape_strategy)
    elems = elements if elements is not None else hostile_floats(dtype)
    base = draw(hnp.arrays(dtype, shape, elements=elems))
    layout = draw(st.sampled_from(layouts))
    return place(base, layout), layout


@st.composite
def int_or_bool_arrays(draw, shape_strategy=shapes_nd):
    dtype = draw(st.sampled_from([np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64]))
    shape = draw(shape_strategy)
    if dtype is np.bool_:
        base = draw(hnp.arrays(dtype, shape))
    else:
        info = np.iinfo(dtype)
        base = draw(
            hnp.arrays(
                dtype, shape, elements=st.integers(max(info.min, -1000), min(info.max, 1000))
            )
        )
    layout = draw(st.sampled_from(("C", "F", "strided", "negative", "readonly")))
    return place(base, layout), layout


# --------------------------------------------------------------------------- settings and objects
#: the CPU backends every robustness test runs on
BACKENDS = ("numba", "numpy")
FAST = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    # no shrinking: a failing compile (e.g. float16 under numba) costs seconds per example,
    # and the first failing example is reported as drawn
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)
FEW = settings(FAST, max_examples=20)


def as_matrix(a):
    """``np.matrix(a)`` without its PendingDeprecationWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix(a)


class MyArray(np.ndarray):
    """A trivial ndarray subclass."""


# --------------------------------------------------------------------------- shared f's
def f_sq(w):
    return float(np.sum(np.asarray(w, dtype=np.float64) ** 2))


def loop_f(w):
    r = w.ravel()
    s = 0.0
    for i in range(r.size):
        v = np.float64(r[i])
        s += v * v + 0.5 * v * (i + 1)
    return s


j_loop = numba.njit(loop_f)

WRITABLE_LAYOUTS = ("C", "F", "strided", "negative", "view")
SMALL = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
