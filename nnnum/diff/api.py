"""The public differentiation API: validate, plan the perturbations, pick an engine, finish.

``numerical_diff``, ``numerical_gradient`` (and the chapter notes' ``_1``/``_2``,
the book's ``_2d``), ``batched_numerical_gradient``. Every one takes a stencil
(``order``, ``method``), optional Richardson extrapolation (``richardson``)
with an error estimate (``full_output``), and an absolute or automatic step.
The default call is the book's two-point central difference, bit-identical to
nnnum 0.1, divided by the step actually taken.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import backends as _backend
from .._core.jit import is_jitted
from .._core.regions import REGIONS
from .checks import (
    NonFiniteError,
    check_real_dtype,
    check_x,
    require_ndim,
    scalar_result,
)
from .finish import DiffResult, Outcome, differentiate, is_book_default
from .options import check_engine, check_flag, check_options, check_parallel_applies
from .stencils import Stencil
from .steps import DEFAULT_H, StepResolutionError, check_finite, remedy, where

__all__ = [
    "DiffResult",
    "UnseenPerturbationWarning",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
    "batched_numerical_gradient",
]

Method = Literal["central", "forward", "backward", "complex"]


# ----------------------------------------------------------------- option checks
def _result(out: Outcome, df: Any, st: Stencil, full_output: bool) -> Any:
    if not full_output:
        return df
    return DiffResult(
        df=df,
        error=out.error,
        nfev=out.nfev,
        step=out.step,
        order=out.order,
        method=st.kind,
        status=np.reshape(out.status, np.shape(out.error)),
    )


# ------------------------------------------------------------------ public API
def numerical_diff(
    f: Callable[[Any], Any],
    x: Any,
    *,
    h: float | Literal["auto"] | None = None,
    order: int = 2,
    method: Method = "central",
    richardson: int = 0,
    full_output: bool = False,
) -> Any:
    r"""Derivative of a function of one variable by finite differences.

    The default is the book's central difference, divided by the step
    actually taken:

    .. math:: f'(x) \approx \frac{f(x + h) - f(x - h)}{(x + h) - (x - h)}

    Parameters
    ----------
    f : callable
        ``f(x)``; for an array ``x`` it must work elementwise.
    x : float or array_like
        Where to differentiate (computed in float64).
    h : float or "auto", keyword-only
        Absolute step (default the book's ``1e-4``; ``"auto"`` for
        ``method="complex"``), or ``"auto"``: per element
        :math:`\epsilon^{1/(q+1)} \max(1, \log(e - 1 + |x|), |x|^{1/(q+1)})` for
        a result of order ``q`` (growing slowly with ``|x|``, so an ``f`` that
        oscillates on a scale of 1 stays resolved), rounded to a power of two
        (complex step: :math:`\epsilon^2 \max(|x|, 1)`); see
        :func:`nnnum.diff.steps.auto_step`.
    order : int, keyword-only
        Order of the stencil's truncation error: 2, 4, 6 or 8 for
        ``"central"`` (``order`` evaluations), 1 to 6 for one-sided stencils
        (``order`` evaluations plus ``f(x)``).
    method : {"central", "forward", "backward", "complex"}, keyword-only
        One-sided stencils evaluate ``f`` on one side of ``x`` only.
        ``"complex"``: :math:`\operatorname{Im} f(x + ih) / h`, accurate to
        rounding for an analytic ``f`` written for complex input (checked at
        ``2h``, and ``4h`` where the two disagree: a branch point is refused).
    richardson : int, keyword-only
        Extrapolation levels: the stencil is also evaluated at ``h/2``, ...,
        ``h/2**richardson`` (each level costs the stencil's evaluations again)
        and the estimates are combined to cancel their leading error terms.
    full_output : bool, keyword-only
        Return a :class:`DiffResult` with the error estimate, the number of
        evaluations and the steps.

    Returns
    -------
    float, ndarray or DiffResult

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> round(nnnum.numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, 5.0), 9)
    0.2
    >>> r = nnnum.numerical_diff(np.exp, 1.0, h="auto", order=4, richardson=2, full_output=True)
    >>> bool(abs(r.df - np.e) <= r.error < 1e-10), r.nfev
    (True, 14)
    >>> nnnum.numerical_diff(np.exp, 1.0, method="complex") == np.e
    True
    """
    if (
        (type(x) is float or type(x) is int or type(x) is np.float64)
        and (h is None or type(h) is float)
        and type(order) is int
        and order == 2
        and type(method) is str
        and method == "central"
        and type(richardson) is int
        and richardson == 0
        and full_output is False
        and callable(f)
    ):
        d = _book_scalar(f, float(x), DEFAULT_H if h is None else h)
        if d is not None:
            return d
    hv, st, levels, is_complex = check_options(h, order, method, richardson)
    full_output = check_flag(full_output, "full_output")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    # a consistent copy: another thread may be perturbing x in place (numerical_gradient)
    x0 = REGIONS.snapshot(x) if isinstance(x, np.ndarray) else np.asarray(x)
    if np.issubdtype(x0.dtype, np.complexfloating):
        raise TypeError(
            f"x is complex ({x0.dtype}); numerical_diff differentiates real functions of a "
            "real x: differentiate the real and imaginary parts separately"
        )
    if not (np.issubdtype(x0.dtype, np.number) or x0.dtype == np.bool_):
        raise TypeError(f"x must be a real number or array, got dtype {x0.dtype}")
    xa = np.asarray(x0, dtype=np.result_type(x0.dtype, np.float64))
    check_finite(xa.reshape(-1), xa.shape)  # before f sees a NaN or inf
    if is_complex:
        return _complex_diff(f, xa.astype(np.float64), hv, full_output)
    if is_book_default(st, levels) and hv != "auto" and not full_output:
        hf = float(hv)
        with np.errstate(invalid="ignore", over="ignore"):
            xp_, xm_ = xa + hf, xa - hf
            step = xp_ - xm_
        if np.any(step == 0):
            i = int(np.flatnonzero(step.reshape(-1) == 0)[0])
            raise StepResolutionError(
                f"h={hf!r} is below the resolution of {xa.dtype} at {where(xa.shape, i)} = "
                f"{float(xa.reshape(-1)[i])!r}: x + h == x - h. {remedy(xa.dtype)}"
            )
        if not np.isfinite(step).all():
            i = int(np.flatnonzero(~np.isfinite(step.reshape(-1)))[0])
            raise StepResolutionError(
                f"h={hf!r} is too large at {where(xa.shape, i)} = {float(xa.reshape(-1)[i])!r}: "
                "x + h overflows. Use a smaller h"
            )
        fp = _elementwise_values(f(xp_), xa.shape, "x + h")
        fm = _elementwise_values(f(xm_), xa.shape, "x - h")
        with np.errstate(invalid="ignore", over="ignore"):
            d = (fp - fm) / step  # NaN where x or f(x +- h) is not finite
        if not np.isfinite(d).all():
            _not_finite(xa, fp, fm)
        return float(d) if np.ndim(d) == 0 else d
    flat = xa.reshape(-1)

    def evaluate(points: np.ndarray, labels: list[str]) -> np.ndarray:
        out = np.empty(points.shape)
        for r in range(points.shape[0]):
            v = _elementwise_values(f(points[r].reshape(xa.shape)), xa.shape, f"x {labels[r]}")
            out[r] = v.reshape(-1)
        return out

    def f_at_x() -> Any:
        return _elementwise_values(f(xa), xa.shape, "x").reshape(-1)

    res = differentiate(flat, xa.shape, hv, st, levels, evaluate, f_at_x, estimate=full_output)
    shaped = res.df.reshape(xa.shape)
    df: Any = float(shaped) if shaped.ndim == 0 else shaped
    if not full_output:
        return df
    res.n = 1  # each call of f evaluates every element at once
    res.error = res.error.reshape(xa.shape)
    out = _result(res, df, st, True)
    return out if xa.ndim else dataclasses.replace(out, error=float(res.error))


def _book_scalar(f: Callable[[Any], Any], x: float, h: float) -> float | None:
    """The book's ``numerical_diff`` at one number in Python floats: the same bits as below.

    ``f`` gets NumPy float64 scalars, as on the general path; None, before
    ``f`` is called, where anything needs that path's checks (a step that
    rounds away or overflows, a non-finite ``x`` or ``h``).
    """
    if not (0.0 < h < math.inf and math.isfinite(x)):
        return None
    xp, xm = x + h, x - h
    step = xp - xm
    if not (step != 0.0 and math.isfinite(step)):
        return None
    a, b = f(_F64(xp)), f(_F64(xm))
    if a.__class__ is not float and a.__class__ is not _F64:
        a = float(_elementwise_values(a, (), "x + h"))
    if b.__class__ is not float and b.__class__ is not _F64:
        b = float(_elementwise_values(b, (), "x - h"))
    d = (float(a) - float(b)) / step
    if not math.isfinite(d):
        _not_finite(np.asarray(x), np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return d


_F64 = np.float64


def _not_finite(xa: np.ndarray, fp: np.ndarray, fm: np.ndarray) -> None:
    """The error for a non-finite central difference, naming the first element: one policy.

    ``numerical_diff`` refuses a non-finite ``x`` (ValueError) and NaN or inf
    from ``f`` (:class:`NonFiniteError`), as ``numerical_gradient`` does.
    """
    flat = xa.reshape(-1)
    check_finite(flat, xa.shape)
    for values, at in ((fp, "+ h"), (fm, "- h")):
        bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
        if bad.size:
            i = int(bad[0])
            raise NonFiniteError(
                f"f returned {values.reshape(-1)[i]!r} at {where(xa.shape, i)} {at}; "
                "the derivative is undefined there"
            )
    raise NonFiniteError("f(x + h) - f(x - h) overflows: |f| is too large")


def _complex_diff(f: Callable[[Any], Any], xa: np.ndarray, h: Any, full_output: bool) -> Any:
    """numerical_diff(..., method="complex"): ``Im f(x + ih) / h``, checked at ``2h``, ``4h``."""
    from . import complex_step

    check_finite(xa.reshape(-1), xa.shape)
    hs = complex_step.steps(xa.reshape(-1), h).reshape(xa.shape)
    im, calls = complex_step.elementwise(f, xa, hs)
    df, error = complex_step.finish(im, hs.reshape(-1), xa.shape, np.dtype(np.float64))
    out = float(df[0]) if xa.ndim == 0 else df.reshape(xa.shape)
    if not full_output:
        return out
    err: Any = float(error[0]) if xa.ndim == 0 else error.reshape(xa.shape)
    return DiffResult(df=out, error=err, nfev=calls, step=hs[None], order=2, method="complex")


def _elementwise_values(value: Any, shape: tuple[int, ...], where: str) -> np.ndarray:
    """``f``'s values at an array of points, checked: real numbers, one per element of x."""
    if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(
            f"f must return real numbers (one per element of x); it returned "
            f"{type(value).__name__} {value!r} at {where}"
        )
    arr = np.asarray(value)
    if arr.dtype == np.bool_ or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise TypeError(f"f must return real numbers; it returned dtype {arr.dtype} at {where}")
    if arr.shape != shape:
        raise ValueError(
            f"f must work elementwise: it returned shape {arr.shape} for x of shape {shape} "
            f"at {where} (for the gradient of a scalar f of an array, use numerical_gradient)"
        )
    return np.broadcast_to(arr.astype(np.float64), shape)


