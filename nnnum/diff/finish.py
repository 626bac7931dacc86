"""The finish of every finite-difference path: plan the perturbations, evaluate, combine.

:func:`differentiate` takes a flat ``x``, a step and a stencil, asks an engine's
``evaluate`` for ``f``'s values at the plan's points, and returns the derivative
with its error estimate (:class:`Outcome`). The book's two-point default has
its own short path here, bit-identical to nnnum 0.1.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import NonFiniteError
from .estimate import (
    NOISY,
    OK,
    SAFETY,
    UNRESOLVED,
    Probe,
    _estimate,
    _rounding_noise,
)
from .stencils import RATIO, Stencil, lagrange_weights, richardson_table
from .steps import (
    StepResolutionError,
    StepRoundingWarning,
    auto_step,
    check_finite,
    make_plan,
    remedy,
    where,
)

__all__ = [
    "DiffResult",
    "EstimateWarning",
    "NOISY",
    "OK",
    "Outcome",
    "RATIO",
    "SAFETY",
    "UNRESOLVED",
    "differentiate",
    "is_book_default",
]


class EstimateWarning(RuntimeWarning):
    """Some elements' error estimate is not supported by ``f``'s values (``DiffResult.status``)."""


@dataclass(frozen=True)
class DiffResult:
    r"""A derivative with its error estimate (``full_output=True``).

    Attributes
    ----------
    df : ndarray
        The derivative (gradient), shaped like ``x``.
    error : ndarray
        Estimated absolute error per element, float64: the Richardson estimate
        of the truncation error (the distance between the two best
        extrapolations) plus the rounding error of ``f``'s evaluations
        amplified by the stencil (:math:`\epsilon |f| \sum |w| / h`). NaN
        without ``richardson`` (one step gives no truncation estimate). For
        the complex step, the rounding of the result, :math:`2 \epsilon |df|`.
    nfev : int
        Evaluations of ``f`` made.
    step : ndarray
        The step of each level, shape ``(levels,)`` for a scalar ``h`` or
        ``(levels, *x.shape)`` for ``h="auto"``.
    order : int
        Order of the result's truncation error, :math:`O(h^{order})`, after
        extrapolation.
    method : str
        The stencil kind, or ``"complex"``.
    status : ndarray of int8
        Per element, shaped like ``error``: ``0`` where the estimate bounds the
        error as far as ``f``'s values can tell; ``1`` where ``f`` is not
        resolved at the step (its values do not follow a polynomial: aliasing,
        a kink, a step too large) or the Richardson table is inconsistent;
        ``2`` where ``f``'s values are far noisier than their rounding (random
        noise, float32 or cancellation inside ``f``) and the estimate rests on
        the noise measured from them. Where any element is nonzero, an
        :class:`EstimateWarning` is emitted. Defaults to zeros.

    Notes
    -----
    The estimate is :math:`|T_{j,k} - T_{j,k-1}| + 3 \sigma g + \epsilon |df| / 2`
    for the chosen Richardson entry ``T[j][k]``: ``g`` carries one unit of
    noise in each value of ``f`` through the stencils and the table, and
    :math:`\sigma` is the larger of a rounding model,
    :math:`\epsilon (|f| + |x_i| |df_i|)` (the rounding of the values and of
    ``f``'s argument), and the noise measured from the values: the scatter of
    all the values of one element (every level, ``f(x)``, points evaluated
    twice) about a polynomial in the offset. For ``numerical_gradient``, whose
    values all come from one scalar ``f`` near one point, the median over the
    elements is a floor for every element.

    To that the chosen entry's own error terms are added, each at its size
    (twice :math:`\sum_k |A_k b_k| / h`, :func:`_truncation`): ``b_k`` from a
    polynomial through all the values of the element, ``A_k`` the entry's
    error on :math:`s^k`. Where the plan's points cannot see those terms
    (one-sided orders 1 and 2, central 2 and 4) ``f`` is evaluated once more
    per element, at ``x + (p + 1) h`` on the stencil's side (``p`` its
    reach), counted in ``nfev``; only with ``full_output``, so the derivative
    is the same either way. A fit that does not converge (its top coefficient
    not small against the lower ones) is status 1.
    """

    df: Any
    error: np.ndarray
    nfev: int
    step: np.ndarray
    order: int
    method: str
    status: Any = None

    def __post_init__(self) -> None:
        status = self.status
        if status is None:
            status = np.zeros(np.shape(self.error), dtype=np.int8)
        else:
            status = np.asarray(status, dtype=np.int8).reshape(np.shape(self.error))
        object.__setattr__(self, "status", status)
        if status.any():
            warnings.warn(_flag_message(status), EstimateWarning, stacklevel=_user_level())

    @property
    def success(self) -> bool:
        """Whether every element's estimate is supported (``status == 0`` everywhere)."""
        return not bool(np.any(self.status))


