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
from .stencils import Stencil, entry_moments, lagrange_weights, richardson_table
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

#: Each Richardson level divides the step by this.
RATIO = 2.0
#: Standard deviations of ``f``'s noise counted in the estimate: a bound, not a 1-sigma guess.
SAFETY = 3.0
#: ``DiffResult.status``: the estimate bounds the error as far as the values can tell.
OK = 0
#: ``DiffResult.status``: ``f`` is not resolved at this step (the values do not follow a
#: polynomial: aliasing, a kink, a step too large) or the Richardson table is inconsistent.
UNRESOLVED = 1
#: ``DiffResult.status``: ``f``'s values are far noisier than their rounding (noise, float32
#: or cancellation inside ``f``); the estimate rests on the noise measured from the values.
NOISY = 2
#: Measured noise beyond this multiple of the rounding model counts as noise (status 2).
_NOISE_RATIO = 100.0


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
        # fast path: every step within 1% of 2h (NaN/inf fail the comparison)
        if bool((np.abs(step - 2.0 * h) <= 0.02 * h).all()):
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
    values = evaluate(plan.points, labels)
    _check_values(values, shape, labels)
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
        rows = values[j * m : (j + 1) * m]
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
    w = float(np.sqrt(np.sum(np.square(st.weights)) + st.center_weight**2))
    unit = [w / plan.steps[j] for j in range(levels)]
    # the entry is chosen as nnnum 0.2 chose it (the values do not change); its estimate is new
    tab = richardson_table(
        estimates, RATIO, st.error_powers, _rounding_noise(values, fs, st, plan.steps), unit
    )
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


@dataclass(frozen=True)
class Probe:
    """One more value of ``f`` per element, beyond the stencil on its side (for the estimate).

    ``t``: the nominal offset in units of the first step; ``value`` and
    ``offset`` (actual) per element; ``ok`` where the value can be used (finite,
    beyond every point of the plan).
    """

    t: float
    value: np.ndarray
    offset: np.ndarray
    ok: np.ndarray


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