def numerical_gradient(
    f: Callable[[Any], Any],
    x: Any,
    *,
    h: float | Literal["auto"] | None = None,
    order: int = 2,
    method: Method = "central",
    richardson: int = 0,
    full_output: bool = False,
    parallel: bool | None = None,
    batched: bool = False,
    workers: Any = None,
    progress: bool | None = None,
) -> Any:
    r"""Finite-difference gradient of a scalar function with respect to an array.

    The default is the book's central difference for every element
    :math:`x_i`, divided by the step actually taken:

    .. math:: \frac{\partial f}{\partial x_i} \approx
              \frac{f(x + h e_i) - f(x - h e_i)}{(x_i + h) - (x_i - h)}

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. A plain Python function is called in a loop, with
        ``x`` perturbed **in place** one element at a time and restored, so the
        book's ``f = lambda w: net.loss(x, t)``, which ignores its argument and
        reads the parameters it closes over, works unchanged. A Numba-compiled
        ``f`` (``@numba.njit`` or :func:`nnnum.jit`) runs in a parallel
        ``prange`` kernel over the parameters instead, each thread perturbing
        its own copy of ``x``.
    x : ndarray or array_like
        Float32 or float64 parameters of any shape (0-d to n-d, C- or
        F-ordered, or a strided view).
    h : float or "auto", keyword-only
        Absolute step, default ``1e-4`` (``"auto"`` for ``method="complex"``);
        ``"auto"``: per element
        :math:`\epsilon^{1/(q+1)} \max(1, \log(e - 1 + |x_i|), |x_i|^{1/(q+1)})`
        for a result of order ``q`` (``\epsilon`` of ``x``'s dtype), rounded to
        a power of two; for the complex step :math:`\epsilon^2 \max(|x_i|, 1)`.
    order : int, keyword-only
        Truncation error :math:`O(h^{order})`: 2 (default), 4, 6 or 8 for a
        central stencil, which costs ``order`` evaluations of ``f`` per
        element; 1 to 6 for ``"forward"``/``"backward"`` (``order`` per element,
        plus one ``f(x)``).
    method : {"central", "forward", "backward", "complex"}, keyword-only
        One-sided stencils never evaluate ``f`` on the other side of ``x``
        (functions defined on one side only). ``"complex"``: the complex step
        :math:`\operatorname{Im} f(x + i h e_i) / h`, two evaluations per
        element (steps ``h`` and ``2h``; a third, ``4h``, where they disagree:
        branch points are refused) and accurate to rounding (no difference of
        nearby values), for
        an analytic ``f`` that computes in complex arithmetic (no ``abs``,
        comparisons, ``.real``; see :mod:`nnnum.diff.complex_step`). ``f``
        receives complex copies of ``x``, never ``x`` itself.
    richardson : int, keyword-only
        Richardson extrapolation levels (0 to 6): the stencil is also taken
        with steps ``h/2, ..., h/2**richardson`` (each level costs the
        stencil's evaluations again) and the estimates are combined, which
        raises the order by 2 per level (central) or 1 (one-sided) and gives
        an error estimate.
    full_output : bool, keyword-only
        Return a :class:`DiffResult` (gradient, error estimate per element,
        evaluations, steps) instead of the array.
    parallel : bool, optional
        For a jitted ``f``: run the ``prange`` kernel (default) or its serial
        twin. The results are bit-identical either way, and for any number of
        threads, for an ``f`` without side effects (each chunk of elements
        evaluates ``f`` on its own copy of ``x``). A jitted ``f`` that runs
        parallel regions of its own (compiled with ``parallel=True``, or
        calling such a function) is run from the serial kernel, with the same
        result: parallel regions cannot nest under Numba's ``workqueue`` layer.
    batched : bool
        ``f`` maps a batch ``(B, *x.shape)`` of parameter arrays to ``B``
        values: the perturbations are evaluated in batches (on the device
        under ``NNNUM_BACKEND=cupy``); see :func:`nnnum.batched_numerical_gradient`.
    workers : int, callable, Executor or dask.distributed.Client, optional
        Evaluate the perturbations on other processes or machines, for an
        expensive ``f``: an int (a local process pool of that size), a
        map-like callable (SciPy's convention, ``workers=pool.map``), a
        :class:`concurrent.futures.Executor`, or a Dask ``Client``. ``f`` and
        ``x`` travel together in one pickle, so the book's closure
        ``lambda w: net.loss(x, t)`` still reads the perturbed parameters. The
        result is bit-identical to the serial loop. See :mod:`nnnum.diff.engines.executors`.
    progress : bool, optional
        With ``workers``: a progress bar (tqdm) on a terminal (default), never
        (``False``) or always (``True``).

    Returns
    -------
    ndarray or DiffResult
        The gradient, with ``x``'s shape and floating dtype.

    Raises
    ------
    TypeError
        Integer ``x`` (perturbing it in place is impossible; the book's code
        returns ``[5000, 15000]`` for ``sum(x**2)`` at ``[1, 2]``), complex or
        object ``x``, an ``h`` that is not a number.
    ValueError
        Read-only, broadcast or self-overlapping ``x``; NaN or inf in ``x``;
        ``h <= 0``; an unknown ``order``/``method``; ``h`` below the resolution
        of ``x``'s dtype (:class:`StepResolutionError`); ``f`` returning a
        non-scalar.
    FloatingPointError
        ``f`` returned NaN or inf (the message names the element).

    Notes
    -----
    ``x`` is never left modified: after a return *or an exception* (also one
    raised by ``f`` mid-way) it is bit-for-bit what it was. Two threads
    differentiating with respect to overlapping memory take turns. The error
    of the default call is :math:`O(h^2)` plus rounding
    :math:`O(\epsilon |f| / h)`. When ``x + h`` rounds (float32, or large
    ``|x|``), the difference is taken over the step actually taken and a
    :class:`StepRoundingWarning` is issued; a step that rounds away raises.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    >>> np.allclose(g, [6.0, 8.0])
    True
    >>> r = nnnum.numerical_gradient(lambda x: np.sum(np.exp(x)), np.array([0.0, 1.0]),
    ...                              order=4, richardson=1, full_output=True)
    >>> bool(np.all(np.abs(r.df - np.exp([0.0, 1.0])) <= r.error)), r.nfev
    (True, 19)
    >>> g = nnnum.numerical_gradient(lambda x: np.sum(np.exp(x)), np.array([0.0, 1.0]),
    ...                              method="complex")
    >>> float(np.max(np.abs(g - np.exp([0.0, 1.0])))) < 1e-15
    True
    """
    if (
        type(x) is np.ndarray
        and (h is None or type(h) is float)
        and type(order) is int
        and order == 2
        and type(richardson) is int
        and richardson == 0
        and type(method) is str
        and method == "central"
        and full_output is False
        and batched is False
        and workers is None
        and parallel is None
        and progress is None
    ):
        df = _book_default(f, x, 1e-4 if h is None else h)
        if df is not None:
            return df
    hv, st, levels, is_complex = check_options(h, order, method, richardson)
    full_output, batched = check_flag(full_output, "full_output"), check_flag(batched, "batched")
    parallel = check_flag(parallel, "parallel", allow_none=True)
    progress = check_flag(progress, "progress", allow_none=True)
    check_engine(is_complex, batched, parallel, workers, progress)
    if batched:
        return batched_numerical_gradient(
            f, x, h=h, order=order, method=method, richardson=richardson, full_output=full_output
        )
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    check_parallel_applies(f, parallel)
    be = _backend.current()  # raises BackendUnavailableError where the backend cannot run
    if be.DEVICE:
        raise TypeError(
            "on the cupy backend numerical_gradient needs f in batched form: pass "
            "batched=True with f mapping a (B, *x.shape) array of parameters to B values, "
            "so the perturbations are evaluated on the device in batches"
        )
    arr, fx = check_x(x)
    if arr.size == 0:
        empty = np.zeros(arr.shape, dtype=arr.dtype)
        if not full_output:
            return empty
        if is_complex:
            return DiffResult(
                empty, np.zeros(arr.shape), 0, np.zeros((1,) + arr.shape), 2, "complex"
            )
        return DiffResult(empty, np.zeros(arr.shape), 0, np.array([]), st.order, st.kind)
    if is_complex:
        return _complex_gradient(f, arr, fx, hv, be, full_output, parallel)
    shape = arr.shape
    if workers is not None:
        from .engines import executors

        with REGIONS.hold(arr):  # x as it is now; the workers perturb their own copies
            flat = np.ascontiguousarray(arr).reshape(-1).copy()
        out = differentiate(
            flat,
            shape,
            hv,
            st,
            levels,
            lambda pts, labels: _warn_if_unseen(
                executors.evaluate(f, fx, arr, pts, labels, workers, progress=progress), x
            ),
            lambda: scalar_result(f(fx), "x"),
            estimate=full_output,
        )
    elif is_jitted(f) and arr.ndim > 0 and be.JIT:
        from .engines import prange

        with REGIONS.hold(arr):  # a consistent snapshot: no other thread's perturbation in it
            base = np.ascontiguousarray(arr).copy()
        scalar_result(prange.check_call(f, base), "x")  # checks the return type, compiles f
        out = differentiate(
            base.reshape(-1),
            shape,
            hv,
            st,
            levels,
            lambda pts, labels: _warn_if_unseen(prange.evaluate(f, base, pts, parallel), x),
            lambda: scalar_result(f(base), "x"),
            estimate=full_output,
        )
        out.extra += 1
    else:
        from .engines import loop

        with REGIONS.hold(arr):
            flat = arr.reshape(-1) if arr.flags.c_contiguous else arr.ravel()
            out = differentiate(
                flat,
                shape,
                hv,
                st,
                levels,
                lambda pts, labels: _warn_if_unseen(loop.evaluate(f, arr, fx, pts, labels), x),
                lambda: scalar_result(f(fx), "x"),
                estimate=full_output,
            )
    df = out.df.reshape(shape).astype(arr.dtype, copy=False)
    if not full_output:
        return df
    out.error = out.error.reshape(shape)
    return _result(out, df, st, True)


