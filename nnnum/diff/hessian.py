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

import math
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import numpy as np

from .checks import NonFiniteError
from .estimate import OK, SAFETY, UNRESOLVED, _inconsistent, _value_eps
from .finish import DiffResult
from .hessian_plan import POWERS, auto_second, complex_level, pairs, real_level
from .jacobian import _engine, _x_of, f_at, numerical_jacobian
from .options import Run, check_flag, check_levels, check_run
from .perturb import check_finite_values, evaluate
from .stencils import RATIO, richardson_table
from .steps import auto_step, check_h, where

__all__ = ["numerical_hessian", "numerical_hessian_diag"]


class _Checked(NamedTuple):
    """The checked options of a Hessian from ``f`` alone (:func:`_check`)."""

    method: str
    h: float | str
    levels: int
    is_complex: bool
    run: Run


def _check(
    h: Any,
    method: Any,
    richardson: Any,
    full_output: Any,
    parallel: Any,
    batched: Any,
    workers: Any,
    progress: Any,
    who: str,
) -> _Checked:
    """Every option, before any work: the method, the levels, the step, the engine options."""
    is_complex = isinstance(method, str) and method == "complex"
    if not is_complex and method != "central":
        raise ValueError(f"method must be 'central' or 'complex' for {who}, got {method!r}")
    levels = check_levels(richardson)
    hv = check_h("auto" if h is None else h, allow_auto=True)
    run = check_run(full_output, batched, parallel, workers, progress)
    return _Checked(str(method), hv, levels, is_complex, run)


def _hessian(
    f: Callable[[Any], Any], x: Any, opt: _Checked, sparsity: Any, diag_only: bool, who: str
) -> Any:
    """The Hessian (or its diagonal) of ``f`` at ``x``: every level's pairs, then the table."""
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    xa = _x_of(x, who)
    run = opt.run
    engine, options = _engine(f, xa, run.batched, run.parallel, run.workers, run.progress, who)
    ev: dict[str, Any] = dict(engine=engine, options=options)
    flat, shape = xa.reshape(-1), xa.shape
    base, f0, h0, eta = _at_x(f, xa, engine, opt, who)
    i, j, pat = pairs(xa.size, sparsity, diag_only)
    estimates, units, fmaxs, steps, allv = [], [], [], [], []
    nfev = 1
    grad = np.zeros(xa.size)
    for lev in range(opt.levels):
        hl = h0 / RATIO**lev
        if opt.is_complex:
            pert, combine = complex_level(flat, shape, i, j, hl, eta)
        else:
            pert, combine = real_level(flat, shape, i, j, hl)
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
    eps = float(np.finfo(xa.dtype).eps) if opt.is_complex else _value_eps(np.concatenate(allv))
    xabs = np.abs(flat.astype(np.float64))
    arg = xabs[i] * np.abs(grad[i]) + xabs[j] * np.abs(grad[j])
    sig = [eps * (fm + arg) for fm in fmaxs]
    noise = [s * u for s, u in zip(sig, units, strict=True)]
    tab = richardson_table(estimates, RATIO, POWERS, noise, units)
    H = tab.value
    if not np.isfinite(H).all():
        k = int(np.flatnonzero(~np.isfinite(H))[0])
        raise NonFiniteError(
            f"the differences of f overflow at the pair {where(shape, int(i[k]))}, "
            f"{where(shape, int(j[k]))}: |f| is too large"
        )
    error, status = _error(tab, H, np.maximum.reduce(sig), steps, opt.levels, xa.dtype)
    step = np.stack([h0 / RATIO**lev for lev in range(opt.levels)]).reshape((opt.levels,) + shape)
    result = (nfev, step, 2 * opt.levels, opt.method)
    if diag_only:
        df = H.reshape(shape).astype(xa.dtype, copy=False)
        if not run.full_output:
            return df
        return DiffResult(df, error.reshape(shape), *result, status.reshape(shape))
    df, err, stat = (
        _symmetric(a, i, j, xa.size, pat, shape, dt)
        for a, dt in ((H, xa.dtype), (error, np.float64), (status, np.int8))
    )
    if not run.full_output:
        return df
    if pat is not None and pat.sparse:
        err, stat = err.data, stat.data
    return DiffResult(df, err, *result, stat)


