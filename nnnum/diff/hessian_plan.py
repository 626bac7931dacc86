"""The Hessian's plan: the pairs to evaluate, the automatic step, each level's perturbations.

:func:`pairs` chooses the pairs ``i <= j`` (every pair, the pattern's, or the
diagonal); :func:`auto_second` is the automatic step of the second differences;
:func:`real_level` and :func:`complex_level` give one Richardson level's sets of
perturbations (:class:`nnnum.diff.perturb.Perturbations`) and the way to combine
their values into ``H[i, j]`` with what the estimate needs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .perturb import Perturbations
from .stencils import RATIO, Stencil
from .steps import StepResolutionError, auto_step, where

__all__ = ["POWERS", "auto_second", "complex_level", "pairs", "real_level"]

#: The error powers of the second differences' Richardson table (2, 4, 6, ...).
POWERS = tuple(range(2, 26, 2))


@functools.cache
def _second_step(levels: int, eps: float) -> tuple[Stencil, float]:
    r"""The automatic step's rule for the second difference after ``levels - 1`` extrapolations.

    The chosen entry's error is :math:`c\,s^q f^{(q+2)}` (``q = 2 levels``, ``s = 2h`` the
    diagonal's spacing) plus the rounding :math:`G \epsilon |f| / s^2` carried through the
    table; with :math:`|f^{(q+2)}| \sim |f|` the sum is least at
    :math:`s = (2 G \epsilon / (q c))^{1/(q+2)}`: :math:`\epsilon^{1/4}` without Richardson,
    :math:`\epsilon^{1/6}`, :math:`\epsilon^{1/8}` with, each times the stencil's constant
    (as numdifftools scales ``EPS ** (1 / scale)``). Returns the step rule's stencil (its
    :math:`\epsilon^{1/(q+2)}` and the scaling in ``|x|`` of :func:`.steps.auto_step`) and
    the constant as a power of two (the steps stay exact).
    """
    kmax = levels + 2
    pw = [2 * k for k in range(1, kmax)]
    a = np.array([2.0 / math.factorial(2 * k + 2) for k in range(1, kmax)])
    err = [[a * (RATIO**-j) ** np.array(pw, dtype=float)] for j in range(levels)]
    noise = [[np.eye(levels)[j] * 4.0 * RATIO ** (2 * j)] for j in range(levels)]
    for j in range(1, levels):
        for k in range(1, j + 1):
            fac = RATIO ** pw[k - 1] - 1.0
            err[j].append(err[j][k - 1] + (err[j][k - 1] - err[j - 1][k - 1]) / fac)
            noise[j].append(noise[j][k - 1] + (noise[j][k - 1] - noise[j - 1][k - 1]) / fac)
    q, c = pw[levels - 1], abs(float(err[-1][-1][levels - 1]))
    gain = float(np.sqrt(np.sum(np.square(noise[-1][-1]))))
    h = 0.5 * (2.0 * gain * eps / (q * c)) ** (1.0 / (q + 2))
    rule = Stencil("central", 2, (-1, 1), (-0.5, 0.5), 0.0, (q + 1, q + 1))
    # at most a quarter (f's features on a scale of 1), rounded once with the rule's own step
    base = np.round(np.log2(eps ** (1.0 / (q + 2))))
    return rule, float(np.exp2(np.round(np.log2(min(h, 0.25)) - base)))


def auto_second(flat: np.ndarray, levels: int) -> np.ndarray:
    """The automatic step of every element for the second differences (:func:`_second_step`)."""
    rule, factor = _second_step(levels, float(np.finfo(flat.dtype).eps))
    return auto_step(flat, rule, 0, RATIO) * factor


def pairs(n: int, sparsity: Any, diag_only: bool) -> tuple[np.ndarray, np.ndarray, Any]:
    """The pairs ``i <= j`` to evaluate and the pattern (None: dense)."""
    if diag_only:
        a = np.arange(n, dtype=np.int64)
        return a, a, None
    if sparsity is None:
        i, j = np.triu_indices(n)
        return i.astype(np.int64), j.astype(np.int64), None
    from .colouring import as_pattern

    pat = as_pattern(sparsity, (n, n))
    i, j = pat.rows, pat.indices
    keep_lo, keep_hi = np.minimum(i, j), np.maximum(i, j)
    key = np.unique(keep_lo * n + keep_hi)
    return key // n, key % n, pat


def _points(
    flat: np.ndarray, shape: tuple, i: np.ndarray, j: np.ndarray, h: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``x_i + t h_i`` for t in (-2, -1, 1, 2) as stored, and the offsets actually taken."""
    x64 = flat.astype(np.float64)
    pts = {}
    offs = {}
    with np.errstate(over="ignore", invalid="ignore"):
        for t in (-2.0, -1.0, 1.0, 2.0):
            p = flat + (t * h).astype(flat.dtype)
            pts[t], offs[t] = p, p.astype(np.float64) - x64
    for t in (1.0, 2.0):
        bad = np.flatnonzero((offs[t] - offs[-t]) <= 0)
        if bad.size:
            k = int(bad[0])
            raise StepResolutionError(
                f"h={float(h[k])!r} is below the resolution of {flat.dtype} at "
                f"{where(shape, k)} = {float(flat[k])!r}: x + {t:g}h == x - {t:g}h. "
                "Use a larger h or float64 parameters"
            )
    return np.stack([pts[t] for t in (-2.0, -1.0, 1.0, 2.0)]), np.stack(
        [offs[t] for t in (-2.0, -1.0, 1.0, 2.0)]
    )