def _complex_gradient(
    f: Any, arr: np.ndarray, fx: Any, hv: Any, be: Any, full_output: bool, parallel: Any
) -> Any:
    """numerical_gradient(..., method="complex") on the checked, non-empty ``arr``."""
    from . import complex_step

    shape = arr.shape
    base = REGIONS.snapshot(arr)  # f gets complex copies: x itself is never written
    check_finite(base.reshape(-1), shape)
    hs = complex_step.steps(base.reshape(-1), hv)
    if is_jitted(f) and arr.ndim > 0 and be.JIT:
        from .engines import prange

        im = prange.complex_step(f, base, hs, parallel)
    else:
        subclass = type(fx) if isinstance(fx, np.ndarray) and type(fx) is not np.ndarray else None
        im = complex_step.loop(f, base, hs, subclass)  # np.matrix stays a matrix, as for "central"
    df, error = complex_step.finish(im, hs, shape, arr.dtype)
    out = df.reshape(shape).astype(arr.dtype, copy=False)
    if not full_output:
        return out
    return DiffResult(
        df=out,
        error=error.reshape(shape),
        nfev=complex_step.nfev(im),
        step=hs.reshape((1,) + shape),
        order=2,
        method="complex",
    )


def _book_default(f: Any, x: np.ndarray, h: float) -> np.ndarray | None:
    """The default call in one pass (a kernel for a jitted ``f``), or None for the general path.

    Only for the case whose every check is cheap to make here: a writable,
    at least 1-d float32/float64 ``x`` (C-ordered for a jitted ``f``), a
    finite ``h > 0``, a callable ``f`` on a host backend. Anything unusual (and every error and
    warning) is left to the general path, which gives the same result.
    """
    if not (
        x.ndim > 0
        and (x.dtype == np.float64 or x.dtype == np.float32)
        and x.flags.writeable
        and 0.0 < h < math.inf
        and x.size > 0
        and callable(f)
    ):
        return None
    be = _backend.current()
    if be.DEVICE:
        return None
    if not x.flags.c_contiguous:
        if is_jitted(f) or x.dtype.byteorder not in "=|":
            return None
        check_x(x)  # a broadcast or self-overlapping view is refused, as on the general path
    if is_jitted(f):
        if not be.JIT:
            return None
        from .engines import prange

        return prange.central2(f, REGIONS.snapshot(x), h)
    from .engines import loop

    with REGIONS.hold(x):
        return loop.central2(f, x, h)


