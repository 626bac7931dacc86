"""The finish of every finite-difference path: plan the perturbations, evaluate, combine.

:func:`differentiate` takes a flat ``x``, a step and a stencil, asks an engine's
``evaluate`` for ``f``'s values at the plan's points, and returns the derivative
with its error estimate (:class:`Outcome`). The book's two-point default has
its own short path here, bit-identical to nnnum 0.1.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .checks import NonFiniteError
from .stencils import Stencil, lagrange_weights, richardson
from .steps import (
    StepResolutionError,
    StepRoundingWarning,
    auto_step,
    check_finite,
    make_plan,
    where,
)

__all__ = ["DiffResult", "Outcome", "RATIO", "differentiate", "is_book_default"]

#: Each Richardson level divides the step by this.
RATIO = 2.0


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
    """

    df: Any
    error: np.ndarray
    nfev: int
    step: np.ndarray
    order: int
    method: str


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
            f"{float(x[i])!r}: x + h == x - h. Use a larger h or float64 parameters"
        )
    rel = np.abs(step / (2.0 * h) - 1.0)
    if rel.size and rel.max() > 0.01:
        i = int(rel.argmax())
        warnings.warn(
            f"h={h!r} is rounded by {x.dtype} at {where(shape, i)} = "
            f"{float(x[i])!r} to a step of {step[i] / 2:.3g}; the difference is "
            "taken over the step actually taken. Use a larger h or float64 parameters for an "
            "accurate gradient",
            StepRoundingWarning,
            stacklevel=5,
        )
    return points, step


def _check_values(values: np.ndarray, shape: tuple[int, ...], labels: list[str]) -> None:
    finite = np.isfinite(values)
    if not finite.all():
        r, i = (int(v) for v in np.argwhere(~finite)[0])
        raise NonFiniteError(
            f"f returned {values[r, i]!r} at {where(shape, i)} {labels[r]}; "
            "the gradient is undefined there"
        )


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
    ):
        self.df, self.error, self.step, self.order = df, error, step, order
        self.rows, self.n, self.extra = rows, n, extra

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
) -> Outcome:
    """Plan the perturbations of the flat ``x``, evaluate them with ``evaluate``, finish."""
    n = x.size
    if is_book_default(st, levels) and h != "auto":
        points, step = _steps2(x, shape, float(h))  # bit-identical to nnnum 0.1
        labels = ["+ h", "- h"]
        values = evaluate(points, labels)
        with np.errstate(over="ignore", invalid="ignore"):
            df = (values[0] - values[1]) / step
        if not np.isfinite(df).all():
            _check_values(values, shape, labels)
            i = int(np.flatnonzero(~np.isfinite(df))[0])
            raise NonFiniteError(
                f"f(x + h) - f(x - h) overflows at {where(shape, i)}: |f| is too large"
            )
        # one step: no estimate of the truncation error (see DiffResult.error)
        return Outcome(df, np.full(n, np.nan), 2, n, 0, np.array([float(h)]), 2)
    hv = auto_step(x, st, levels - 1, RATIO) if h == "auto" else float(h)
    plan = make_plan(x, shape, hv, st, levels, RATIO)
    labels = _row_labels(st, levels)
    values = evaluate(plan.points, labels)
    _check_values(values, shape, labels)
    f0 = None
    if st.center_weight != 0.0:
        f0 = np.broadcast_to(np.asarray(f_at_x(), dtype=np.float64), (n,))
        if not np.isfinite(f0).all():
            raise NonFiniteError(
                f"f returned {f0[np.argmax(~np.isfinite(f0))]!r} at x itself (a one-sided "
                "stencil needs f(x)); the gradient is undefined there"
            )
    m = len(st.offsets)
    weights = np.asarray(st.weights)
    estimates = []
    for j in range(levels):
        rows = values[j * m : (j + 1) * m]
        with np.errstate(over="ignore", invalid="ignore"):
            d = weights @ rows
            if f0 is not None:
                d = d + st.center_weight * f0
            d = d / plan.steps[j]
            inexact = ~plan.exact[j]
            if inexact.any():
                d[inexact] = _over_actual_points(
                    rows, plan.offsets[j * m : (j + 1) * m], f0, inexact
                )
        estimates.append(d)
    noise = _rounding_noise(values, f0, st, plan.steps)
    df, error = richardson(estimates, RATIO, st.error_powers, noise)
    if not np.isfinite(df).all():
        i = int(np.flatnonzero(~np.isfinite(df))[0])
        raise NonFiniteError(
            f"the difference of f overflows at {where(shape, i)}: |f| is too large"
        )
    # + the result's own rounding to x's dtype
    error = error + 0.5 * float(np.finfo(x.dtype).eps) * np.abs(df)
    order = st.error_powers[min(levels - 1, len(st.error_powers) - 1)]
    step = plan.steps[:, 0].copy() if np.ndim(hv) == 0 else plan.steps.reshape((levels,) + shape)
    return Outcome(df, error, values.shape[0], n, 0 if f0 is None else 1, step, order)


def _value_eps(values: np.ndarray) -> float:
    """The resolution of ``f``'s values: float32's epsilon when every value is a float32.

    An ``f`` that computes in float32 returns values that float32 holds exactly;
    one that computes in float64 almost never does.
    """
    with np.errstate(over="ignore"):
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
    """The stencil's derivative over the points actually evaluated, where rounding moved them."""
    nodes = offsets[:, mask]
    vals = rows[:, mask]
    if f0 is not None:
        nodes = np.vstack([np.zeros((1, nodes.shape[1])), nodes])
        vals = np.vstack([f0[mask][None, :], vals])
    if nodes.shape[0] == 2:
        return (vals[0] - vals[1]) / (nodes[0] - nodes[1])
    # the weights sum to zero: subtracting one value changes nothing but the rounding, which
    # for a large |f| (weights ~ 1/h times values ~ |f|) would otherwise swamp the result
    return (lagrange_weights(nodes) * (vals - vals[0])).sum(axis=0)
