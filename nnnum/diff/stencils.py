r"""Finite-difference stencils as data, and Richardson extrapolation over a sequence of steps.

A stencil is a set of offsets ``t_k`` (in units of the step ``h``) and weights
``w_k`` such that

.. math:: f'(x) = \frac{1}{h} \sum_k w_k f(x + t_k h) + O(h^p)

with ``p`` the stencil's order. The weights are the exact rational solution of
the moment conditions :math:`\sum_k w_k t_k^j = \delta_{j1}` for
:math:`j < p + 1` (computed once, in :class:`fractions.Fraction`). A new
stencil is one entry of :data:`KINDS`; the engines never look inside.

Richardson extrapolation combines the estimates ``D(h), D(h/q), D(h/q^2), ...``
to cancel the leading error terms (powers ``p, p+2, ...`` for a central
stencil, ``p, p+1, ...`` for a one-sided one), as in numdifftools'
``extrapolation.py`` and SciPy's ``scipy.differentiate``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

__all__ = [
    "RATIO",
    "Stencil",
    "Table",
    "stencil",
    "KINDS",
    "ORDERS",
    "entry_moments",
    "lagrange_weights",
    "richardson",
    "richardson_table",
]

#: Each Richardson level divides the step by this.
RATIO = 2.0

#: Stencil kinds: ``central`` (symmetric, even orders), ``forward``/``backward`` (one-sided).
KINDS = ("central", "forward", "backward")
#: Orders offered per kind.
ORDERS = {"central": (2, 4, 6, 8), "forward": (1, 2, 3, 4, 5, 6), "backward": (1, 2, 3, 4, 5, 6)}


@dataclass(frozen=True)
class Stencil:
    """Offsets (units of ``h``) and weights of a first-derivative stencil.

    Attributes
    ----------
    kind : str
        ``"central"``, ``"forward"`` or ``"backward"``.
    order : int
        Truncation error :math:`O(h^{order})`.
    offsets : tuple of int
        The nonzero offsets ``t_k``, each one evaluation of ``f`` per element.
    weights : tuple of float
        ``w_k`` for each offset.
    center_weight : float
        The weight of ``f(x)`` itself (one evaluation in all, for one-sided stencils).
    error_powers : tuple of int
        Powers of ``h`` in the error expansion, leading first.
    """

    kind: str
    order: int
    offsets: tuple[int, ...]
    weights: tuple[float, ...]
    center_weight: float
    error_powers: tuple[int, ...]

    @property
    def evaluations_per_element(self) -> int:
        """Evaluations of ``f`` per element of ``x`` (``f(x)`` itself not counted)."""
        return len(self.offsets)

    @property
    def abs_weight_sum(self) -> float:
        """``sum |w_k|``: how much the stencil amplifies rounding errors of ``f``."""
        return float(sum(abs(w) for w in self.weights) + abs(self.center_weight))


def _exact_weights(offsets: list[int]) -> list[Fraction]:
    """Solve sum_k w_k t_k^j = [j == 1], j = 0..m-1, exactly (Gauss-Jordan on Fractions)."""
    m = len(offsets)
    a = [[Fraction(t) ** j for t in offsets] + [Fraction(int(j == 1))] for j in range(m)]
    for col in range(m):
        piv = next(r for r in range(col, m) if a[r][col] != 0)
        a[col], a[piv] = a[piv], a[col]
        p = a[col][col]
        a[col] = [v / p for v in a[col]]
        for r in range(m):
            if r != col and a[r][col] != 0:
                factor = a[r][col]
                a[r] = [vr - factor * vc for vr, vc in zip(a[r], a[col], strict=False)]
    return [a[r][m] for r in range(m)]


def stencil(order: int = 2, kind: str = "central") -> Stencil:
    """The first-derivative stencil of ``kind`` and ``order``.

    Parameters
    ----------
    order : int
        Central: 2, 4, 6 or 8 (``order`` evaluations per element). One-sided:
        1 to 6 (``order`` evaluations per element plus one ``f(x)`` in all).
    kind : {"central", "forward", "backward"}
        Forward and backward stencils evaluate ``f`` on one side of ``x``
        only, for functions defined on one side (``sqrt`` at 0).

    Examples
    --------
    >>> from nnnum.diff.stencils import stencil
    >>> s = stencil(4)
    >>> s.offsets, [round(w, 6) for w in s.weights]
    ((-2, -1, 1, 2), [0.083333, -0.666667, 0.666667, -0.083333])
    """
    if kind not in KINDS:
        raise ValueError(f"method must be one of {', '.join(map(repr, KINDS))}, got {kind!r}")
    if (
        isinstance(order, bool)
        or not isinstance(order, (int, np.integer))
        or order not in ORDERS[kind]
    ):
        valid = ", ".join(str(o) for o in ORDERS[kind])
        raise ValueError(f"order must be one of {valid} for a {kind} stencil, got {order!r}")
    return _build(int(order), kind)


@functools.cache
def _build(order: int, kind: str) -> Stencil:
    if kind == "central":
        m = order // 2
        nodes = list(range(-m, 0)) + list(range(1, m + 1))
        w = _exact_weights(nodes)
        center = Fraction(0)
        powers = tuple(range(order, order + 12, 2))
    else:
        sign = 1 if kind == "forward" else -1
        nodes_all = [sign * k for k in range(order + 1)]
        w_all = _exact_weights(nodes_all)
        center, w, nodes = w_all[0], w_all[1:], nodes_all[1:]
        powers = tuple(range(order, order + 12))
    return Stencil(
        kind=kind,
        order=order,
        offsets=tuple(nodes),
        weights=tuple(float(v) for v in w),
        center_weight=float(center),
        error_powers=powers,
    )


def lagrange_weights(nodes: np.ndarray) -> np.ndarray:
    """Derivative-at-0 weights for each column of ``nodes`` (m, n): nonuniform actual offsets.

    ``sum_k w[k, i] * f(x_i + nodes[k, i])`` is the derivative at ``x_i`` of the
    polynomial through the points (``f(x_i)`` itself at node 0 is included when
    one row of ``nodes`` is zero). Used where rounding moved a perturbed point
    off its nominal offset: the stencil is then taken over the points
    actually evaluated.
    """
    m = nodes.shape[0]
    w = np.empty_like(nodes, dtype=np.float64)
    for k in range(m):
        others = [j for j in range(m) if j != k]
        denom = np.ones(nodes.shape[1])
        for j in others:
            denom = denom * (nodes[k] - nodes[j])
        # d/dx prod_{j != k} (x - d_j) at x = 0: sum_j prod_{l != k, j} (-d_l)
        num = np.zeros(nodes.shape[1])
        for j in others:
            term = np.ones(nodes.shape[1])
            for i in others:
                if i != j:
                    term = term * (-nodes[i])
            num = num + term
        w[k] = num / denom
    return w


def richardson(
    estimates: list[np.ndarray],
    ratio: float,
    powers: tuple[int, ...],
    noise: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolate ``D(h), D(h/ratio), ...`` to ``h -> 0``; the best value and its error estimate.

    The table ``T[j][k] = T[j][k-1] + (T[j][k-1] - T[j-1][k-1]) / (ratio**powers[k-1] - 1)``
    cancels one error term per column. Each extrapolated entry's error is
    estimated as its distance to the entry of the column before (the estimate
    scipy.differentiate and numdifftools report) plus its rounding noise
    (``noise[j]``: the standard deviation of ``D(h_j)``, carried through the
    table). Per element, the entry with the smallest estimate is returned, as
    numdifftools does: a coarse step wins where rounding dominates, a fine
    one where truncation does.

    Returns
    -------
    value, error : ndarray
        With one estimate only, the error is NaN (nothing to compare with).
    """
    table = [[np.asarray(e, dtype=np.float64)] for e in estimates]
    if noise is None:
        noise = [np.zeros_like(table[0][0]) for _ in estimates]
    # an |f| beyond ~1e150 makes the variances overflow to inf: an infinite error estimate,
    # not a RuntimeWarning to the caller (the caller's check of f's values speaks for f)
    with np.errstate(over="ignore", invalid="ignore"):
        return _extrapolate(table, noise, ratio, powers)