class UnseenPerturbationWarning(RuntimeWarning):
    """``x`` was a list (copied into a new array) and ``f`` never saw the perturbations."""


def _warn_if_unseen(values: np.ndarray, x: Any) -> np.ndarray:
    if not isinstance(x, np.ndarray) and values.size > 1 and bool((values == values.flat[0]).all()):
        warnings.warn(
            "f returned the same value for every perturbation of x, and x is a "
            f"{type(x).__name__}, which numerical_gradient copies into a new array: an f that "
            "reads the parameters it closes over instead of its argument never sees that copy "
            "(the gradient is 0). Pass the NumPy array f reads, e.g. np.asarray(x, float)",
            UnseenPerturbationWarning,
            stacklevel=5,
        )
    return values


def numerical_gradient_1(f: Callable[[Any], Any], x: Any, **options: Any) -> Any:
    """:func:`numerical_gradient` for a 1-D ``x`` (the chapter notes' name).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient_1(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    >>> np.allclose(g, [6.0, 8.0])
    True
    """
    require_ndim(x, 1, "numerical_gradient_1")
    return numerical_gradient(f, x, **options)


def numerical_gradient_2(f: Callable[[Any], Any], x: Any, **options: Any) -> Any:
    """:func:`numerical_gradient` for a 2-D ``x``: one ``f`` of the whole matrix.

    Element by element, as the chapter notes use it for ``simpleNet``'s ``W``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient_2(lambda w: np.sum(w**2), np.ones((2, 3)))
    >>> np.allclose(g, 2.0)
    True
    """
    require_ndim(x, 2, "numerical_gradient_2")
    return numerical_gradient(f, x, **options)


