"""Steps: the checks of ``h`` and ``x``, the automatic step, and the points actually evaluated.

Written once for every engine and every stencil. The rule: a perturbed point
is ``x + t h`` *as stored in x's dtype*, and the difference is taken over the
offset actually taken, ``(x + t h) - x``, never over a step that did not
happen. Where rounding moved a point (float32, or large ``|x|``), a
:class:`StepRoundingWarning` says so; where it removed the perturbation
altogether, :class:`StepResolutionError`.
"""

from __future__ import annotations

import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import all_finite
from .stencils import Stencil

__all__ = [
    "StepResolutionError",
    "StepRoundingWarning",
    "Plan",
    "check_h",
    "auto_step",
    "make_plan",
    "where",
]


class StepRoundingWarning(RuntimeWarning):
    """The perturbation ``x +- h`` was rounded by ``x``'s dtype to a different step."""


class StepResolutionError(ValueError):
    """``h`` is below the resolution of ``x``'s dtype: ``x + h == x - h``."""


#: The book's step, the default of every differentiation function.
DEFAULT_H = 1e-4


def check_h(h: Any, *, allow_auto: bool = False) -> float | str:
    """``h`` as a float (or ``"auto"``), or a clear error: the one step check of every path.

    ``None`` is the default step, the book's ``1e-4`` (the complex step maps it
    to ``"auto"`` before asking).
    """
    if h is None:
        return DEFAULT_H
    if allow_auto and isinstance(h, str) and h == "auto":
        return "auto"
    if isinstance(h, (bool, np.bool_)) or not isinstance(h, numbers.Real):
        extra = ' or "auto"' if allow_auto else ""
        raise TypeError(
            f"h must be a real number such as 1e-4{extra}, got {type(h).__name__} {h!r}"
        )
    hf = float(h)
    if not (math.isfinite(hf) and hf > 0.0):
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    return hf


def remedy(dtype: np.dtype, what: str = "") -> str:
    """What to do about a step that rounds: a larger ``h`` (and float64, for float32 ``x``)."""
    wider = "" if np.dtype(dtype) == np.float64 else " or float64 parameters"
    return f"Use a larger h{wider}{what}"


def where(shape: tuple[int, ...], flat: int) -> str:
    """``x[i, j]`` for flat index ``flat`` of an array of ``shape``."""
    if not shape:
        return "x"
    return "x[" + ", ".join(str(i) for i in np.unravel_index(flat, shape)) + "]"


def auto_step(x: np.ndarray, stencil: Stencil, levels: int, ratio: float) -> np.ndarray:
    r"""The automatic step for each element: balance truncation against rounding.

    For a stencil whose error after ``levels`` Richardson steps is
    :math:`O(h^q)`, the total error :math:`C h^q + \epsilon |f| / h` is
    smallest near :math:`h \approx \epsilon^{1/(q+1)}`, with
    :math:`\epsilon` the machine epsilon of ``x``'s dtype; the first step of
    the extrapolation (the later ones divide it by ``ratio``) is

    .. math:: h_i = \epsilon^{1/(q+1)} \max(1, \log(e - 1 + |x_i|), |x_i|^{1/(q+1)})

    rounded to a power of two, so ``x + t h`` is exact wherever ``x``'s dtype
    can hold it, and at least twice the spacing of ``x``'s dtype at ``x_i``.
    Up to :math:`|x_i| = 1` it is :math:`\epsilon^{1/(q+1)}`. Beyond, it grows
    slowly, as numdifftools' nominal step (``log(e - 1 + |x|)``): a step
    proportional to ``|x|`` would reach across many periods of an ``f`` that
    oscillates on a scale of 1 (``sin(x)`` at ``1e6``). The last term balances
    the truncation against the rounding of ``f``'s argument,
    :math:`\epsilon |x| |f'| / h`, which dominates at very large ``|x|``.
    The offsets reach ``max|t| h`` on either side: a function with a pole or a
    boundary closer than that to ``x``, or one that oscillates faster than
    the step resolves, needs an explicit, smaller ``h``.
    """
    eps = float(np.finfo(x.dtype).eps)
    q = stencil.error_powers[min(levels, 1)]
    ax = np.abs(x.astype(np.float64))
    with np.errstate(over="ignore"):
        scale = np.maximum.reduce(
            [np.ones_like(ax), np.log(np.e - 1.0 + ax), ax ** (1.0 / (q + 1))]
        )
    h = np.exp2(np.round(np.log2(eps ** (1.0 / (q + 1)) * scale)))
    spacing = np.spacing(np.abs(x)).astype(np.float64)
    floor = np.exp2(np.ceil(np.log2(2.0 * np.maximum(spacing, np.finfo(x.dtype).tiny))))
    return np.maximum(h, floor)