def _at_x(
    f: Any, xa: np.ndarray, engine: Any, opt: _Checked, who: str
) -> tuple[np.ndarray, float, np.ndarray, Any]:
    """``f`` at ``x`` checked (a finite real scalar), and the levels' first steps.

    Returns the array the perturbations start from (complex for the complex
    step), ``f(x)``, the real steps ``h0`` per element and the complex step's
    imaginary steps ``eta`` (None for the mixed stencil).
    """
    flat, n = xa.reshape(-1), xa.size
    if opt.is_complex:
        from . import complex_step as cs
        from .stencils import stencil

        base = xa.astype(cs.complex_dtype(xa.dtype))
        fx = f_at(f, base, engine, True)
        if fx.shape != ():
            raise ValueError(f"{who}: f must return a scalar, got shape {fx.shape}")
        cs.check_real_at_x(fx, ())
        eta = cs.steps(flat, "auto")
        h0 = (
            auto_step(flat, stencil(2), opt.levels - 1, RATIO)
            if opt.h == "auto"
            else np.full(n, opt.h)
        )
        return base, float(np.real(fx)), h0, eta
    fx = f_at(f, xa, engine)
    if fx.shape != ():
        raise ValueError(
            f"{who}: f must return a scalar, got shape {fx.shape} (for a vector f, "
            "differentiate its components)"
        )
    if not np.isfinite(fx):
        raise NonFiniteError(f"f returned {fx!r} at x itself; the Hessian is undefined there")
    h0 = auto_second(flat, opt.levels) if opt.h == "auto" else np.full(n, opt.h)
    return xa, float(np.real(fx)), h0, None


def _error(
    tab: Any, H: np.ndarray, sigma: np.ndarray, steps: list, levels: int, dtype: Any
) -> tuple[np.ndarray, np.ndarray]:
    """The error estimate and status of each pair: the gradient's rule (:mod:`.estimate`).

    One level: the table's own error (NaN: no estimate) plus the rounding of the
    result; more: the last jump, ``f``'s rounding carried through (``sigma``)
    times the table's gain, and the result's rounding; a pair whose levels
    disagree beyond rounding, or whose bound is not finite, is UNRESOLVED.
    """
    eps_x = float(np.finfo(dtype).eps)
    if levels == 1:
        return tab.error + 0.5 * eps_x * np.abs(H), np.zeros(H.size, np.int8)
    error = tab.jump + SAFETY * sigma * tab.gain + 0.5 * eps_x * np.abs(H)
    status = np.full(H.size, OK, np.int8)
    status[_inconsistent(tab.first, sigma, np.stack(steps))] = UNRESOLVED
    status[~np.isfinite(error)] = UNRESOLVED
    return error, status


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
            full_output,
            dict(
                h=h,
                method=method,
                richardson=richardson,
                parallel=parallel,
                batched=batched,
                workers=workers,
                progress=progress,
                sparsity=sparsity,
            ),
        )
    who = "numerical_hessian"
    opt = _check(h, method, richardson, full_output, parallel, batched, workers, progress, who)
    return _hessian(f, x, opt, sparsity, False, who)


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
    who = "numerical_hessian_diag"
    opt = _check(h, method, richardson, full_output, parallel, batched, workers, progress, who)
    return _hessian(f, x, opt, None, True, who)


def _from_gradient(grad: Any, x: Any, full_output: Any, options: dict[str, Any]) -> Any:
    """The Hessian as the symmetrised Jacobian of ``grad`` (which checks ``options``)."""
    full_output = check_flag(full_output, "full_output")
    r = numerical_jacobian(grad, x, full_output=True, **options)
    J = r.df
    if hasattr(J, "tocsr"):
        Hs = ((J + J.T) * 0.5).tocsr()
        Hs.sort_indices()
        if not full_output:
            return Hs
        return DiffResult(Hs, np.asarray(r.error), r.nfev, r.step, r.order, r.method, r.status)
    shape = tuple(np.shape(x))
    n = math.prod(shape)
    if J.shape != shape + shape:
        raise ValueError(
            f"grad must return an array shaped like x {shape}, got shape "
            f"{J.shape[: J.ndim - len(shape)]}"
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