def _flag_message(status: np.ndarray) -> str:
    flat = status.reshape(-1)
    parts = []
    for code, what in (
        (UNRESOLVED, "f is not resolved at the step (or the Richardson table is inconsistent)"),
        (NOISY, "f's values are far noisier than their rounding"),
    ):
        hits = np.flatnonzero(flat == code)
        if hits.size:
            first = where(status.shape, int(hits[0]))
            parts.append(f"{hits.size} element(s), first {first}: {what} (status {code})")
    return (
        "the error estimate is not supported by f's values at "
        + "; ".join(parts)
        + ". See DiffResult.status; try another h, order or richardson"
    )


def _user_level() -> int:
    """``stacklevel`` naming the first frame outside nnnum (the caller's line)."""
    import sys

    frame: Any = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "nnnum":
        frame, level = frame.f_back, level + 1
    return level


def is_book_default(st: Stencil, levels: int) -> bool:
    """Whether the plan is the book's: the two-point central difference at one step."""
    return st.kind == "central" and st.order == 2 and levels == 1


def _row_labels(st: Stencil, levels: int) -> list[str]:
    out = []
    for j in range(levels):
        scale = "h" if j == 0 else f"h/{int(RATIO**j)}"
        for t in st.offsets:
            mag = abs(t)
            out.append(f"{'+' if t > 0 else '-'} {'' if mag == 1 else mag}{scale}")
    return out


# --------------------------------------------------------------- the book's path
def _steps2(x: np.ndarray, shape: tuple[int, ...], h: float) -> tuple[np.ndarray, np.ndarray]:
    """The book's two points ``x + h``, ``x - h`` (rows of the plan) and the step between them."""
    points = np.empty((2, x.size), dtype=x.dtype)
    xplus, xminus = points[0], points[1]
    with np.errstate(over="ignore", invalid="ignore"):
        np.add(x, x.dtype.type(h), out=xplus)
        np.subtract(x, x.dtype.type(h), out=xminus)
        step = xplus.astype(np.float64) - xminus.astype(np.float64)
        # fast path: every step within 1% of 2h, finite (NaN fails the comparisons, inf the
        # finite bound); two reductions instead of |step - 2h| <= h / 50 elementwise
        if not step.size or (1.98 * h <= step.min() and step.max() <= 2.02 * h < np.inf):
            return points, step
    check_finite(x, shape)
    bad = np.flatnonzero(~(step > 0))
    if bad.size:
        i = int(bad[0])
        raise StepResolutionError(
            f"h={h!r} is below the resolution of {x.dtype} at {where(shape, i)} = "
            f"{float(x[i])!r}: x + h == x - h. {remedy(x.dtype)}"
        )
    over = np.flatnonzero(~np.isfinite(step))
    if over.size:
        i = int(over[0])
        raise StepResolutionError(
            f"h={h!r} is too large for {x.dtype} at {where(shape, i)} = {float(x[i])!r}: "
            "x + h overflows. Use a smaller h"
        )
    rel = np.abs(step / (2.0 * h) - 1.0)
    if rel.size and rel.max() > 0.01:
        i = int(rel.argmax())
        warnings.warn(
            f"h={h!r} is rounded by {x.dtype} at {where(shape, i)} = "
            f"{float(x[i])!r} to a step of {step[i] / 2:.3g}; the difference is "
            f"taken over the step actually taken. {remedy(x.dtype, ' for an accurate gradient')}",
            StepRoundingWarning,
            stacklevel=5,
        )
    return points, step