@dataclass
class Plan:
    """The perturbations to evaluate: one row of points per (level, offset), one column per element.

    ``points[r]`` holds, for every element ``i``, the value ``x_i`` takes in
    evaluation ``r``; ``offsets[r]`` the offset actually taken (float64);
    ``steps[j]`` the nominal step of level ``j``; ``exact[j]`` where every
    offset of level ``j`` is exactly its nominal value.
    """

    stencil: Stencil
    points: np.ndarray
    offsets: np.ndarray
    steps: np.ndarray
    exact: np.ndarray

    @property
    def rows_per_level(self) -> int:
        """Evaluations per element at one step size (the stencil's offsets)."""
        return len(self.stencil.offsets)

    @property
    def levels(self) -> int:
        """Step sizes in the plan (1 + the Richardson levels)."""
        return self.steps.shape[0]

    def shared(self) -> tuple[np.ndarray, np.ndarray]:
        """The rows to evaluate once each, and where each row's values are among them.

        Richardson levels share points (central order 4 at ``h`` and ``h/2`` both
        take ``x +- h``): a row whose points equal an earlier row's, bit for bit,
        need not be evaluated again. Returns ``keep`` (row indices, increasing)
        and ``source`` (per row, its position in ``keep``).
        """
        rows = self.points.shape[0]
        source = np.arange(rows)
        if self.points.shape[1] == 0:
            return source, source
        # each row's offset in units of the first step (the levels' ratio is a power of two)
        unit = [
            t * float(self.steps[j, 0] / self.steps[0, 0])
            for j in range(self.levels)
            for t in self.stencil.offsets
        ]
        for r in range(1, rows):
            for q in range(r):
                if (
                    source[q] == q
                    and unit[r] == unit[q]
                    and np.array_equal(self.points[r], self.points[q])
                ):
                    source[r] = q
                    break
        keep = np.flatnonzero(source == np.arange(rows))
        return keep, np.searchsorted(keep, source)


def check_finite(x: np.ndarray, shape: tuple[int, ...]) -> None:
    """A ``ValueError`` naming the first element of ``x`` that is NaN or inf."""
    if not all_finite(x):
        i = int(np.flatnonzero(~np.isfinite(x))[0])
        raise ValueError(
            f"x is not finite at {where(shape, i)} = {float(x[i])!r}; "
            "the derivative is undefined there"
        )


