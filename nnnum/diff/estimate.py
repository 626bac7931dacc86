r"""The error estimate of a finite-difference derivative, from the values already taken.

:func:`_estimate` turns the values of one differentiation (every level of the
Richardson table, ``f(x)`` and the probe where evaluated) into an error bound
and a ``status`` per column: the table's jump, the entry's own truncation
terms fitted from the values (:func:`_truncation`), and the noise measured as
the scatter about a polynomial in the offset (:func:`_measured_noise`).

Every fit is per column, over the offsets actually taken: rounding moves the
points of an element with a large ``|x|`` or a float32 ``x`` off the plan, so a
column's polynomial has its own nodes. :func:`polyfit_columns` fits all the
columns at once (a QR factorisation per distinct set of nodes, vectorised over
the columns; each column's arithmetic the same whatever the other columns), so
the estimate costs a few passes over the values, not a least-squares solve per
element.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .stencils import RATIO, Stencil, entry_moments

__all__ = ["NOISY", "OK", "Probe", "SAFETY", "UNRESOLVED", "polyfit_columns", "scatter_columns"]

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
    moved = ~same  # rounding moved the points (large |x|, float32): each column its own nodes
    if moved.any():
        beta[:, moved], lam[:, moved] = polyfit_columns(
            _columns(s, moved), _columns(v, moved), distinct
        )
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
    moved = ~same  # rounding moved the points (large |x|, float32)
    if moved.any():
        sm, vm = _columns(s, moved) / scale, _columns(vc, moved)
        out[moved] = np.sqrt(scatter_columns(sm, vm, deg + 1) / dof)
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


def _columns(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``a[:, mask]``, without the copy where every column is selected."""
    return a if mask.all() else a[:, mask]


def _rowsum(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` row by row: each column's sum in one order, whatever the others."""
    out = a[0].copy()
    for row in a[1:]:
        out += row
    return out


#: Columns whose triangular factor's diagonal spans more than this ratio (a lower bound on the
#: condition number) are fitted by :func:`numpy.linalg.pinv`, which cuts off the directions the
#: nodes do not determine (merged by rounding, many levels of Richardson); below it ``R^-1 Q^T``
#: agrees with ``pinv`` to rounding.
_COND = 1e4


def polyfit_columns(s: np.ndarray, v: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares polynomials of degree ``d - 1`` through each column's own nodes.

    Parameters
    ----------
    s : ndarray, shape (r, N)
        The nodes of each column (scaled to about ``[-1, 1]``).
    v : ndarray, shape (r, N)
        The values at them.
    d : int
        The number of coefficients, ``d <= r``.

    Returns
    -------
    beta : ndarray, shape (d, N)
        The coefficients, lowest degree first: ``pinv(vander(s[:, c], d)) @ v[:, c]``.
    lam : ndarray, shape (d, N)
        The norms of the rows of each pseudo-inverse: coefficient ``k``'s standard
        deviation per unit standard deviation of every value.

    Notes
    -----
    A QR factorisation of each column's Vandermonde matrix by modified Gram-Schmidt,
    orthogonalised twice (as accurate as Householder for these few columns),
    vectorised over the columns; runs of adjacent columns with the same nodes (the
    outputs of one element of a Jacobian) share one factorisation. The pseudo-inverse
    is ``R^-1 Q^T``; where the matrix is ill-conditioned (rounding merged nodes, many
    Richardson levels) the columns go to :func:`numpy.linalg.pinv` (stacked). Every
    sum runs over the rows in one order, so a column's result does not depend on the
    columns beside it.
    """
    u, counts, q, rr, hard = _factor(s, d)
    r, n = s.shape
    # the pseudo-inverse's rows, R P = Q^T solved from the last row up
    p: list[np.ndarray] = [np.empty(0)] * d
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in range(d - 1, -1, -1):
            acc = q[j].copy()
            for k in range(j + 1, d):
                acc -= rr[j, k] * p[k]
            p[j] = acc / rr[j, j]
    if hard.any():  # where the nodes barely determine the polynomial, pinv's own cut-off decides
        pinv = np.linalg.pinv(_vander_stack(u[:, hard], d))
        for k in range(d):
            p[k][:, hard] = pinv[:, k, :].T
    lam = np.sqrt(np.stack([_rowsum(pj * pj) for pj in p]))
    beta = np.stack([_rowsum(_expand(pj, counts) * v) for pj in p])
    return beta, _expand(lam, counts)


def scatter_columns(s: np.ndarray, v: np.ndarray, d: int) -> np.ndarray:
    """The squared residual of each column's least-squares polynomial of degree ``d - 1``.

    ``s`` and ``v`` as in :func:`polyfit_columns`. The residual is ``v - Q Q^T v``
    (the projection, stable however ill-conditioned the nodes); ill-conditioned
    columns are factored by :func:`numpy.linalg.qr` (Householder, stacked).
    """
    u, counts, q, _, hard = _factor(s, d)
    if hard.any():
        qh = np.linalg.qr(_vander_stack(u[:, hard], d))[0]  # (H, r, d)
        for k in range(d):
            q[k][:, hard] = qh[:, :, k].T
    qe = [_expand(qk, counts) for qk in q]
    resid = v.copy()
    for qk in qe:
        resid -= qk * _rowsum(qk * v)
    return _rowsum(resid * resid)


def _vander_stack(u: np.ndarray, d: int) -> np.ndarray:
    """The Vandermonde matrices ``(U, r, d)`` (increasing powers) of ``u``'s columns."""
    r = u.shape[0]
    return np.vander(u.T.reshape(-1), d, increasing=True).reshape(-1, r, d)


def _expand(a: np.ndarray, counts: np.ndarray | None) -> np.ndarray:
    """A per-run array ``(..., U)`` repeated over each run's columns ``(..., N)``."""
    return a if counts is None else np.repeat(a, counts, axis=-1)


def _factor(
    s: np.ndarray, d: int
) -> tuple[np.ndarray, np.ndarray | None, list[np.ndarray], np.ndarray, np.ndarray]:
    """QR of each distinct run of columns' Vandermonde matrix (modified Gram-Schmidt, twice).

    Returns the runs' nodes ``u`` ``(r, U)``, the run lengths (``None``: every
    column its own run), ``Q``'s columns (``d`` arrays ``(r, U)``), ``R``
    ``(d, d, U)``, and where ``R``'s diagonal says the matrix is ill-conditioned.
    """
    n = s.shape[1]
    change = np.ones(n, dtype=bool)
    if n > 1:
        np.any(s[:, 1:] != s[:, :-1], axis=0, out=change[1:])
    counts = None if change.all() else np.diff(np.flatnonzero(np.append(change, True)))
    u = s if counts is None else s[:, change]
    powers = [np.ones_like(u)]
    for _ in range(1, d):
        powers.append(powers[-1] * u)
    q: list[np.ndarray] = []
    rr = np.zeros((d, d, u.shape[1]))
    for j, col in enumerate(powers):
        w = col.copy()
        for _ in range(2):
            for i in range(j):
                c = _rowsum(q[i] * w)
                w -= q[i] * c
                rr[i, j] += c
        norm = np.sqrt(_rowsum(w * w))
        rr[j, j] = norm
        q.append(w / np.where(norm > 0.0, norm, 1.0))
    diag = np.abs(rr[np.arange(d), np.arange(d)])
    hard = ~(diag.max(axis=0) <= _COND * diag.min(axis=0))
    return u, counts, q, rr, hard
