"""The complex-step Jacobian: one evaluation per colour, its second step checked at once.

:func:`complex_jacobian` is :func:`nnnum.numerical_jacobian`'s ``method="complex"``:
the colours at ``x + ih``, then one direction through every element at two scales
(whose values double exactly where ``f`` is analytic), the gradient's second and
third steps (:mod:`.complex_step`) only for the outputs where they do not, and the
finish in one compiled pass (:mod:`.complex_kernels`) when nothing needs them.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .. import backends as _backend
from . import complex_step as cs
from .jacobian_layout import JacobianPlan, gather
from .perturb import Perturbations, check_finite_values, evaluate, output_name
from .steps import where

__all__ = ["complex_jacobian"]


def complex_jacobian(
    f: Any,
    xa: np.ndarray,
    fx: np.ndarray | None,
    hv: Any,
    plan: JacobianPlan,
    ev: dict[str, Any],
    given: Any = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, tuple[int, ...]]:
    """The complex step per colour, its second step ``2h`` checked along one direction first.

    The gradient's rule steps every element by ``h`` and ``2h``
    (:mod:`.complex_step`); here the ``2h`` step of all colours is first replaced by
    two evaluations along one direction ``d = w * h`` through every element at
    once (``w`` fixed weights in [1, 2)): for an ``f`` analytic at ``x``,
    ``Im f(x + 2id) == 2 Im f(x + id)`` exactly (the imaginary parts of ``f``'s
    arithmetic scale by exactly 2), output by output. Where an output's two values
    do not double exactly (a branch point or a singularity near ``x``, a step
    large enough for a truncation error, a value that underflows, ``f`` not finite
    along ``d``), the colours of that output's nonzeros are stepped by ``2h``
    and the gradient's rule runs on them as it would have; elsewhere the steps are
    known to agree. The values and estimates are those of the per-colour rule;
    ``C + 2`` evaluations instead of ``2 C`` when nothing needs the second step.

    ``fx`` None (the batched engine with a known pattern): ``f(x)`` is the last row
    of the first batch, and its shape the output's (checked against the plan's:
    ``given`` is the caller's ``sparsity``, for the message). Returns the output's
    shape last.
    """
    shape = xa.shape
    flat = xa.reshape(-1)
    if fx is not None:
        cs.check_real_at_x(fx, fx.shape)
    hs = cs.steps(flat, hv)
    base = xa.astype(cs.complex_dtype(xa.dtype))
    cflat = base.reshape(-1)
    n, C = flat.size, plan.ncolours
    # rows: x + ih (per colour), then x + i t w h through every element for t = 1, 2
    # (written part by part: x + 0.0, the sum's real part, turns -0.0 into 0.0)
    points = np.empty((3, n), dtype=np.result_type(cflat.dtype, hs.dtype, np.complex64))
    points.real = flat + 0.0
    points.imag[0] = hs
    points.imag[1] = _direction(n) * hs
    points.imag[2] = 2.0 * points.imag[1]
    pert = _complex_sets(plan, points, shape, with_x=fx is None)
    if fx is None:  # values shaped (sets, *f(x).shape): f(x) is the last
        F = evaluate(f, base, pert, None, scratch=True, **ev)
        out_shape = F.shape[1:]
        plan.check_shape(F[-1].size, plan.shape[1], given)
        F = F.reshape(F.shape[0], -1)
        nfev = pert.count
    else:
        out_shape = fx.shape
        F = evaluate(f, base, pert, out_shape, scratch=True, **ev)  # read before f's next call
        nfev = 1 + pert.count
    status = np.zeros(plan.nnz, np.int8)
    step = hs.reshape((1,) + shape)
    if _backend.current().JIT:  # one compiled pass when nothing needs a second step
        done = _colour_steps(plan, F, hs, np.dtype(xa.dtype), fx is None)
        if done is not None:
            return done[0], done[1], status, step, nfev, out_shape
    if fx is None:  # f at x itself: real and finite, else the error that says so
        cs.check_real_at_x(F[-1].reshape(out_shape), out_shape)
        F = F[:-1]
    check_finite_values(F[:C], pert, out_shape)
    im0 = gather(plan, F[:C], 1).imag[0] if plan.dense else plan.read_imag(F[:C], 1)[0]
    hcols = hs.take(plan.elem)
    with np.errstate(invalid="ignore", over="ignore"):
        agree = F[C + 1].imag == 2.0 * F[C].imag  # NaN or inf: not known to agree
        if agree.all():  # every D(2h) == D(h): no suspect, the rounding is the estimate
            df = im0 / hcols
            if np.isfinite(df).all():
                err = cs.rounding(df, hcols, np.dtype(xa.dtype))
                return df, err, status, step, nfev, out_shape
    im = np.empty((3, plan.nnz))
    im[0] = im0
    im[2] = np.nan
    np.multiply(im0, 2.0, out=im[1])  # D(2h) == D(h) where the direction agrees
    if not agree.all():
        nz = np.flatnonzero(~agree[plan.out])  # the nonzeros of the outputs that disagree
        colours = np.unique(plan.colour_of(nz))
        two = _colour_sets(plan, colours, cflat, 2.0 * hs, shape, "+ 2ih")
        F2 = evaluate(f, base, two, out_shape, **ev)
        check_finite_values(F2, two, out_shape)
        nfev += two.count
        stepped = np.flatnonzero(np.isin(plan.colour_of(np.arange(plan.nnz)), colours))
        row = np.searchsorted(colours, plan.colour_of(stepped))
        im[1, stepped] = F2.imag[row, plan.out[stepped]]
    sus = cs.suspects(im, hcols, xa.dtype)
    if sus.size:
        elems = np.unique(plan.elem[sus])
        one = Perturbations(
            np.arange(elems.size + 1, dtype=np.int64),
            elems,
            cflat[elems] + 1j * (cs.MULTIPLES[2] * hs[elems]),
            lambda p: f"{where(shape, int(elems[p]))} + 4ih",
        )
        F4 = evaluate(f, base, one, out_shape, **ev)
        nfev += one.count
        pos = np.searchsorted(elems, plan.elem[sus])
        im[2, sus] = F4.imag[pos, plan.out[sus]]

    def name(j: int) -> str:  # nonzero j: output and element
        out = output_name(int(plan.out[j]), out_shape)
        return f"{where(shape, int(plan.elem[j]))} (the derivative of {out})"

    df, err = cs.finish(im, hcols, (plan.nnz,), np.dtype(xa.dtype), name)
    return df, err, status, step, nfev, out_shape


def _colour_steps(
    plan: JacobianPlan, F: np.ndarray, hs: np.ndarray, dtype: np.dtype, with_x: bool
) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`.complex_kernels.colour_steps`: ``(df, err)``, or None where NumPy takes over.

    ``with_x``: ``F``'s last row is ``f(x)`` itself, checked real and finite there.
    """
    ck = _complex_kernels()
    nnz, n = plan.nnz, plan.shape[1]
    df, err = np.empty(nnz), np.empty(nnz)
    gather = _NO_GATHER if plan.dense else plan.layout(1)[3]
    elem = _NO_GATHER if plan.dense else plan.elem
    fi = np.finfo(dtype)
    why = ck.colour_steps(
        F,
        plan.ncolours,
        F.shape[0] - 1 if with_x else -1,
        gather,
        n if plan.dense else 0,
        hs,
        elem,
        2.0 * float(fi.eps),
        float(fi.smallest_subnormal),
        df,
        err,
    )
    return (df, err) if why == ck.DONE else None