def make_plan(
    x: np.ndarray,
    shape: tuple[int, ...],
    h: float | np.ndarray,
    stencil: Stencil,
    levels: int = 1,
    ratio: float = 2.0,
) -> Plan:
    """Points and actual offsets for ``levels`` steps ``h, h/ratio, ...`` of ``stencil``.

    ``x`` is flat (any dtype the engines take). Raises ``ValueError`` for a
    non-finite ``x`` and :class:`StepResolutionError` where a perturbation
    rounds away (or two points of one level coincide); warns
    :class:`StepRoundingWarning` where an offset is off its nominal value by
    more than 1%.
    """
    dtype = x.dtype
    x64 = x.astype(np.float64)
    h64 = np.broadcast_to(np.asarray(h, dtype=np.float64), x.shape)
    m = len(stencil.offsets)
    # every row at once: row r = j * m + k is level j's offset t_k (the arithmetic of one row
    # at a time, broadcast: the same bits)
    divisors = [ratio**j for j in range(levels)]
    t = np.tile(np.asarray(stencil.offsets, dtype=np.float64), levels)
    with np.errstate(over="ignore", invalid="ignore"):
        steps = h64[None, :] / np.asarray(divisors)[:, None]
        nominal = t[:, None] * np.repeat(steps, m, axis=0)
        if np.ndim(h) == 0:
            moves = [tk * float(h) / d for d in divisors for tk in stencil.offsets]
            points = x[None, :] + np.asarray(moves, dtype=np.float64).astype(dtype)[:, None]
        else:
            points = x[None, :] + nominal.astype(dtype)
        offsets = points.astype(np.float64) - x64[None, :]
        same = offsets == nominal
        exact = same.reshape(levels, m, x.size).all(axis=1)
        worst = (0.0, -1, 0.0)
        if not same.all():
            check_finite(x, shape)
            rel = np.abs(offsets / nominal - 1.0)
            rel[same] = 0.0  # as the rows that are exact were never looked at
            row, col = (int(v) for v in np.unravel_index(int(np.argmax(rel)), rel.shape))
            if rel[row, col] > 0.0:
                worst = (float(rel[row, col]), col, float(offsets[row, col] / t[row]))
    over = np.flatnonzero(~np.isfinite(offsets).all(axis=0))
    if over.size:
        check_finite(x, shape)  # a NaN or inf in x itself is said as such
        i = int(over[0])
        raise StepResolutionError(
            f"h={_h_repr(h, i)} is too large for {dtype} at {where(shape, i)} = "
            f"{float(x[i])!r}: x + h overflows. Use a smaller h"
        )
    if not exact.all():
        _check_resolution(x, shape, h, stencil, offsets, levels, ratio)
        rel, i, taken = worst
        if rel > 0.01:
            warnings.warn(
                f"h={_h_repr(h, i)} is rounded by {dtype} at {where(shape, i)} = "
                f"{float(x[i])!r} to a step of {taken:.3g}; the difference is taken over the "
                f"step actually taken. {remedy(dtype, ' for an accurate gradient')}",
                StepRoundingWarning,
                stacklevel=4,
            )
    return Plan(stencil, points, offsets, steps, exact)


def _h_repr(h: float | np.ndarray, i: int) -> str:
    return repr(float(h)) if np.ndim(h) == 0 else repr(float(np.asarray(h)[i]))


def _check_resolution(
    x: np.ndarray,
    shape: tuple[int, ...],
    h: float | np.ndarray,
    stencil: Stencil,
    offsets: np.ndarray,
    levels: int,
    ratio: float = 2.0,
) -> None:
    m = len(stencil.offsets)
    for j in range(levels):
        lvl = offsets[j * m : (j + 1) * m]
        zero = ~(lvl != 0).all(axis=0)
        srt = np.sort(lvl, axis=0)
        dup = (np.diff(srt, axis=0) == 0).any(axis=0) if m > 1 else np.zeros_like(zero)
        bad = np.flatnonzero(zero | dup)
        if bad.size:
            i = int(bad[0])
            raise StepResolutionError(
                f"h={_h_repr(h, i)} is below the resolution of {x.dtype} at {where(shape, i)} = "
                f"{float(x[i])!r}: {_coinciding(stencil.offsets, lvl[:, i], j, ratio)}. "
                f"{remedy(x.dtype)}"
            )


def _point(t: float, j: int, ratio: float) -> str:
    mag = abs(t)
    scale = "h" if j == 0 else f"h/{int(ratio**j)}"
    return f"x {'+' if t > 0 else '-'} {'' if mag == 1 else mag}{scale}"


def _coinciding(nominal: tuple[int, ...], actual: np.ndarray, j: int, ratio: float) -> str:
    """The first two points of one level that rounding made equal (``x`` itself included)."""
    for k, t in enumerate(nominal):
        if actual[k] == 0:
            return f"{_point(t, j, ratio)} == x"
    for a in range(len(nominal)):
        for b in range(a + 1, len(nominal)):
            if actual[a] == actual[b]:
                return f"{_point(nominal[a], j, ratio)} == {_point(nominal[b], j, ratio)}"
    return "two perturbed points coincide"  # not reached: the caller found a pair