def _check_values(
    values: np.ndarray, shape: tuple[int, ...], labels: list[str], offset: int = 0
) -> None:
    """NonFiniteError naming the first value of ``f`` that is NaN or inf.

    Column ``i`` of ``values`` is element ``offset + i`` of ``x``.
    """
    finite = np.isfinite(values)
    if not finite.all():
        r, i = (int(v) for v in np.argwhere(~finite)[0])
        raise NonFiniteError(
            f"f returned {values[r, i]!r} at {where(shape, offset + i)} {labels[r]}; "
            "the derivative is undefined there"
        )


def raise_not_finite2(
    values: np.ndarray, df: np.ndarray, shape: tuple[int, ...], offset: int = 0
) -> None:
    """The error for a non-finite book's difference ``df`` of ``values`` (rows ``+ h``, ``- h``)."""
    _check_values(values, shape, ["+ h", "- h"], offset)
    i = offset + int(np.flatnonzero(~np.isfinite(df))[0])
    raise NonFiniteError(f"f(x + h) - f(x - h) overflows at {where(shape, i)}: |f| is too large")


# ------------------------------------------------------------------- the engine
class Outcome:
    """Derivative, error estimate, evaluations, steps, order of one differentiation.

    ``rows`` perturbations per element (``n`` elements) plus ``extra`` evaluations
    of ``f`` at ``x`` itself.
    """

    def __init__(
        self,
        df: np.ndarray,
        error: np.ndarray,
        rows: int,
        n: int,
        extra: int,
        step: Any,
        order: int,
        status: np.ndarray | None = None,
    ):
        self.df, self.error, self.step, self.order = df, error, step, order
        self.rows, self.n, self.extra = rows, n, extra
        #: per element, the codes of :attr:`DiffResult.status` (flat, like ``error`` before
        #: the caller reshapes it)
        self.status = np.zeros(np.shape(error), np.int8) if status is None else status

    @property
    def nfev(self) -> int:
        """Evaluations of ``f`` made."""
        return self.rows * self.n + self.extra