def _extrapolate(
    table: list[list[np.ndarray]], noise: list[np.ndarray], ratio: float, powers: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    best, best_err, _ = _choose(table, noise, ratio, powers)
    return best, best_err


def _choose(
    table: list[list[np.ndarray]], noise: list[np.ndarray], ratio: float, powers: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fill the table; the best entry per element, its error estimate and its index (flat)."""
    var = [[np.square(np.asarray(v, dtype=np.float64))] for v in noise]
    for j in range(1, len(table)):
        for k in range(1, j + 1):
            factor = ratio ** powers[k - 1] - 1.0
            prev, coarse = table[j][k - 1], table[j - 1][k - 1]
            table[j].append(prev + (prev - coarse) / factor)
            a, b = 1.0 + 1.0 / factor, 1.0 / factor
            var[j].append(a * a * var[j][k - 1] + b * b * var[j - 1][k - 1])
    if len(table) == 1:
        zero = np.zeros(table[0][0].shape, dtype=np.intp)
        return table[0][0], np.full_like(table[0][0], np.nan), zero
    best = table[1][1].copy()
    best_err = np.abs(table[1][1] - table[1][0]) + np.sqrt(var[1][1])
    choice = np.zeros(best.shape, dtype=np.intp)
    index = 1
    for j in range(2, len(table)):
        for k in range(1, j + 1):
            err = np.abs(table[j][k] - table[j][k - 1]) + np.sqrt(var[j][k])
            take = err < best_err
            best = np.where(take, table[j][k], best)
            best_err = np.where(take, err, best_err)
            choice = np.where(take, index, choice)
            index += 1
    return best, best_err, choice


@dataclass
class Table:
    """A filled Richardson table and the entry chosen per element (:func:`richardson_table`).

    Attributes
    ----------
    value, error : ndarray
        The chosen entry and its estimate, as :func:`richardson` returns them.
    jump : ndarray
        ``|T[j][k] - T[j][k-1]|`` of the chosen entry: the Richardson part of ``error``.
    gain : ndarray
        The standard deviation of the chosen entry per unit standard deviation of
        each value of ``f`` (the stencil's weights over the step, through the table).
    first : list of ndarray
        The first column ``D(h), D(h/ratio), ...``.
    choice : ndarray of intp or None
        The chosen entry per element, numbered as :func:`entry_moments` numbers
        the extrapolated entries (``T[1][1], T[2][1], T[2][2], T[3][1], ...``);
        ``None`` where the table was built without it.
    """

    value: np.ndarray
    error: np.ndarray
    jump: np.ndarray
    gain: np.ndarray
    first: list[np.ndarray]
    choice: np.ndarray | None = None


def richardson_table(
    estimates: list[np.ndarray],
    ratio: float,
    powers: tuple[int, ...],
    noise: list[np.ndarray] | None,
    unit: list[np.ndarray] | None,
    *,
    estimate: bool = True,
) -> Table:
    """:func:`richardson`, keeping the chosen entry's jump and its noise gain.

    ``noise`` chooses the entry (as :func:`richardson`); ``unit[j]`` is the
    standard deviation of ``D(h_j)`` per unit standard deviation of ``f``'s
    values, carried through the table to the chosen entry (``gain``). With
    ``estimate=False`` and two levels (one entry to choose from: ``T[1][1]``)
    only ``value`` is computed, the same numbers; ``noise`` and ``unit`` may
    then be ``None``, and ``error``, ``jump`` and ``gain`` are NaN.
    """
    table = [[np.asarray(e, dtype=np.float64)] for e in estimates]
    if not estimate and len(table) == 2:
        with np.errstate(over="ignore", invalid="ignore"):
            factor = ratio ** powers[0] - 1.0
            prev, coarse = table[1][0], table[0][0]
            value = prev + (prev - coarse) / factor
        nan = np.broadcast_to(np.nan, value.shape)
        first = [row[0] for row in table]
        return Table(value, nan, nan, nan, first, np.zeros(value.shape, dtype=np.intp))
    assert noise is not None and unit is not None
    with np.errstate(over="ignore", invalid="ignore"):
        value, error, choice = _choose(table, noise, ratio, powers)
        first = [row[0] for row in table]
        if len(table) == 1:
            nan = np.full_like(value, np.nan)
            return Table(value, error, nan, nan, first, choice)
        ug = [[np.square(np.asarray(v, dtype=np.float64))] for v in unit]
        jump = np.zeros_like(value)
        gain = np.zeros_like(value)
        index = 0
        for j in range(1, len(table)):
            for k in range(1, j + 1):
                factor = ratio ** powers[k - 1] - 1.0
                a, b = 1.0 + 1.0 / factor, 1.0 / factor
                ug[j].append(a * a * ug[j][k - 1] + b * b * ug[j - 1][k - 1])
                here = choice == index
                jump = np.where(here, np.abs(table[j][k] - table[j][k - 1]), jump)
                gain = np.where(here, np.sqrt(ug[j][k]), gain)
                index += 1
    return Table(value, error, jump, gain, first, choice)


def entry_moments(st: Stencil, levels: int, ratio: float, degree: int) -> np.ndarray:
    r"""Each extrapolated entry's error on the monomials :math:`s^k`, ``k = 0..degree``.

    Row ``e`` is the ``e``-th entry of the table (``T[1][1], T[2][1],
    T[2][2], T[3][1], ...``, as :attr:`Table.choice` numbers them) applied to
    the values :math:`f(x + s h) = s^k` at a step ``h = 1``, minus the
    derivative of :math:`s^k` at 0: the coefficient :math:`A_k` with which the
    term :math:`b_k s^k` of ``f``'s expansion in the offset ``s`` (units of
    ``h``) enters the entry's error, :math:`A_k b_k / h`. Zero (to rounding)
    for the degrees the entry is exact for.

    Examples
    --------
    >>> from nnnum.diff.stencils import entry_moments, stencil
    >>> a = entry_moments(stencil(2, "forward"), 2, 2.0, 4)
    >>> [round(float(v), 6) for v in a[0]]
    [0.0, 0.0, 0.0, 0.0, 1.0]
    """
    k = np.arange(degree + 1)
    t = np.asarray(st.offsets, dtype=np.float64)
    w = np.asarray(st.weights, dtype=np.float64)
    col = []
    for j in range(levels):
        s = t[:, None] / ratio**j
        d = (w[:, None] * s ** k[None, :]).sum(axis=0) + st.center_weight * (k == 0)
        col.append(d * ratio**j)
    table = [[c] for c in col]
    out = []
    for j in range(1, levels):
        for kk in range(1, j + 1):
            factor = ratio ** st.error_powers[kk - 1] - 1.0
            prev, coarse = table[j][kk - 1], table[j - 1][kk - 1]
            table[j].append(prev + (prev - coarse) / factor)
            out.append(table[j][kk] - (k == 1))
    return np.array(out).reshape(len(out), degree + 1)