def real_level(
    flat: np.ndarray, shape: tuple, i: np.ndarray, j: np.ndarray, h: np.ndarray
) -> tuple[Perturbations, Callable[[np.ndarray, float], tuple[np.ndarray, ...]]]:
    """The perturbations of one level and how their values become ``H[i, j]``."""
    pts, offs = _points(flat, shape, i, j, h)
    d = i == j
    od, dg = np.flatnonzero(~d), np.flatnonzero(d)
    io, jo, idg = i[od], j[od], i[dg]
    # off-diagonal: 4 points of 2 elements; diagonal: 2 points of 1 element
    P4, P2 = od.size * 4, dg.size * 2
    counts = np.concatenate([np.full(P4, 2), np.full(P2, 1)])
    ptr = np.zeros(P4 + P2 + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    sgn = [(2, 2), (2, 1), (1, 2), (1, 1)]  # rows of pts: 0:-2h 1:-h 2:+h 3:+2h
    idx_o = np.stack([np.stack([io, jo], 1) for _ in sgn], 1).reshape(-1)
    val_o = np.stack([np.stack([pts[a, io], pts[b, jo]], 1) for a, b in sgn], 1).reshape(-1)
    idx_d = np.stack([idg, idg], 1).reshape(-1)
    val_d = np.stack([pts[3, idg], pts[0, idg]], 1).reshape(-1)
    idx = np.concatenate([idx_o, idx_d])
    val = np.concatenate([val_o, val_d]).astype(flat.dtype)

    def label(p: int) -> str:
        if p < P4:
            q, s = divmod(p, 4)
            a, b = ("+", "+", "-", "-")[s], ("+", "-", "+", "-")[s]
            return f"{where(shape, int(io[q]))} {a} h, {where(shape, int(jo[q]))} {b} h"
        q, s = divmod(p - P4, 2)
        return f"{where(shape, int(idg[q]))} {'+' if s == 0 else '-'} 2h"

    def combine(F: np.ndarray, f0: float) -> tuple[np.ndarray, ...]:
        v = np.empty(i.size)
        unit = np.empty(i.size)
        fmax = np.empty(i.size)
        grad = np.zeros(flat.size)
        with np.errstate(over="ignore", invalid="ignore"):
            Fo = F[:P4, 0].reshape(-1, 4)
            den = (offs[2, io] - offs[1, io]) * (offs[2, jo] - offs[1, jo])
            v[od] = (Fo[:, 0] - Fo[:, 1] - Fo[:, 2] + Fo[:, 3]) / den
            unit[od] = 2.0 / np.abs(den)
            fmax[od] = np.abs(Fo).max(axis=1)
            Fd = F[P4:, 0].reshape(-1, 2)
            dp, dm = offs[3, idg], offs[0, idg]
            v[dg] = 2.0 * (
                Fd[:, 0] / (dp * (dp - dm)) + Fd[:, 1] / (dm * (dm - dp)) + f0 / (dp * dm)
            )
            unit[dg] = np.sqrt(6.0) / (dp * dp)
            fmax[dg] = np.maximum(np.abs(Fd).max(axis=1), abs(f0))
            grad[idg] = (Fd[:, 0] - Fd[:, 1]) / (dp - dm)
        return v, unit, fmax, grad

    return Perturbations(ptr, idx, val, label), combine


def complex_level(
    flat: np.ndarray, shape: tuple, i: np.ndarray, j: np.ndarray, h: np.ndarray, eta: np.ndarray
) -> tuple[Perturbations, Callable[[np.ndarray, float], tuple[np.ndarray, ...]]]:
    """One level of the complex step over a central difference: its sets and their combination.

    Pair ``(i, j)``: ``x_i + i eta_i`` with ``x_j`` at its two central points
    (one element where ``i == j``); the combination gives ``H[i, j]``, its
    unit of rounding and the largest ``|Im f|`` for the estimate.
    """
    from . import complex_step as cs

    pts, offs = _points(flat, shape, i, j, h)
    cflat = flat.astype(cs.complex_dtype(flat.dtype))
    d = i == j
    P = i.size * 2
    # pair (i, j): x_i + i eta_i and x_j + b_+- (one element when i == j)
    rows_b = (2, 1)
    ii = np.repeat(i, 2)
    jj = np.repeat(j, 2)
    which = np.tile(np.array(rows_b), i.size)
    dd = np.repeat(d, 2)
    cnt = np.where(dd, 1, 2)
    ptr = np.zeros(P + 1, dtype=np.int64)
    np.cumsum(cnt, out=ptr[1:])
    b = pts[which, jj]
    imag = 1j * eta[ii]
    both_idx = np.stack([ii, jj], 1)
    both_val = np.stack([cflat[ii] + imag, b + 0j], 1)
    one_val = b + imag
    idx = np.where(dd[:, None], np.stack([ii, ii], 1), both_idx)
    val = np.where(dd[:, None], np.stack([one_val, one_val], 1), both_val)
    keep = np.ones((P, 2), bool)
    keep[dd, 1] = False
    idx = idx[keep]
    val = val[keep].astype(cflat.dtype)

    def label(p: int) -> str:
        q, s = divmod(p, 2)
        return f"{where(shape, int(i[q]))} + i eta, {where(shape, int(j[q]))} {'+-'[s]} h"

    def combine(F: np.ndarray, f0: float) -> tuple[np.ndarray, ...]:
        G = F[:, 0].imag.reshape(-1, 2) / eta[i][:, None]
        den = offs[2, j] - offs[1, j]
        v = (G[:, 0] - G[:, 1]) / den
        unit = np.sqrt(2.0) / np.abs(den)
        fmax = np.abs(G).max(axis=1)
        return v, unit, fmax, np.zeros(flat.size)

    return Perturbations(ptr, idx, val, label), combine
