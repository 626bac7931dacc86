r"""The finish of a vector-valued ``f``: one plan over the elements of ``x``, every output at once.

:func:`.finish.differentiate` takes one column of values per element of ``x``.
A Jacobian has ``m`` outputs per element: planning ``m * n`` columns (one per
``J[k, i]``) repeats the step rule, the plan and its checks ``m`` times over
the same ``n`` numbers. :func:`differentiate_columns` plans the ``n`` elements
once (:func:`.steps.make_plan`, :func:`.finish._steps2`: the same steps, the
same errors and warnings) and combines values laid out ``(rows, *cols)``: the
columns ``cols`` are ``(n, m)`` (every output of every element: a dense
Jacobian) or ``(nnz,)`` (the nonzeros of a pattern, each one element's). The
stencil, Richardson and the error estimate are the gradient's own
(:func:`.stencils.richardson_table`, :func:`.finish._estimate`), applied per
column; ``status`` is per column.

The stencil's combination is the elementwise sum ``w_0 v_0 + w_1 v_1 + ...``
(no BLAS), so a column's value never depends on the layout: a coloured
Jacobian equals the dense one bit for bit.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import NonFiniteError
from .estimate import Probe, _estimate, _value_eps
from .finish import (
    Outcome,
    _jump_degree,
    _over_actual_points,
    _probe,
    _probe_needs_f0,
    _row_labels,
    _steps2,
    is_book_default,
)
from .stencils import RATIO, Stencil, richardson_table
from .steps import Plan, auto_step, make_plan, where

__all__ = ["Columns", "differentiate_columns"]


@dataclass(frozen=True)
class Columns:
    """How the columns of the values map to the elements of ``x``.

    ``outputs``: ``m`` for a dense layout (columns ``(n, m)``, element ``i``'s
    outputs contiguous); ``None`` for a gathered layout, where column ``c`` is
    element ``elem[c]`` (columns ``(elem.size,)``).
    """

    n: int
    outputs: int | None = None
    elem: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The trailing shape of the values."""
        if self.outputs is not None:
            return (self.n, self.outputs)
        assert self.elem is not None
        return (int(self.elem.size),)

    def expand(self, a: np.ndarray) -> np.ndarray:
        """A per-element array (last axis ``n``) broadcastable against the columns."""
        a = np.asarray(a)
        if self.outputs is not None:
            return a[..., None]
        assert self.elem is not None
        return a.take(self.elem, axis=-1)

    def full(self, a: np.ndarray) -> np.ndarray:
        """A per-element array materialised per column, flattened: ``(..., prod(shape))``."""
        a = np.asarray(a)
        out = np.broadcast_to(self.expand(a), a.shape[:-1] + self.shape)
        return out.reshape(a.shape[:-1] + (-1,))

    def element(self, c: int) -> tuple[int, int | None]:
        """The element and (dense layout) the output of flat column ``c``."""
        if self.outputs is not None:
            i, k = divmod(int(c), self.outputs)
            return i, k
        assert self.elem is not None
        return int(self.elem[c]), None