def differentiate(
    x: np.ndarray,
    shape: tuple[int, ...],
    h: float | str,
    st: Stencil,
    levels: int,
    evaluate: Callable[[np.ndarray, list[str]], np.ndarray],
    f_at_x: Callable[[], float],
    *,
    estimate: bool = True,
) -> Outcome:
    """Plan the perturbations of the flat ``x``, evaluate them with ``evaluate``, finish.

    With ``estimate`` (the default) and Richardson levels, the error estimate
    and ``status`` of :class:`DiffResult` are computed from the values; a
    central stencil of order 2 or 4 then evaluates ``f(x)`` once more for it.
    ``estimate=False`` (no ``full_output``) skips both: the derivative is the
    same either way.
    """
    n = x.size
    if is_book_default(st, levels) and h != "auto":
        points, step = _steps2(x, shape, float(h))  # bit-identical to nnnum 0.1
        labels = ["+ h", "- h"]
        values = evaluate(points, labels)
        with np.errstate(over="ignore", invalid="ignore"):
            df = (values[0] - values[1]) / step
        if not np.isfinite(df).all():
            raise_not_finite2(values, df, shape)
        # one step: no estimate of the truncation error (see DiffResult.error)
        return Outcome(df, np.full(n, np.nan), 2, n, 0, np.array([float(h)]), 2)
    hv = auto_step(x, st, levels - 1, RATIO) if h == "auto" else float(h)
    plan = make_plan(x, shape, hv, st, levels, RATIO)
    labels = _row_labels(st, levels)
    if estimate:  # every row: a noisy f's repeated points are part of the estimate
        values = evaluate(plan.points, labels)
        _check_values(values, shape, labels)
        source = np.arange(values.shape[0])
    else:  # the derivative alone: a point shared by two levels evaluated once
        keep, source = plan.shared()
        kept = [labels[r] for r in keep]
        values = evaluate(plan.points[keep], kept)
        _check_values(values, shape, kept)
    f0 = None
    order = st.error_powers[min(levels - 1, len(st.error_powers) - 1)]
    probe_f0 = estimate and levels > 1 and _probe_needs_f0(st, levels, order)
    fs_needed = st.center_weight != 0.0
    if fs_needed or probe_f0:
        f0 = np.broadcast_to(np.asarray(f_at_x(), dtype=np.float64), (n,))
        if not np.isfinite(f0).all():
            why = "a one-sided stencil needs f(x)" if fs_needed else "the error estimate uses f(x)"
            raise NonFiniteError(
                f"f returned {f0[np.argmax(~np.isfinite(f0))]!r} at x itself ({why}); "
                "the derivative is undefined there"
            )
    # the stencil's own f(x): one-sided stencils only (the probe's f(x) is for the estimate)
    fs = f0 if st.center_weight != 0.0 else None
    m = len(st.offsets)
    weights = np.asarray(st.weights)
    estimates = []
    for j in range(levels):
        rows = values[source[j * m : (j + 1) * m]]
        with np.errstate(over="ignore", invalid="ignore"):
            d = weights @ rows
            if fs is not None:
                d = d + st.center_weight * fs
            d = d / plan.steps[j]
            inexact = ~plan.exact[j]
            if inexact.any():
                d[inexact] = _over_actual_points(
                    rows, plan.offsets[j * m : (j + 1) * m], fs, inexact
                )
        estimates.append(d)
    if not estimate and levels == 2:  # T[1][1], nothing to choose: no noise, no gains
        tab = richardson_table(estimates, RATIO, st.error_powers, None, None, estimate=False)
    else:
        w = float(np.sqrt(np.sum(np.square(st.weights)) + st.center_weight**2))
        unit = [w / plan.steps[j] for j in range(levels)]
        # the entry is chosen as nnnum 0.2 chose it (the values do not change)
        noise = _rounding_noise(values, fs, st, plan.steps)
        tab = richardson_table(estimates, RATIO, st.error_powers, noise, unit)
    df = tab.value
    if not np.isfinite(df).all():
        i = int(np.flatnonzero(~np.isfinite(df))[0])
        raise NonFiniteError(
            f"the difference of f overflows at {where(shape, i)}: |f| is too large"
        )
    eps_x = float(np.finfo(x.dtype).eps)
    step = plan.steps[:, 0].copy() if np.ndim(hv) == 0 else plan.steps.reshape((levels,) + shape)
    extra = 0 if f0 is None else 1
    if levels == 1 or not estimate:
        # + the result's own rounding to x's dtype
        error = tab.error + 0.5 * eps_x * np.abs(df)
        return Outcome(df, error, values.shape[0], n, extra, step, order)
    probe = _probe(x, hv, st, levels, plan, evaluate, f0 is not None)
    error, status = _estimate(
        x, values, f0, plan, tab, eps_x, _jump_degree(st, levels), probe=probe
    )
    rows = values.shape[0] + (0 if probe is None else 1)
    return Outcome(df, error, rows, n, extra, step, order, status)


def _probe_offset(st: Stencil, levels: int, has_f0: bool) -> float | None:
    """Where the estimate needs one more value of ``f``: a one-sided stencil's next point.

    The plan's distinct points (``f(x)`` included) determine a polynomial of
    degree ``N - 1`` in the offset; the chosen entry is exact up to its order
    ``q``. Where ``N - 1 <= q`` (one-sided orders 1 and 2, central 2 and 4) the
    values say nothing of the entry's own error term, and the table's jump can
    vanish by a coincidence (``sin`` near ``pi/2``: the ``h^2`` and ``h^3``
    terms cancel between ``D(h)`` and ``D(h/2)``); the point ``x + (p + 1) h``
    (``p`` the stencil's reach, on its side; ``+`` for a central stencil)
    measures that term, and gives a lone element the check of convergence
    that many elements get from pooling (:func:`_truncation`).
    """
    order = st.error_powers[min(levels - 1, len(st.error_powers) - 1)]
    nodes = _distinct_nodes(st, levels).size + (1 if has_f0 else 0)
    if nodes - 1 > order:
        return None
    reach = max(abs(t) for t in st.offsets)
    return float((reach + 1) * (-1 if st.kind == "backward" else 1))


