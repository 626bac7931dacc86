r"""The Jacobian of a vector-valued ``f``, dense or with a known sparsity pattern.

Built on the gradient's pieces, not beside them: every element ``J[k, i]`` is
one column of :func:`.finish.differentiate` (``x_i`` perturbed, ``f_k``'s values),
so the stencils, Richardson, the step rule (``h="auto"``, the step actually
taken), the error estimate and ``status`` are the gradient's own. What is new
is the plan: one evaluation of ``f`` perturbs a whole *colour* of elements
(:mod:`.colouring`; every element its own colour when the Jacobian is dense),
and the engines of :mod:`.perturb` evaluate those sets, ``f`` returning an array.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import backends as _backend
from .._core.regions import REGIONS
from . import complex_step as cs
from . import engines
from .checks import NonFiniteError, check_real_dtype
from .colouring import as_pattern
from .engines import Options, Target, select
from .finish import DiffResult, is_book_default
from .jacobian_complex import complex_jacobian
from .jacobian_layout import JacobianPlan, dense_plan, jacobian_plan
from .options import check_options, check_run
from .perturb import Perturbations, check_finite_values, evaluate, output_name, values_of
from .steps import StepRoundingWarning, auto_step, check_finite, make_plan, where
from .vector_finish import Columns, differentiate_columns

__all__ = ["JacobianPlan", "jacobian_plan", "numerical_jacobian"]

Method = Literal["central", "forward", "backward", "complex"]


def _x_of(x: Any, who: str) -> np.ndarray:
    """A private float32/float64 copy of ``x`` (C-ordered), checked finite."""
    if hasattr(x, "__cuda_array_interface__"):
        raise TypeError(f"x is a GPU array; {who} runs on the host: pass a NumPy array")
    if x is None:
        raise TypeError(f"x is None; {who} needs a real number or array")
    private = isinstance(x, np.ndarray)  # the snapshot is a C-ordered copy of its own
    src = REGIONS.snapshot(x) if private else np.asarray(x)
    check_real_dtype(src.dtype, who)
    dt = src.dtype if src.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    xa = src if private and dt is src.dtype else np.array(src, dtype=dt, order="C", copy=True)
    check_finite(xa.reshape(-1), xa.shape)
    return xa


def _engine(
    f: Any,
    xa: np.ndarray,
    batched: bool,
    parallel: bool | None,
    workers: Any,
    progress: bool | None,
    who: str,
) -> tuple[Any, Options]:
    """The engine of the registry that runs ``f`` on sets of perturbations, and its options."""
    be = _backend.current()
    if be.DEVICE and not batched:
        raise TypeError(
            "on the cupy backend the Jacobian and Hessian run on the host: pass batched=True "
            "with a NumPy f, or switch to a CPU backend"
        )
    options = Options(
        parallel=parallel,
        workers=workers,
        progress=progress,
        batched=batched,
        backend=be,
        desc=who,
    )
    return select(f, Target(xa, xa, xa, xa.shape), options), options


def f_at(f: Any, xa: np.ndarray, engine: Any, complex_ok: bool = False) -> np.ndarray:
    """``f(x)`` as an array (its shape is the output's), through the engine's calling form."""
    if engine is engines.batched:
        v = f(xa[None])
        arr = np.asarray(v if not hasattr(v, "get") else v.get())
        if arr.ndim < 1 or arr.shape[0] != 1:
            raise ValueError(
                "a batched f must return one value of f per parameter copy, shape "
                f"(B, ...); for a batch of 1 it returned shape {arr.shape}"
            )
        value = arr[0]
    elif engine is engines.prange:
        value = engines.prange.check_call(f, xa)
    else:
        value = f(xa.copy())
    arr = np.asarray(value if not hasattr(value, "get") else value.get())
    values_of(arr, arr.shape, "x", complex_ok)  # numbers
    if complex_ok and arr.dtype.kind != "c":  # the complex step: f dropped the derivative
        raise cs.dropped_imaginary(f"dtype {arr.dtype}", "x (unperturbed, complex)")
    return arr


def _perturbations(
    plan: JacobianPlan,
    points: np.ndarray,
    labels: list[str],
    shape: tuple[int, ...],
    per_element: bool = False,
) -> Perturbations:
    """Row ``r`` of ``points`` and colour ``c``: colour ``c``'s elements at their points."""
    rows, C = points.shape[0], plan.ncolours
    members = plan.members
    ptr, idx, scatter, _ = plan.layout(rows)
    # take along an axis: ~7x faster than the fancy index points[:, members]
    val = points.take(members if per_element else plan.rep[members], axis=1).reshape(-1)

    def label(p: int) -> str:
        r, c = divmod(p, C)
        return plan.colour_name(c, shape, labels[r])

    return Perturbations(ptr, idx, val, label, scatter)


def numerical_jacobian(
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
    sparsity: Any = None,
) -> Any:
    r"""Finite-difference Jacobian of ``f`` (an array of any shape) with respect to ``x``.

    Element ``J[k, i]`` is the derivative of ``f(x).flat[k]`` in ``x.flat[i]``,
    by the stencil of :func:`numerical_gradient` (the book's central
    difference by default, divided by the step actually taken).

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` (or scalar) of one fixed shape. ``f`` receives a
        perturbed private copy of ``x`` (``x`` is never written). With
        ``batched=True``, ``f(X)`` maps ``(B, *x.shape)`` to ``(B, *f(x).shape)``.
    x : array_like
        Float32 or float64 point (other real dtypes are computed in float64).
    h, order, method, richardson, full_output
        As for :func:`numerical_gradient`: every stencil, Richardson levels
        with their error estimate, ``h="auto"``, the complex step.
    parallel : bool, optional
        A Numba-compiled ``f`` runs in a ``prange`` kernel (bit-identical to
        ``parallel=False``, and to a plain Python ``f``).
    batched : bool
        ``f`` takes a batch of perturbed copies (one call per ~1 MiB of batch).
    workers : int, callable, Executor, dask.distributed.Client or Workers, optional
        Evaluate blocks of perturbations on other processes or machines, as
        :func:`numerical_gradient` does (a pool of ``workers`` processes, a map
        such as ``pool.map``, a :class:`concurrent.futures.Executor`, a Dask
        client, or :class:`~nnnum.Workers` with ``chunk`` perturbations per
        task): bit-identical to the serial result; ``f`` and ``x`` must pickle
        (cloudpickle). The complex step too (its perturbations are complex).
    progress : bool, optional
        With ``workers``: a progress bar (tqdm), as for :func:`numerical_gradient`.
    sparsity : array_like of bool, SciPy sparse or JacobianPlan, optional
        Where ``J`` (as an ``(f(x).size, x.size)`` matrix) may be nonzero. The
        columns are coloured (:mod:`nnnum.diff.colouring`): one evaluation of
        ``f`` per colour and stencil point instead of per element. A SciPy
        sparse pattern gives a ``scipy.sparse.csr_array`` (memory O(nnz));
        a boolean array a dense result with zeros outside the pattern. Reuse
        a :func:`jacobian_plan` to colour once.

    Returns
    -------
    ndarray, csr_array or DiffResult
        Shape ``f(x).shape + x.shape`` (``(m, n)`` for vectors, as SciPy and
        numdifftools); with a SciPy pattern, ``(m, n)`` sparse. In a
        :class:`DiffResult` for a sparse result, ``error`` and ``status`` are
        aligned with ``df.data``.

    Notes
    -----
    ``f`` is evaluated ``1 + P`` times: once at ``x`` (its shape; a one-sided
    stencil's ``f(x)``) and ``P = order * (richardson + 1) * C`` perturbations
    with ``C = x.size`` colours (dense) or the colouring's count. Without
    ``full_output``, a point that two Richardson levels share (the order-4
    central stencil's ``x +- h/2`` at levels 0 and 1) is evaluated once, so
    ``order=4, richardson=1`` costs ``6 * C`` perturbations instead of ``8 * C``.
    With it, every point is evaluated (a noisy ``f``'s repeated values are part
    of the estimate), and with Richardson levels the estimate adds a probe, one
    point beyond the stencil per colour (central orders 2-4, one-sided 1-2).

    The complex step takes ``1 + C + 2`` evaluations: ``f(x)`` (with a pattern
    and ``batched=True``, one row of the first batch), the ``C`` colours at
    ``x + ih``, and one direction through every element at ``x + i w h`` and
    ``x + 2i w h``, whose values must double exactly (as an ``f`` analytic at
    ``x`` gives). Outputs where they do not (a branch point, a singularity near
    ``x``, a step too large) have their colours stepped by ``2h`` too, and
    suspect elements by ``4h``, by the gradient's rule (:mod:`.complex_step`):
    the same values and estimates as stepping every colour twice.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> f = lambda x: np.array([x[0] ** 2 * x[1], 5 * x[0] + np.sin(x[1])])
    >>> J = nnnum.numerical_jacobian(f, [1.0, 2.0], h="auto", order=4)
    >>> bool(np.allclose(J, [[4.0, 1.0], [5.0, np.cos(2.0)]]))
    True
    >>> r = nnnum.numerical_jacobian(f, [1.0, 2.0], h="auto", richardson=2, full_output=True)
    >>> bool(np.all(np.abs(r.df - [[4.0, 1.0], [5.0, np.cos(2.0)]]) <= r.error))
    True
    """
    hv, st, levels, is_complex = check_options(h, order, method, richardson)
    # workers= take the complex step's perturbations too (sets of complex values)
    full_output, batched, parallel, workers, progress = check_run(
        full_output, batched, parallel, workers, progress
    )
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    xa = _x_of(x, "numerical_jacobian")
    engine, options = _engine(f, xa, batched, parallel, workers, progress, "numerical_jacobian")
    if isinstance(sparsity, JacobianPlan) and sparsity.shape[1] != xa.size:
        raise ValueError(f"the plan is for x.size {sparsity.shape[1]}, x has size {xa.size}")
    ev: dict[str, Any] = dict(engine=engine, options=options)
    if is_complex and engine is engines.batched and sparsity is not None:
        # the pattern is known before f(x): x itself rides in the first batch (one call
        # of f fewer; its shape and its checks come with the values)
        plan = jacobian_plan(sparsity)
        if plan.shape[1] != xa.size:
            raise ValueError(
                f"sparsity has shape {plan.shape}, but x has size {xa.size} (its columns)"
            )
        df, err, status, step, nfev, out_shape = complex_jacobian(
            f, xa, None, hv, plan, ev, sparsity
        )
        ordr = 2
    else:
        fx = f_at(f, xa.astype(np.complex128 if is_complex else xa.dtype), engine, is_complex)
        out_shape = fx.shape
        plan = _plan_for(sparsity, fx.size, xa.size)
        if is_complex:
            df, err, status, step, nfev, _ = complex_jacobian(f, xa, fx, hv, plan, ev)
            ordr = 2
        else:
            df, err, status, step, nfev, ordr = _finite(
                f, xa, fx, hv, st, levels, plan, ev, full_output
            )
    result = _shape_result(plan, df, out_shape, xa.shape, xa.dtype)
    if not full_output:
        return result
    error = _shape_aux(plan, err, out_shape, xa.shape, np.float64)
    stat = _shape_aux(plan, status, out_shape, xa.shape, np.int8)
    return DiffResult(
        df=result,
        error=error,
        nfev=nfev,
        step=step,
        order=ordr,
        method="complex" if is_complex else st.kind,
        status=stat,
    )


def _plan_for(sparsity: Any, m: int, n: int) -> JacobianPlan:
    """The plan of an ``(m, n)`` Jacobian: dense, the given one (checked), or the pattern's."""
    if sparsity is None:
        return dense_plan(m, n)
    if isinstance(sparsity, JacobianPlan):
        sparsity.check_shape(m, n, sparsity)
        return sparsity
    return JacobianPlan(as_pattern(sparsity, (m, n)))


def _finite(
    f: Any,
    xa: np.ndarray,
    fx: np.ndarray,
    hv: Any,
    st: Any,
    levels: int,
    plan: JacobianPlan,
    ev: dict[str, Any],
    estimate: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    shape = xa.shape
    flat = xa.reshape(-1)
    out_shape = fx.shape
    # the step rule's errors and warnings named for x itself, once (the book's difference
    # takes its steps once: its own warning is that one)
    if is_book_default(st, levels) and hv != "auto":
        exact = True
    else:
        hx = auto_step(flat, st, levels - 1, 2.0) if hv == "auto" else float(hv)
        exact = bool(make_plan(flat, shape, hx, st, levels).exact.all())
    m, n = plan.shape
    cols = Columns(n, outputs=m) if plan.dense else Columns(n, elem=plan.elem)
    count = [0]
    # the dense book difference: any non-finite value makes its column's difference non-finite,
    # which the finish checks; the values are checked (for the message) only then
    book = plan.dense and is_book_default(st, levels) and hv != "auto"
    last: list[Any] = []

    def evaluate_cols(points: np.ndarray, labels: list[str], check: bool = True) -> np.ndarray:
        pert = _perturbations(plan, points, labels, shape, per_element=True)
        F = evaluate(f, xa, pert, out_shape, **ev)
        count[0] += pert.count
        if book:
            last[:] = [F, pert]
        elif check:  # the estimate's probe: a non-finite value flags its columns instead
            check_finite_values(F, pert, out_shape)
        rows = points.shape[0]
        if plan.dense:  # perturbation r * n + i, output k: already (rows, n, m)
            return F.reshape(rows, n, m)
        return plan.read(F, rows)

    fxf = fx.reshape(-1).astype(np.float64)

    def f_at_x() -> np.ndarray:  # f(x) per column
        return fxf if plan.dense else fxf[plan.out]

    def name(c: int) -> str:
        i, k = cols.element(c)
        if k is None:
            k = int(plan.out[c])
        return f"{output_name(k, out_shape)} in {where(shape, i)}"

    with warnings.catch_warnings():
        if not exact:  # said once above, for x itself
            warnings.simplefilter("ignore", StepRoundingWarning)
        try:
            out = differentiate_columns(
                flat,
                shape,
                hv,
                st,
                levels,
                evaluate_cols,
                f_at_x,
                cols,
                estimate=estimate,
                name=name,
                evaluate_probe=lambda p, lab: evaluate_cols(p, lab, check=False),
            )
        except NonFiniteError:
            if last:  # f itself returned NaN or inf: say where (else the difference overflowed)
                check_finite_values(last[0], last[1], out_shape)
            raise
    df, err, status = out.df, out.error, out.status
    if plan.dense:  # (n, m) -> the nonzeros row by row, (m * n,); without full_output, df only
        df = np.ascontiguousarray(np.transpose(df)).reshape(-1)
        if estimate:
            err, status = (np.ascontiguousarray(np.transpose(a)).reshape(-1) for a in (err, status))
    step = np.asarray(out.step)
    return df, err, status, step, 1 + count[0], out.order


def _shape_result(
    plan: JacobianPlan, vals: np.ndarray, out_shape: tuple, x_shape: tuple, dtype: Any
) -> Any:
    m, n = plan.shape
    if plan.dense:
        return vals.reshape(out_shape + x_shape).astype(dtype, copy=False)
    if plan.pattern is not None and plan.pattern.sparse:
        return plan.csr(vals.astype(dtype, copy=False))
    full = np.zeros(m * n, dtype=dtype)
    full[plan.out * n + plan.elem] = vals
    return full.reshape(out_shape + x_shape)


def _shape_aux(
    plan: JacobianPlan, vals: np.ndarray, out_shape: tuple, x_shape: tuple, dtype: Any
) -> np.ndarray:
    m, n = plan.shape
    vals = np.asarray(vals, dtype=dtype).reshape(-1)
    if plan.dense:
        return vals.reshape(out_shape + x_shape)
    if plan.pattern is not None and plan.pattern.sparse:
        return vals
    full = np.zeros(m * n, dtype=dtype)
    full[plan.out * n + plan.elem] = vals
    return full.reshape(out_shape + x_shape)