@functools.cache
def _complex_kernels() -> Any:
    """:mod:`.complex_kernels`, imported on first use (its kernel compiles or loads then)."""
    from . import complex_kernels

    return complex_kernels


_NO_GATHER = np.zeros(0, dtype=np.int64)
_NO_GATHER.flags.writeable = False


@functools.lru_cache(maxsize=8)
def _direction(n: int) -> np.ndarray:
    """Fixed weights in [1, 2) of the complex step's check direction (golden-ratio sequence).

    Distinct weights keep the nonlinear parts of different elements from cancelling
    (``sqrt(x_i) - sqrt(x_j)`` with both at 0 doubles exactly along equal weights).
    """
    w = np.arange(n, dtype=np.float64)
    w *= 0.6180339887498949
    np.modf(w, out=(w, np.empty_like(w)))
    w += 1.0
    w.flags.writeable = False
    return w


def _complex_sets(
    plan: JacobianPlan, points: np.ndarray, shape: tuple, with_x: bool = False
) -> Perturbations:
    """Colour ``c`` at ``points[0]`` (sets ``0..C-1``), then every element at rows 1 and 2.

    ``with_x``: one more set, empty (``f`` at ``x`` itself).
    """
    C, n = plan.ncolours, plan.shape[1]
    cache = plan.__dict__.setdefault("_layouts", {})
    hit = cache.get(("complex", with_x))
    if hit is None:
        ptr, idx, scatter, _ = plan.layout(1)
        every = np.arange(n, dtype=np.int64)
        end = int(ptr[-1])
        ends = [end + n, end + 2 * n] + ([end + 2 * n] if with_x else [])
        hit = (
            np.concatenate([ptr, ends]).astype(np.int64),
            np.concatenate([idx, every, every]),
            np.concatenate([scatter, C * n + every, (C + 1) * n + every]),
        )
        for a in hit:
            a.flags.writeable = False
        cache[("complex", with_x)] = hit
    ptr, idx, scatter = hit
    val = np.concatenate([points[0].take(plan.members), points[1], points[2]])

    def label(p: int) -> str:
        if p == C + 2:
            return "x"
        if p >= C:
            t = "" if p == C else "2"
            return f"x + {t}i w h (every element at once: the check of the second step)"
        return plan.colour_name(p, shape, "+ ih")

    return Perturbations(ptr, idx, val, label, scatter)


def _colour_sets(
    plan: JacobianPlan,
    colours: np.ndarray,
    cflat: np.ndarray,
    steps: np.ndarray,
    shape: tuple,
    what: str,
) -> Perturbations:
    """The ``colours`` (sorted), each one set: its elements at ``x + i steps``."""
    lo, hi = plan.member_ptr[colours], plan.member_ptr[colours + 1]
    counts = hi - lo
    ptr = np.zeros(colours.size + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    starts = np.repeat(lo - ptr[:-1], counts)
    idx = plan.members[starts + np.arange(int(ptr[-1]))]
    val = cflat[idx] + 1j * steps[idx]

    def label(p: int) -> str:
        return plan.colour_name(int(colours[p]), shape, what)

    return Perturbations(ptr, idx, val.astype(cflat.dtype), label)