def numerical_gradient_2d(f: Callable[[Any], Any], X: Any, **options: Any) -> Any:
    """The book's ``numerical_gradient_2d``: the gradient of ``f`` at each row of ``X``.

    For a 1-D ``X``, :func:`numerical_gradient`. For a 2-D ``X``, row ``i`` of
    the result is the gradient of ``f`` at the point ``X[i]`` (``f`` takes one
    row), as the book's ``gradient_2d.py`` draws a gradient field.

    Parameters
    ----------
    f : callable
        ``f(row) -> float``.
    X : ndarray, shape (n,) or (m, n)
        Float parameters, perturbed in place row by row and restored.
    **options
        ``h``, ``order``, ``method``, ``richardson`` as for
        :func:`numerical_gradient`.

    Returns
    -------
    ndarray
        Shaped like ``X``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> X = np.array([[1.0, 2.0], [3.0, -1.0]])
    >>> np.allclose(nnnum.numerical_gradient_2d(lambda x: np.sum(x**2), X), 2 * X)
    True
    """
    if options.get("full_output"):
        raise ValueError("numerical_gradient_2d returns the gradients only (no full_output)")
    if np.ndim(X) == 1:
        return numerical_gradient(f, X, **options)
    require_ndim(X, 2, "numerical_gradient_2d")
    arr, _ = check_x(X, "numerical_gradient_2d")
    grad = np.empty(arr.shape, dtype=arr.dtype)
    for i in range(arr.shape[0]):
        grad[i] = numerical_gradient(f, arr[i], **options)
    return grad