def _probe(
    x: np.ndarray,
    hv: float | np.ndarray,
    st: Stencil,
    levels: int,
    plan: Any,
    evaluate: Callable[[np.ndarray, list[str]], np.ndarray],
    has_f0: bool,
) -> Probe | None:
    """Evaluate ``f`` at the estimate's extra point (:func:`_probe_offset`), if there is one.

    A value that cannot be had (``f`` raises there, or returns NaN or inf: a
    boundary just beyond the stencil) is not used; the element's estimate is
    then flagged (status 1) instead of the call failing.
    """
    t = _probe_offset(st, levels, has_f0)
    if t is None:
        return None
    dtype = x.dtype
    with np.errstate(over="ignore", invalid="ignore"):
        if np.ndim(hv) == 0:
            point = x + dtype.type(t * float(hv))
        else:
            point = x + (t * np.asarray(hv, dtype=np.float64)).astype(dtype)
        offset = point.astype(np.float64) - x.astype(np.float64)
        reach = np.abs(plan.offsets).max(axis=0)
        ok = np.isfinite(offset) & (np.abs(offset) > reach) & (offset * t > 0)
    label = f"{'+' if t > 0 else '-'} {abs(t):g}h (the error estimate's check)"
    try:
        value = np.asarray(evaluate(point[None, :], [label]), dtype=np.float64).reshape(-1)
    except Exception:  # f undefined there: the estimate is flagged, the derivative stands
        value = np.full(x.size, np.nan)
    ok &= np.isfinite(value)
    return Probe(t, value, offset, ok)


def _probe_needs_f0(st: Stencil, levels: int, order: int) -> bool:
    """Whether the values of the plan alone leave no check beyond the table's own.

    The scatter of ``N`` distinct points about a polynomial of degree ``N - 2``
    is ``f``'s ``N - 1``-th difference plus noise; it tells noise from
    truncation only where that difference is of a higher degree than the
    term the table's jump measures. Central stencils of order 2 and 4 need
    ``f(x)`` for that (one evaluation of ``f`` more).
    """
    if st.center_weight != 0.0:
        return False
    return _distinct_nodes(st, levels).size - 1 <= _jump_degree(st, levels)


def _jump_degree(st: Stencil, levels: int) -> int:
    """The degree of ``f``'s Taylor term that the chosen entry's jump measures (the last one)."""
    return st.error_powers[min(levels - 2, len(st.error_powers) - 1)] + 1


def _distinct_nodes(st: Stencil, levels: int) -> np.ndarray:
    nodes = [t / RATIO**j for j in range(levels) for t in st.offsets]
    return np.unique(np.asarray(nodes))


def _over_actual_points(
    rows: np.ndarray, offsets: np.ndarray, f0: np.ndarray | None, mask: np.ndarray
) -> np.ndarray:
    """The stencil's derivative over the points actually evaluated, where rounding moved them.

    ``rows`` (and ``f0``) may have trailing axes beyond the elements' (several
    outputs per element): the weights are computed per element and broadcast.
    """
    nodes = offsets[:, mask]
    vals = rows[:, mask]
    if f0 is not None:
        nodes = np.vstack([np.zeros((1, nodes.shape[1])), nodes])
        vals = np.vstack([f0[mask][None, :], vals])
    tail = (...,) + (None,) * (vals.ndim - 2)
    if nodes.shape[0] == 2:
        return (vals[0] - vals[1]) / (nodes[0] - nodes[1])[tail]
    # the weights sum to zero: subtracting one value changes nothing but the rounding, which
    # for a large |f| (weights ~ 1/h times values ~ |f|) would otherwise swamp the result
    return (lagrange_weights(nodes)[tail] * (vals - vals[0])).sum(axis=0)