@functools.lru_cache(maxsize=64)
def _unread(cshape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The error (NaN) and status (0) of a call whose estimate nobody reads: read-only views."""
    return np.broadcast_to(np.nan, cshape), np.broadcast_to(np.int8(0), cshape)


def differentiate_columns(
    x: np.ndarray,
    shape: tuple[int, ...],
    h: float | str,
    st: Stencil,
    levels: int,
    evaluate: Callable[[np.ndarray, list[str]], np.ndarray],
    f_at_x: Callable[[], np.ndarray],
    cols: Columns,
    *,
    estimate: bool = True,
    name: Callable[[int], str] | None = None,
    evaluate_probe: Callable[[np.ndarray, list[str]], np.ndarray] | None = None,
) -> Outcome:
    """:func:`.finish.differentiate` for values of shape ``(rows, *cols.shape)``.

    ``x`` is flat, its ``n`` elements planned once; ``evaluate(points,
    labels)`` returns ``f``'s values at the plan's rows (``points`` is
    ``(rows, n)``) laid out as ``cols`` says, checked finite; ``f_at_x()``
    returns ``f(x)`` per column (broadcastable to ``cols.shape``). ``name(c)``
    names flat column ``c`` in messages. The result's ``df``, ``error`` and
    ``status`` have shape ``cols.shape``; ``step`` is the gradient's.

    With ``estimate`` and Richardson levels, the estimate evaluates the
    gradient's probe (:func:`.finish._probe`: one point beyond the stencil
    per element, for one-sided orders 1-2 and central 2-4) through
    ``evaluate_probe`` (default ``evaluate``), which must return non-finite
    values as they are: a column whose probe value is not finite is flagged
    (status 1), as the gradient flags an element.
    """
    n, cshape = x.size, cols.shape
    ncol = math.prod(cshape)
    label_of = name or (lambda c: where(shape, cols.element(c)[0]))
    if is_book_default(st, levels) and h != "auto":
        points, step = _steps2(x, shape, float(h))  # the book's rule, its errors, once
        values = evaluate(points, ["+ h", "- h"])
        with np.errstate(over="ignore", invalid="ignore"):
            df = (values[0] - values[1]) / cols.expand(step)
        _check_finite(df, label_of, "f(x + h) - f(x - h) overflows")
        # one step: no estimate (NaN); without full_output nobody reads it: no m * n arrays
        if estimate:
            nan, zero = np.full(cshape, np.nan), None
        else:
            nan, zero = _unread(cshape)
        return Outcome(df, nan, 2, n, 0, np.array([float(h)]), 2, zero)
    hv = auto_step(x, st, levels - 1, RATIO) if h == "auto" else float(h)
    plan = make_plan(x, shape, hv, st, levels, RATIO)
    labels = _row_labels(st, levels)
    if estimate:  # every row: a noisy f's repeated points are part of the estimate
        values = evaluate(plan.points, labels)
        source = np.arange(values.shape[0])
    else:  # the derivative alone: a point shared by two levels evaluated once
        keep, source = plan.shared()
        values = evaluate(plan.points[keep], [labels[r] for r in keep])
    order = st.error_powers[min(levels - 1, len(st.error_powers) - 1)]
    probe_f0 = estimate and levels > 1 and _probe_needs_f0(st, levels, order)
    f0 = None
    if st.center_weight != 0.0 or probe_f0:
        f0 = np.broadcast_to(np.asarray(f_at_x(), dtype=np.float64), cshape)
        if not np.isfinite(f0).all():
            c = int(np.flatnonzero(~np.isfinite(f0.reshape(-1)))[0])
            bad = f0.reshape(-1)[c].item()
            raise FloatingPointError(
                f"f returned {bad!r} at x itself for {label_of(c)} (a one-sided "
                "stencil needs f(x)); the derivative is undefined there"
            )
    fs = f0 if st.center_weight != 0.0 else None
    mst = len(st.offsets)
    steps = cols.expand(plan.steps)  # (levels, *broadcastable)
    estimates = []
    for j in range(levels):
        rows = [values[q] for q in source[j * mst : (j + 1) * mst]]
        with np.errstate(over="ignore", invalid="ignore"):
            d = _combine(st, rows, fs) / steps[j]
            inexact = ~plan.exact[j]
            if inexact.any():
                offs = plan.offsets[j * mst : (j + 1) * mst]
                _over_actual(d, np.stack(rows), offs, fs, inexact, cols)
        estimates.append(d)
    if not estimate and levels == 2:  # T[1][1], nothing to choose: no noise, no gains
        tab = richardson_table(estimates, RATIO, st.error_powers, None, None, estimate=False)
    else:
        w = float(np.sqrt(np.sum(np.square(st.weights)) + st.center_weight**2))
        unit = [w / steps[j] for j in range(levels)]
        noise = _noise(values, fs, st, steps)
        tab = richardson_table(estimates, RATIO, st.error_powers, noise, unit)
    df = tab.value
    _check_finite(df, label_of, "the difference of f overflows")
    eps_x = float(np.finfo(x.dtype).eps)
    step = plan.steps[:, 0].copy() if np.ndim(hv) == 0 else plan.steps.reshape((levels,) + shape)
    extra = 0 if f0 is None else 1
    if not estimate:  # no full_output: nobody reads the error
        nan, zero = _unread(cshape)
        return Outcome(df, nan, values.shape[0], n, extra, step, order, zero)
    if levels == 1:
        error = np.broadcast_to(tab.error + 0.5 * eps_x * np.abs(df), cshape)
        return Outcome(df, error, values.shape[0], n, extra, step, order)
    # the gradient's estimate, per column: the plan's per-element arrays made per column
    flat_plan = Plan(
        st,
        np.empty((0, ncol)),
        cols.full(plan.offsets),
        cols.full(plan.steps),
        cols.full(plan.exact),
    )
    flat_tab = dataclasses.replace(
        tab,
        **{fl.name: _per_column(getattr(tab, fl.name), cshape) for fl in dataclasses.fields(tab)},
    )
    probe = _probe_columns(
        x, hv, st, levels, plan, evaluate_probe or evaluate, f0 is not None, cols, ncol
    )
    error, status = _estimate(
        cols.full(x),
        values.reshape(values.shape[0], ncol),
        None if f0 is None else f0.reshape(-1),
        flat_plan,
        flat_tab,
        eps_x,
        _jump_degree(st, levels),
        probe=probe,
    )
    rows = values.shape[0] + (0 if probe is None else 1)
    return Outcome(df, error.reshape(cshape), rows, n, extra, step, order, status.reshape(cshape))


def _probe_columns(
    x: np.ndarray,
    hv: Any,
    st: Stencil,
    levels: int,
    plan: Plan,
    evaluate: Callable[[np.ndarray, list[str]], np.ndarray],
    has_f0: bool,
    cols: Columns,
    ncol: int,
) -> Probe | None:
    """The gradient's probe (:func:`.finish._probe`, its point and checks), per column."""
    got: dict[str, np.ndarray] = {}

    def per_element(points: np.ndarray, labels: list[str]) -> np.ndarray:
        got["v"] = np.asarray(evaluate(points, labels), dtype=np.float64).reshape(-1)
        return np.zeros(points.shape[1])  # the element's checks; the values are per column

    p = _probe(x, hv, st, levels, plan, per_element, has_f0)
    if p is None:
        return None
    value = got.get("v", np.full(ncol, np.nan))  # f raised there: every column flagged
    ok = cols.full(p.ok) & np.isfinite(value)
    return Probe(p.t, value, cols.full(p.offset), ok)


