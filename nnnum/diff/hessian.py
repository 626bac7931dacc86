r"""The Hessian of a scalar ``f``: from ``f`` alone, or as the Jacobian of a given gradient.

From ``f`` alone, each pair ``i <= j`` (every pair, or the pattern's) takes the
4-point mixed stencil over the steps actually taken,

.. math:: H_{ij} \approx \frac{f(x^{++}) - f(x^{+-}) - f(x^{-+}) + f(x^{--})}
          {(a_+ - a_-)(b_+ - b_-)}, \qquad
          H_{ii} \approx \frac{f(x + 2h e_i) - 2 f(x) + f(x - 2h e_i)}{(2h)^2}

(``x^{\pm\pm} = x + a_\pm e_i + b_\pm e_j``; the diagonal is the same stencil
at ``i = j``), or with ``method="complex"`` the complex step over a central
difference, :math:`\operatorname{Im}[f(x + i\eta e_i + b_+ e_j) - f(x + i\eta e_i
+ b_- e_j)] / (\eta (b_+ - b_-))`. Both fill ``H[i, j]`` and ``H[j, i]`` from one
value: exactly symmetric. Richardson levels divide the step by 2 (error powers
2, 4, 6, ...) through :func:`.stencils.richardson_table`, with the gradient's
estimate: the table's jump plus 3 sigma of ``f``'s rounding carried through.
With ``grad=``, the Hessian is the (coloured) :func:`numerical_jacobian` of
``grad``, symmetrised; its asymmetry is added to the error estimate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .checks import NonFiniteError
from .estimate import OK, SAFETY, UNRESOLVED, _inconsistent, _value_eps
from .finish import DiffResult
from .jacobian import _engine, _x_of, f_at, numerical_jacobian
from .options import check_engine, check_flag
from .perturb import Perturbations, check_finite_values, evaluate
from .stencils import RATIO, Stencil, richardson_table
from .steps import StepResolutionError, auto_step, check_h, where

__all__ = ["numerical_hessian", "numerical_hessian_diag"]

_POWERS = tuple(range(2, 26, 2))


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


def _auto_second(flat: np.ndarray, levels: int) -> np.ndarray:
    """The automatic step of every element for the second differences (:func:`_second_step`)."""
    rule, factor = _second_step(levels, float(np.finfo(flat.dtype).eps))
    return auto_step(flat, rule, 0, RATIO) * factor


def _pairs(n: int, sparsity: Any, diag_only: bool) -> tuple[np.ndarray, np.ndarray, Any]:
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


def _real_level(
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


def _complex_level(
    flat: np.ndarray, shape: tuple, i: np.ndarray, j: np.ndarray, h: np.ndarray, eta: np.ndarray
) -> tuple[Perturbations, Callable[[np.ndarray, float], tuple[np.ndarray, ...]]]:
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


def _hessian(
    f: Callable[[Any], Any],
    x: Any,
    h: Any,
    method: str,
    richardson: Any,
    full_output: bool,
    parallel: Any,
    batched: bool,
    workers: Any,
    progress: bool | None,
    sparsity: Any,
    diag_only: bool,
    who: str,
) -> Any:

    is_complex = isinstance(method, str) and method == "complex"
    if not is_complex and method != "central":
        raise ValueError(f"method must be 'central' or 'complex' for {who}, got {method!r}")
    if (
        isinstance(richardson, (bool, np.bool_))
        or not isinstance(richardson, (int, np.integer))
        or not 0 <= richardson <= 6
    ):
        raise ValueError(f"richardson must be an integer from 0 to 6, got {richardson!r}")
    levels = int(richardson) + 1
    hv = check_h("auto" if h is None else h, allow_auto=True)
    full_output, batched = check_flag(full_output, "full_output"), check_flag(batched, "batched")
    parallel = check_flag(parallel, "parallel", allow_none=True)
    progress = check_flag(progress, "progress", allow_none=True)
    check_engine(False, batched, parallel, workers, progress)
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    xa = _x_of(x, who)
    engine, options = _engine(f, xa, batched, parallel, workers, progress, who)
    ev: dict[str, Any] = dict(engine=engine, options=options)
    flat, shape, n = xa.reshape(-1), xa.shape, xa.size
    if is_complex:
        from . import complex_step as cs

        base = xa.astype(cs.complex_dtype(xa.dtype))
        fx = f_at(f, base, engine, True)
        if fx.shape != ():
            raise ValueError(f"{who}: f must return a scalar, got shape {fx.shape}")
        cs.check_real_at_x(fx, ())
        eta = cs.steps(flat, "auto")
        from .stencils import stencil

        h0 = auto_step(flat, stencil(2), levels - 1, RATIO) if hv == "auto" else np.full(n, hv)
    else:
        base = xa
        fx = f_at(f, xa, engine)
        if fx.shape != ():
            raise ValueError(
                f"{who}: f must return a scalar, got shape {fx.shape} (for a vector f, "
                "differentiate its components)"
            )
        if not np.isfinite(fx):
            raise NonFiniteError(f"f returned {fx!r} at x itself; the Hessian is undefined there")
        h0 = _auto_second(flat, levels) if hv == "auto" else np.full(n, hv)
    f0 = float(np.real(fx))
    i, j, pat = _pairs(n, sparsity, diag_only)
    estimates, units, fmaxs, steps = [], [], [], []
    nfev = 1
    grad = np.zeros(n)
    allv = []
    for lev in range(levels):
        hl = h0 / RATIO**lev
        if is_complex:
            pert, combine = _complex_level(flat, shape, i, j, hl, eta)
        else:
            pert, combine = _real_level(flat, shape, i, j, hl)
        F = evaluate(f, base, pert, (), **ev)
        check_finite_values(F, pert, ())
        nfev += pert.count
        v, unit, fmax, g = combine(F, f0)
        if lev == 0:
            grad = g
        allv.append(np.real(F[:, 0]))
        estimates.append(v)
        units.append(unit)
        fmaxs.append(fmax)
        steps.append(hl[i] * hl[j])
    eps = _value_eps(np.concatenate(allv)) if not is_complex else float(np.finfo(xa.dtype).eps)
    xabs = np.abs(flat.astype(np.float64))
    arg = xabs[i] * np.abs(grad[i]) + xabs[j] * np.abs(grad[j])
    sig = [eps * (fm + arg) for fm in fmaxs]
    noise = [s * u for s, u in zip(sig, units, strict=True)]
    tab = richardson_table(estimates, RATIO, _POWERS, noise, units)
    H = tab.value
    if not np.isfinite(H).all():
        k = int(np.flatnonzero(~np.isfinite(H))[0])
        raise NonFiniteError(
            f"the differences of f overflow at the pair {where(shape, int(i[k]))}, "
            f"{where(shape, int(j[k]))}: |f| is too large"
        )
    eps_x = float(np.finfo(xa.dtype).eps)
    sigma = np.maximum.reduce(sig)
    if levels == 1:
        error = tab.error + 0.5 * eps_x * np.abs(H)
        status = np.zeros(H.size, np.int8)
    else:
        error = tab.jump + SAFETY * sigma * tab.gain + 0.5 * eps_x * np.abs(H)
        status = np.full(H.size, OK, np.int8)
        status[_inconsistent(tab.first, sigma, np.stack(steps))] = UNRESOLVED
        status[~np.isfinite(error)] = UNRESOLVED
    step = np.stack([h0 / RATIO**lev for lev in range(levels)]).reshape((levels,) + shape)
    if diag_only:
        df = H.reshape(shape).astype(xa.dtype, copy=False)
        if not full_output:
            return df
        return DiffResult(
            df, error.reshape(shape), nfev, step, 2 * levels, method, status.reshape(shape)
        )
    df, err, stat = (
        _symmetric(a, i, j, n, pat, shape, dt)
        for a, dt in ((H, xa.dtype), (error, np.float64), (status, np.int8))
    )
    if not full_output:
        return df
    if pat is not None and pat.sparse:
        err, stat = err.data, stat.data
    return DiffResult(df, err, nfev, step, 2 * levels, method, stat)


def _symmetric(
    v: np.ndarray, i: np.ndarray, j: np.ndarray, n: int, pat: Any, shape: tuple, dtype: Any
) -> Any:
    if pat is not None and pat.sparse:
        from scipy import sparse

        off = i != j
        rows = np.concatenate([i, j[off]])
        cols = np.concatenate([j, i[off]])
        data = np.concatenate([v, v[off]]).astype(dtype, copy=False)
        out = sparse.coo_array((data, (rows, cols)), shape=(n, n)).tocsr()
        out.sort_indices()
        return out
    H = np.zeros((n, n), dtype=dtype)
    H[i, j] = v
    H[j, i] = v
    return H.reshape(shape + shape)


def numerical_hessian(
    f: Callable[[Any], Any],
    x: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    h: float | Literal["auto"] | None = None,
    method: Literal["central", "complex"] = "central",
    richardson: int = 0,
    full_output: bool = False,
    parallel: bool | None = None,
    batched: bool = False,
    workers: Any = None,
    progress: bool | None = None,
    sparsity: Any = None,
) -> Any:
    r"""Hessian of a scalar ``f`` by finite differences (or of a given gradient).

    Parameters
    ----------
    f : callable
        ``f(x) -> float`` (``batched=True``: ``(B, *x.shape) -> (B,)``).
    x : array_like
        Float32 or float64 point; never modified (``f`` gets perturbed copies).
    grad : callable, optional
        The analytic gradient ``grad(x) -> array shaped like x``: the Hessian
        is then its :func:`numerical_jacobian` (``2 n`` evaluations of ``grad``,
        or 2 per colour with ``sparsity=``), symmetrised; ``f`` is not called.
    h : float or "auto", keyword-only
        Default ``"auto"``: per element :math:`\epsilon^{1/4} \max(1, \dots)` as
        the gradient's rule (:math:`\epsilon^{1/6}` with Richardson), a power of
        two. The complex step's real step (its imaginary one is
        :math:`\epsilon^2 \max(|x_i|, 1)`) follows the first-derivative rule.
    method : {"central", "complex"}
        The 4-point mixed stencil, or the complex step over a central
        difference (``f`` must compute in complex arithmetic).
    richardson : int
        Levels of extrapolation (steps ``h/2``, ...): each raises the order by 2
        and gives the error estimate (NaN without).
    full_output : bool
        A :class:`DiffResult` with the error estimate and ``status``.
    parallel, batched, workers, progress
        The engines, as for :func:`numerical_jacobian` (``workers``: any target
        :func:`numerical_gradient` takes, the complex step included).
    sparsity : array_like of bool or SciPy sparse, shape (n, n), optional
        Only the pattern's pairs are evaluated (4 evaluations per pair
        ``i < j``, 2 per diagonal element, per level): about ``6 n`` for a
        tridiagonal Hessian. A SciPy pattern gives a ``csr_array``.

    Returns
    -------
    ndarray, csr_array or DiffResult
        Shape ``x.shape + x.shape``, exactly symmetric.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> f = lambda x: x[0] ** 2 * x[1] + np.exp(x[1])
    >>> H = nnnum.numerical_hessian(f, np.array([1.0, 0.5]), richardson=1)
    >>> bool(np.allclose(H, [[1.0, 2.0], [2.0, np.exp(0.5)]], atol=1e-8)), bool((H == H.T).all())
    (True, True)
    >>> H = nnnum.numerical_hessian(f, np.array([1.0, 0.5]), method="complex")
    >>> bool(np.allclose(H, [[1.0, 2.0], [2.0, np.exp(0.5)]], atol=1e-8))
    True
    """
    if grad is not None:
        return _from_gradient(
            grad,
            x,
            h,
            method,
            richardson,
            full_output,
            parallel,
            batched,
            workers,
            progress,
            sparsity,
        )
    return _hessian(
        f,
        x,
        h,
        method,
        richardson,
        full_output,
        parallel,
        batched,
        workers,
        progress,
        sparsity,
        False,
        "numerical_hessian",
    )


def numerical_hessian_diag(
    f: Callable[[Any], Any],
    x: Any,
    *,
    h: float | Literal["auto"] | None = None,
    method: Literal["central", "complex"] = "central",
    richardson: int = 0,
    full_output: bool = False,
    parallel: bool | None = None,
    batched: bool = False,
    workers: Any = None,
    progress: bool | None = None,
) -> Any:
    """The diagonal of the Hessian, shaped like ``x``: ``2 n + 1`` evaluations per level.

    Options as for :func:`numerical_hessian`.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> d = nnnum.numerical_hessian_diag(lambda x: np.sum(np.sin(x)), np.array([0.5, 1.0]))
    >>> bool(np.allclose(d, -np.sin([0.5, 1.0]), atol=1e-7))
    True
    """
    return _hessian(
        f,
        x,
        h,
        method,
        richardson,
        full_output,
        parallel,
        batched,
        workers,
        progress,
        None,
        True,
        "numerical_hessian_diag",
    )


def _from_gradient(
    grad: Any,
    x: Any,
    h: Any,
    method: Any,
    richardson: Any,
    full_output: bool,
    parallel: Any,
    batched: bool,
    workers: Any,
    progress: bool | None,
    sparsity: Any,
) -> Any:
    r = numerical_jacobian(
        grad,
        x,
        h=h,
        method=method,
        richardson=richardson,
        full_output=True,
        parallel=parallel,
        batched=batched,
        workers=workers,
        progress=progress,
        sparsity=sparsity,
    )
    J = r.df
    if hasattr(J, "tocsr"):
        Hs = ((J + J.T) * 0.5).tocsr()
        Hs.sort_indices()
        if not full_output:
            return Hs
        return DiffResult(Hs, np.asarray(r.error), r.nfev, r.step, r.order, r.method, r.status)
    n = int(np.prod(np.shape(x)))
    shape = tuple(J.shape[: J.ndim // 2])
    if J.shape != shape + shape:
        raise ValueError(
            f"grad must return an array shaped like x {shape}, got {J.shape[: -len(shape)]}"
        )
    J2 = J.reshape(n, n)
    H = ((J2 + J2.T) * 0.5).reshape(J.shape)
    if not full_output:
        return H
    e = np.asarray(r.error).reshape(n, n)
    err = ((e + e.T) * 0.5 + np.abs(J2 - J2.T) * 0.5).reshape(J.shape)
    s = np.asarray(r.status).reshape(n, n)
    return DiffResult(
        H, err, r.nfev, r.step, r.order, r.method, np.maximum(s, s.T).reshape(J.shape)
    )
