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
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import backends as _backend
from .._core.jit import is_jitted
from .._core.regions import REGIONS
from . import complex_step, elementwise
from .batched_gradient import batched_numerical_gradient
from .checks import check_x
from .engines import Options, Target, UnseenPerturbationWarning, loop, run, select
from .finish import DiffResult, differentiate, is_book_default
from .options import check_flag, check_options, check_parallel_applies, check_run
from .result import Method, full_result
from .steps import DEFAULT_H, check_finite

_F64 = np.dtype(np.float64)

__all__ = [
    "DiffResult",
    "Method",
    "UnseenPerturbationWarning",
    "numerical_diff",
    "numerical_gradient",
    "batched_numerical_gradient",
]


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
        box = float if type(x) is not np.float64 else np.float64
        d = elementwise.book_scalar(f, float(x), DEFAULT_H if h is None else h, box)
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
        return complex_step.derivative(f, xa.astype(np.float64), hv, full_output)
    if is_book_default(st, levels) and hv != "auto" and not full_output:
        return elementwise.book_array(f, xa, float(hv))
    shape = xa.shape
    res = differentiate(
        xa.reshape(-1),
        shape,
        hv,
        st,
        levels,
        lambda points, labels: elementwise.rows(f, shape, points, labels),
        lambda: elementwise.at_x(f, xa),
        estimate=full_output,
    )
    shaped = res.df.reshape(xa.shape)
    df: Any = float(shaped) if shaped.ndim == 0 else shaped
    if not full_output:
        return df
    res.n = 1  # each call of f evaluates every element at once
    res.error = res.error.reshape(xa.shape)
    out: Any = full_result(res, df, st)
    return out if xa.ndim else dataclasses.replace(out, error=float(res.error))


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
        its own copy of ``x`` (in the default call on a C-ordered ``x`` of 1 MiB
        or more, the first thread perturbs ``x`` itself, in place and restored:
        the gradient plus one copy of ``x`` per further thread in memory, and a
        large ``x`` runs on fewer threads, so that the copies beyond the first
        take at most ``NNNUM_COPY_BUDGET_MIB``, 64 MiB by default; there, as
        with a plain Python ``f``, an ``f`` that writes into its argument writes
        into ``x``).
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
        For a jitted ``f``: run the ``prange`` kernel (``None``, the default,
        or ``True``) or its serial twin (``False``); with
        ``NNNUM_PARALLEL_AFTER_S`` > 0, ``None`` starts on the serial kernel
        (see the speed guide's First runs). The results are
        bit-identical either way, and for any number of threads, for an ``f``
        without side effects (each chunk of elements evaluates ``f`` on its own
        copy of ``x``). A jitted ``f`` that runs
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
    full_output, batched, parallel, workers, progress = check_run(
        full_output, batched, parallel, workers, progress, is_complex=is_complex
    )
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
        return complex_step.gradient(f, arr, fx, hv, be, full_output, parallel)
    shape = arr.shape
    target = Target(x, fx, arr, shape, copied=not isinstance(x, np.ndarray))
    options = Options(parallel=parallel, workers=workers, progress=progress, backend=be)
    out = run(select(f, target, options), f, target, options, hv, st, levels, full_output)
    df = out.df.reshape(shape).astype(arr.dtype, copy=False)
    if not full_output:
        return df
    out.error = out.error.reshape(shape)
    return full_result(out, df, st)


def _book_default(f: Any, x: np.ndarray, h: float) -> np.ndarray | None:
    """The default call in one pass (a kernel for a jitted ``f``), or None for the general path.

    Only for the case whose every check is cheap to make here: a writable, at least
    1-d float32/float64 ``x`` of native byte order, a finite ``h > 0``, a callable
    ``f`` on a host backend. Anything unusual (and every error and warning) is left
    to the general path, which gives the same result.
    The chapter's own case (a plain ``f``, a few float64 elements) is tested first.
    """
    dt = x.dtype
    if not (
        (dt is _F64 or dt == np.float64 or dt == np.float32)
        and x.ndim > 0
        and 0.0 < h < math.inf
        and x.size > 0
        and callable(f)
    ):
        return None
    flags = x.flags
    if not flags.writeable or _backend.current().DEVICE:
        return None
    jitted = is_jitted(f)
    if not flags.c_contiguous:
        if dt.byteorder not in "=|":
            return None
        check_x(x)  # a broadcast or self-overlapping view is refused, as on the general path
    if jitted:
        if not _backend.current().JIT:
            return None
        from .engines import prange

        return prange.central2(f, x, h)
    entry = REGIONS.acquire_one(x)
    try:
        return loop.central2(f, x, h)
    finally:
        REGIONS.release_one(entry)