def _estimate(
    x: np.ndarray,
    values: np.ndarray,
    f0: np.ndarray | None,
    plan: Any,
    tab: Any,
    eps_x: float,
    jump_degree: int,
    *,
    probe: Probe | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Error estimate and status per element of the chosen entry (see :class:`DiffResult`).

    ``probe``: the extra value of one-sided stencils (:func:`_probe`).
    """
    eps = _value_eps(values)
    fmax = np.abs(values).max(axis=0)
    if f0 is not None:
        fmax = np.maximum(fmax, np.abs(f0))
    with np.errstate(over="ignore", invalid="ignore"):
        # rounding of the values and of f's argument (sin(20 x) loses eps |20 x| in it)
        model = eps * (fmax + np.abs(x.astype(np.float64)) * np.abs(tab.first[-1]))
        nominal = np.array([t / RATIO**j for j in range(plan.levels) for t in plan.stencil.offsets])
        measured, spread = _measured_noise(
            values, plan.offsets, plan.steps[0], f0, nominal, jump_degree
        )
        # the entry's own error terms, fitted from every value (the probe's too), each counted
        # at its size: the table's jump can vanish by a coincidence of two terms
        tail, unresolved, noise_top, quiet = _truncation(values, f0, plan, tab, model, probe)
        # a top coefficient within the rounding of the values bounds their noise: the scatter
        # about a lower degree is then f's next even term (sin at large |x|), not noise
        measured = np.maximum(np.where(quiet < 0, measured, np.minimum(measured, quiet)), noise_top)
        # the scatter also holds f's next-order smooth terms: a step resolving f makes them
        # no larger (carried to the derivative) than the table's jump, counted already
        excess = np.maximum(measured - tab.jump / np.maximum(tab.gain, _TINY), 0.0)
        sigma = np.maximum(model, excess)
        # noise is the rule where a share of the elements shows it (not a few elements whose
        # next smooth term is large: a float32 x and its large automatic step); one element's
        # few values can then look quiet by chance (a staircase fits some exactly), and the
        # median over the noisy elements is a floor for all, every element flagged
        noisy = excess > _NOISE_RATIO * model
        pooled = bool(excess.size) and float(np.mean(noisy)) >= _NOISE_SHARE
        if pooled:
            sigma = np.maximum(sigma, _POOL * float(np.median(excess[noisy])) / _MEDIAN_1DOF)
        error = (
            tab.jump + _TAIL * tail + SAFETY * sigma * tab.gain + 0.5 * eps_x * np.abs(tab.value)
        )
        status = np.full(x.size, NOISY if pooled else OK, dtype=np.int8)
        status[unresolved] = UNRESOLVED
        # the values do not follow a polynomial in the offset at all
        status[measured > 0.05 * spread] = UNRESOLVED
        status[_inconsistent(tab.first, sigma, plan.steps)] = UNRESOLVED
        status[~np.isfinite(error)] = UNRESOLVED
    return error, status


_TINY = float(np.finfo(np.float64).tiny)
#: The fitted error terms of the chosen entry count this many times their size: the fit's top
#: coefficients also hold the terms beyond it.
_TAIL = 2.0
#: The top coefficient of the fit (offsets scaled to [-1, 1]) beyond this share of the largest
#: lower one: the values do not follow a converging expansion, ``f`` is not resolved.
_UNRESOLVED_TOP = 0.5
#: The top coefficient in units of its noise beyond this share of the largest lower one (degree
#: 2 and up): it is noise, not a term of a converging expansion.
_NOISE_TOP = 0.3
#: A top coefficient within the rounding bounds the values' noise by this many times the noise
#: it implies (one value of a noise can be small by chance).
_QUIET = 10.0
#: ``|A_k|`` below this is an entry exact for degree ``k`` (to rounding).
_EXACT = 1e-9


def _truncation(
    values: np.ndarray,
    f0: np.ndarray | None,
    plan: Any,
    tab: Any,
    sigma: np.ndarray,
    probe: Probe | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The chosen entry's error terms from the values; where they do not converge; noise.

    Every value of one element (all levels, ``f(x)`` and the probe where
    evaluated) is fitted by a polynomial :math:`\sum_k b_k s^k` in the offset
    ``s`` (units of the first step ``h``) through its ``N`` distinct offsets
    (least squares over repeated points). The chosen entry's error on
    :math:`s^k` is :math:`A_k` (:func:`.stencils.entry_moments`), so its
    truncation error is about :math:`\sum_k A_k b_k / h`; returned is
    :math:`\sum_k |A_k b_k| / h`, which no cancellation between terms can
    make small. ``unresolved``: where the fit's top coefficient, the offsets
    scaled to ``[-1, 1]``, is above its noise and not small against the
    largest lower one (the expansion does not converge at this step), where
    the probe could not be evaluated. ``noise``: where the top coefficient,
    counted in units of its own noise, is not small against the lower ones
    (beyond the first), it is noise rather than a term of ``f``'s expansion:
    the standard deviation of the values it implies, else zero. ``sigma`` is
    the rounding model of the values' noise. ``quiet``: where the top
    coefficient is within that rounding, a bound on the values' noise it
    allows (10 times the noise it implies), elsewhere -1. Zeros (``quiet``
    -1) where the table lacks its choice.
    """
    n = values.shape[1]
    tail, unresolved, noise = np.zeros(n), np.zeros(n, dtype=bool), np.zeros(n)
    quiet = np.full(n, -1.0)
    if tab.choice is None or n == 0:
        return tail, unresolved, noise, quiet
    st, levels, h0 = plan.stencil, plan.levels, plan.steps[0]
    nominal = [t / RATIO**j for j in range(levels) for t in st.offsets]
    s, v = plan.offsets / h0, values
    if f0 is not None:
        nominal = [0.0] + nominal
        s = np.vstack([np.zeros((1, n)), s])
        v = np.vstack([np.asarray(f0, dtype=np.float64)[None, :], v])
    groups = [(np.ones(n, dtype=bool), nominal, s, v)]
    if probe is not None:
        unresolved |= ~probe.ok
        groups = [
            (
                probe.ok,
                nominal + [probe.t],
                np.vstack([s, (probe.offset / h0)[None, :]]),
                np.vstack([v, probe.value[None, :]]),
            )
        ]
    for mask, nom, sg, vg in groups:
        if not mask.any():
            continue
        nodes = np.asarray(nom)
        distinct = np.unique(nodes).size
        scale = float(np.max(np.abs(nodes)))
        moments = entry_moments(st, levels, RATIO, distinct - 1)[tab.choice[mask]].T
        moments[np.abs(moments) < _EXACT] = 0.0
        beta, lam = _fit(nodes / scale, sg[:, mask] / scale, vg[:, mask], distinct)
        powers = scale ** np.arange(distinct)[:, None]
        tail[mask] = np.sum(np.abs(moments * beta) / powers, axis=0) / h0[mask]
        top, lower = np.abs(beta[-1]), np.abs(beta[1:-1]).max(axis=0, initial=0.0)
        significant = top > SAFETY * sigma[mask] * lam[-1]
        unresolved[mask] |= significant & (top > _UNRESOLVED_TOP * lower)
        z = np.abs(beta[2:]) / lam[2:]  # each coefficient in units of its noise
        # against two lower ones at least: one alone vanishes where f's derivative does
        if z.shape[0] >= 3:
            noisy = significant & (z[-1] > _NOISE_TOP * z[:-1].max(axis=0))
            noise[mask] = np.where(noisy, z[-1], 0.0)
        quiet[mask] = np.where(significant, -1.0, _QUIET * top / lam[-1])
    return tail, unresolved, noise, quiet


def _fit(
    nominal: np.ndarray, s: np.ndarray, v: np.ndarray, distinct: int
) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients ``(distinct, n)`` of each column's polynomial in ``s``; their noise gains.

    ``nominal`` are the offsets planned (shared), ``s`` those actually taken
    (per column); ``lam[k]`` is the standard deviation of coefficient ``k``
    per unit standard deviation of each value.
    """
    n = v.shape[1]
    beta, lam = np.empty((distinct, n)), np.empty((distinct, n))
    same = (s == nominal[:, None]).all(axis=0)
    if same.any():
        p = np.linalg.pinv(np.vander(nominal, distinct, increasing=True))
        beta[:, same] = p @ v[:, same]
        lam[:, same] = np.sqrt(np.sum(p * p, axis=1))[:, None]
    for i in np.flatnonzero(~same):  # rounding moved the points (large |x|, float32)
        p = np.linalg.pinv(np.vander(s[:, i], distinct, increasing=True))
        beta[:, i] = p @ v[:, i]
        lam[:, i] = np.sqrt(np.sum(p * p, axis=1))
    # every value the same (f does not depend on the element: a structural zero): exactly a
    # constant, not the pseudo-inverse's rounding read as a top coefficient (status 1)
    const = (v == v[:1]).all(axis=0)
    if const.any():
        beta[:, const] = 0.0
        beta[0, const] = v[0, const]
    return beta, lam


#: Noise is the rule, not a few elements whose next smooth term is large, where this share of
#: the elements shows it (a staircase fits some elements' few values exactly).
_NOISE_SHARE = 0.25
#: The pooled noise is measured from 1-3 values per element, of a noise that need not be
#: random (a float32 staircase): its floor is this many times the median scatter.
_POOL = 3.0
#: The median of ``|z|``, ``z`` standard normal: a one-value scatter over its median.
_MEDIAN_1DOF = 0.6745


def _inconsistent(first: list[np.ndarray], sigma: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Where successive differences of the first column grow instead of shrinking.

    ``D(h/r^{j+1}) - D(h/r^j)`` shrinks like ``r^{-p}`` while truncation
    dominates; a later difference larger than the one before, both above the
    noise, means the steps are not in the asymptotic range.
    """
    bad = np.zeros(first[0].shape, dtype=bool)
    for j in range(2, len(first)):
        d1, d2 = first[j - 1] - first[j - 2], first[j] - first[j - 1]
        noise = 2.0 * SAFETY * sigma / steps[j]
        bad |= (np.abs(d2) > np.abs(d1)) & (np.abs(d1) > noise) & (np.abs(d2) > noise)
    return bad


def _measured_noise(
    values: np.ndarray,
    offsets: np.ndarray,
    h0: np.ndarray,
    f0: np.ndarray | None,
    nominal: np.ndarray,
    jump_degree: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The scatter of each element's values about a polynomial in the offset; their spread.

    Every value of one element (all levels, ``f(x)`` where evaluated, points
    evaluated twice) is fitted by least squares with a polynomial of degree
    ``N - 2`` in the offset (``N`` distinct offsets); the residual's RMS per
    degree of freedom estimates the standard deviation of ``f``'s noise. Where
    there is no degree of freedom, zeros.
    """
    s = offsets / h0
    v = values
    if f0 is not None:
        s = np.vstack([np.zeros((1, s.shape[1])), s])
        v = np.vstack([np.asarray(f0, dtype=np.float64)[None, :], v])
        nominal = np.concatenate([[0.0], nominal])
    rows, n = s.shape
    spread = v.max(axis=0) - v.min(axis=0)
    distinct = np.unique(nominal).size
    # the scatter about degree N - 2 is f's N - 1-th difference: a check of its own only
    # where that is of a higher order than the result's; else only repeated points speak
    deg = distinct - 2 if distinct - 1 > jump_degree else distinct - 1
    dof = rows - (deg + 1)
    if n == 0 or deg < 0 or dof < 1:
        return np.zeros(n), spread
    scale = float(np.max(np.abs(nominal))) or 1.0
    vc = v - v.mean(axis=0)
    out = np.empty(n)
    same = (s == nominal[:, None]).all(axis=0)
    if same.any():
        out[same] = _scatter(np.vander(nominal / scale, deg + 1), vc[:, same], dof)
    for i in np.flatnonzero(~same):  # rounding moved the points (large |x|, float32)
        out[i] = _scatter(np.vander(s[:, i] / scale, deg + 1), vc[:, i : i + 1], dof)[0]
    return out, spread


def _scatter(a: np.ndarray, v: np.ndarray, dof: int) -> np.ndarray:
    """RMS per degree of freedom of the residual of ``v``'s columns fitted by ``a``'s."""
    q, _ = np.linalg.qr(a)
    r = v - q @ (q.T @ v)
    return np.sqrt(np.sum(r * r, axis=0) / dof)


def _value_eps(values: np.ndarray) -> float:
    """The resolution of ``f``'s values: float32's epsilon when every value is a float32.

    An ``f`` that computes in float32 returns values that float32 holds exactly;
    one that computes in float64 almost never does.
    """
    with np.errstate(over="ignore"):
        # a few values first: one that float32 does not hold settles it (the usual float64 f)
        head = values.reshape(-1)[:64]
        if not np.array_equal(head.astype(np.float32).astype(np.float64), head):
            return float(np.finfo(np.float64).eps)
        as32 = values.astype(np.float32).astype(np.float64)
    return float(np.finfo(np.float32 if np.array_equal(as32, values) else np.float64).eps)


def _rounding_noise(
    values: np.ndarray, f0: np.ndarray | None, st: Stencil, steps: np.ndarray
) -> list[np.ndarray]:
    """Standard deviation of each level's estimate from the rounding of ``f``'s values.

    Each value is taken as off by about ``eps |f|``, independently: the errors
    add in quadrature through the stencil's weights (an estimate, not a bound).
    """
    eps = _value_eps(values)
    fmax = np.abs(values).max(axis=0)
    if f0 is not None:
        fmax = np.maximum(fmax, np.abs(f0))
    w = float(np.sqrt(np.sum(np.square(st.weights)) + st.center_weight**2))
    return [eps * fmax * w / steps[j] for j in range(steps.shape[0])]


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