def _noise(
    values: np.ndarray, fs: np.ndarray | None, st: Stencil, steps: np.ndarray
) -> list[np.ndarray]:
    """:func:`.finish._rounding_noise`, the same numbers with fewer passes over the values.

    ``max |v|`` as ``max(max v, -min v)`` (no ``|values|`` temporary of the
    values' size) and ``eps * fmax * w`` once for every level (the same
    left-to-right products).
    """
    eps = _value_eps(values)
    fmax = np.maximum(values.max(axis=0), -values.min(axis=0))
    if fs is not None:
        fmax = np.maximum(fmax, np.abs(fs))
    w = float(np.sqrt(np.sum(np.square(st.weights)) + st.center_weight**2))
    scaled = eps * fmax * w
    return [scaled / steps[j] for j in range(steps.shape[0])]


def _combine(st: Stencil, rows: list[np.ndarray], fs: np.ndarray | None) -> np.ndarray:
    """``sum_k w_k rows[k]`` (+ the centre's ``f(x)``), elementwise, in the stencil's order."""
    d = st.weights[0] * rows[0]
    for wk, rk in zip(st.weights[1:], rows[1:], strict=True):
        d += wk * rk
    if fs is not None:
        d += st.center_weight * fs
    return d


def _over_actual(
    d: np.ndarray,
    rows: np.ndarray,
    offsets: np.ndarray,
    fs: np.ndarray | None,
    inexact: np.ndarray,
    cols: Columns,
) -> None:
    """Where rounding moved an element's points: the stencil over the points actually taken."""
    if cols.outputs is not None:  # the weights once per element, broadcast over its outputs
        d[inexact] = _over_actual_points(rows, offsets, fs, inexact)
        return
    where_col = cols.full(inexact)
    flat_fs = None if fs is None else np.broadcast_to(fs, d.shape)
    d[where_col] = _over_actual_points(rows, cols.full(offsets), flat_fs, where_col)


def _per_column(a: Any, cshape: tuple[int, ...]) -> Any:
    """A table's per-column array (or list of them) flattened; anything else as it is."""
    if isinstance(a, list):
        return [_per_column(v, cshape) for v in a]
    if isinstance(a, np.ndarray):
        return np.broadcast_to(a, cshape).reshape(-1)
    return a


def _check_finite(df: np.ndarray, label_of: Callable[[int], str], what: str) -> None:
    if np.isfinite(df).all():
        return
    c = int(np.flatnonzero(~np.isfinite(np.asarray(df).reshape(-1)))[0])
    raise NonFiniteError(f"{what} at {label_of(c)}: |f| is too large")