def batched_numerical_gradient(
    f: Callable[[Any], Any],
    x: Any,
    *,
    h: float | Literal["auto"] | None = None,
    chunk: int | None = None,
    order: int = 2,
    method: Method = "central",
    richardson: int = 0,
    full_output: bool = False,
) -> Any:
    """Finite-difference gradient with ``f`` evaluated on batches of perturbed ``x``.

    Parameters
    ----------
    f : callable
        ``f(X) -> values`` with ``X`` of shape ``(B, *x.shape)`` and ``values``
        of shape ``(B,)``: one value per perturbed copy of ``x``.
    x : array_like
        Float parameters of any shape (copied; never modified).
    h : float or "auto", keyword-only
        Step (see :func:`numerical_gradient`).
    chunk : int, optional
        Perturbations per call of ``f`` (default: bounded by free device memory,
        or 1 MiB of batch on the host: a NumPy ``f``'s temporaries stay in cache).
    order, method, richardson, full_output
        As for :func:`numerical_gradient`.

    Returns
    -------
    array or DiffResult
        The gradient, shaped like ``x``, in the backend's namespace.

    Examples
    --------
    >>> import numpy as np
    >>> from nnnum import batched_numerical_gradient
    >>> f = lambda X: (X ** 2).reshape(len(X), -1).sum(axis=1)
    >>> np.allclose(batched_numerical_gradient(f, np.array([3.0, 4.0])), [6.0, 8.0])
    True
    """
    from .engines import batched

    hv, st, levels, is_complex = check_options(h, order, method, richardson)
    full_output = check_flag(full_output, "full_output")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if chunk is not None and (
        isinstance(chunk, (bool, np.bool_)) or not isinstance(chunk, (int, np.integer)) or chunk < 1
    ):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    be = _backend.current()
    xp = be.xp
    # a consistent copy of a host array: another thread may be perturbing it in place
    xd = xp.asarray(REGIONS.snapshot(x) if isinstance(x, np.ndarray) else x)
    check_real_dtype(xd.dtype, "batched_numerical_gradient")
    if xd.dtype not in (np.float32, np.float64):
        xd = xd.astype(np.float64)
    host = np.asarray(be.to_host(xd)).reshape(-1)
    shape = tuple(xd.shape)
    if host.size == 0:
        return xp.zeros(shape, dtype=xd.dtype)
    check_finite(host, shape)

    if is_complex:
        from . import complex_step

        hs = complex_step.steps(host, hv)
        im = complex_step.batched(f, xd, hs, chunk, be)
        cdf, cerr = complex_step.finish(im, hs, shape, np.dtype(xd.dtype))
        df = xp.asarray(cdf.reshape(shape)).astype(xd.dtype, copy=False)
        if not full_output:
            return df
        return DiffResult(
            df, cerr.reshape(shape), complex_step.nfev(im), hs.reshape((1,) + shape), 2, "complex"
        )

    def evaluate(points: np.ndarray, labels: list[str]) -> np.ndarray:
        return batched.evaluate(f, xd.reshape(-1), shape, xp.asarray(points), chunk, be)

    def f_at_x() -> float:
        v = xp.asarray(f(xd.reshape((1,) + shape)))
        return float(be.to_host(v.reshape(-1))[0])

    out = differentiate(host, shape, hv, st, levels, evaluate, f_at_x, estimate=full_output)
    df = xp.asarray(out.df.reshape(shape)).astype(xd.dtype, copy=False)
    if not full_output:
        return df
    out.error = out.error.reshape(shape)
    return _result(out, df, st, True)
