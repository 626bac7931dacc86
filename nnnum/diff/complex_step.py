r"""The complex step: :math:`f'(x) \approx \operatorname{Im} f(x + i h) / h`.

For an ``f`` that is analytic and computes in complex arithmetic, the
imaginary part of ``f(x + i h e_k)`` is :math:`h \, \partial f / \partial x_k`
up to :math:`O(h^3)`, with no difference of nearby values: no cancellation,
so ``h`` can be tiny and the result is exact to the rounding of ``f``'s own
arithmetic, from **one** evaluation per element (numdifftools' and the
literature's "complex-step derivative"; Squire & Trapp 1998, Martins et al. 2003).

It needs ``f`` to carry the imaginary part through: no ``abs``, ``.real``,
``float()``, comparisons or ``np.maximum`` of the perturbed values (a ReLU
network is not analytic), no ``conj``, and ``f`` must compute with its
argument (``f`` gets complex *copies* of ``x``; ``x`` itself, real, is never
written, so the book's ``lambda w: net.loss(x, t)`` cannot work). nnnum's own
losses and activations take real arrays only. Refused with a clear error: an
``f`` that returns a real number for a complex ``x`` (it dropped the
derivative), and one whose value at ``x`` itself is not real (``x`` on a
branch cut: the log or square root of a negative number). An ``f`` that is not
analytic everywhere but not in the direction stepped (``sqrt(x * x)`` at 0)
gives a wrong answer that nothing here can detect: compare with a finite
difference once (``nnnum.gradcheck``) when unsure.

**Branch points and large steps.** The complex step is valid only where ``f``
is analytic in a disc around ``x`` much larger than the step. Every element is
therefore stepped twice, by ``h`` and by ``2h``. For an analytic ``f``,
:math:`D(t) = \operatorname{Im} f(x + i t) / t = f' - t^2 f^{(3)} / 6 + \dots`,
so :math:`D(2h) - D(h)` is three times the truncation error of :math:`D(h)`.
With the automatic step it is exactly 0 (every imaginary part in ``f``'s
arithmetic is scaled by exactly 2) and the error estimate stays the rounding
of the result. Where the two differ by more than 64 times that rounding, the
element is stepped a third time, by ``4h``, and the differences must grow at
least like ``t`` (:math:`D(4h) - D(2h)` at least twice :math:`D(2h) - D(h)`,
same sign; a ``t**2`` law gives 4). ``D(h)`` is then returned with
:math:`|D(2h) - D(h)|` (past 8 times, :math:`|D(4h) - D(2h)|`) added to its
error estimate: a bound on a truncation error :math:`c h^p` for any
:math:`p \ge 1`. Otherwise a ``FloatingPointError`` names the element. These
are a branch point (``sqrt`` at 0, ``arcsin`` at 1, where
:math:`D(t) \propto t^{-1/2}` grows without limit as ``t`` shrinks), a
singularity closer to ``x`` than the step (``sqrt`` at ``1e-40``, where the
automatic step :math:`\epsilon^2 \max(|x|, 1) \approx 10^{-31}` is far larger
than ``x``), or a given ``h`` too large for ``f`` (past a pole). The finite
differences refuse the same points (``f`` is NaN on one side). Cost: two
evaluations of ``f`` per element (three where the first two disagree), plus
one at ``x``.

This module holds the step rule, the checks of ``f``'s values, the public
functions' glue (:func:`gradient`, :func:`derivative`) and the two engines that
need no compiler: the Python loop (``f`` gets a complex copy of
``x``, perturbed one element at a time) and the batched one (array namespace,
CPU or GPU). The ``prange`` kernel for a jitted ``f`` is in
:mod:`.engines.prange`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .._core.jit import is_jitted
from .._core.regions import REGIONS
from .checks import NonFiniteError
from .finish import DiffResult
from .steps import check_finite, check_h, where

__all__ = [
    "COMPLEX",
    "steps",
    "complex_dtype",
    "complex_result",
    "check_real_at_x",
    "dropped_imaginary",
    "MULTIPLES",
    "rounding",
    "suspects",
    "new_values",
    "nfev",
    "loop",
    "third_steps",
    "elementwise",
    "batched",
    "finish",
    "gradient",
    "derivative",
]

#: ``x``'s dtype -> the complex dtype ``f`` is evaluated in.
COMPLEX: dict[np.dtype, np.dtype] = {
    np.dtype(np.float64): np.dtype(np.complex128),
    np.dtype(np.float32): np.dtype(np.complex64),
}


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """complex128 for float64 ``x``, complex64 for float32."""
    return COMPLEX[np.dtype(dtype)]


def steps(x: np.ndarray, h: Any) -> np.ndarray:
    r"""The step of each element: ``h`` as given, or the automatic one.

    ``"auto"`` (and ``None``): :math:`\epsilon^2 \max(|x_k|, 1)` rounded up to a
    power of two (float64: about :math:`5 \cdot 10^{-32}` at :math:`|x| \le 1`), so
    that the truncation error :math:`h^2 |f'''| / 6` is far below rounding and
    ``x + i h`` and ``Im f / h`` are exact in binary.
    """
    if h is None or (isinstance(h, str) and h == "auto"):
        eps = float(np.finfo(x.dtype).eps)
        # 2 eps^2 times the largest power of two <= max(|x|, 1): its exponent bits alone
        # (frexp and ldexp give the same bits at twice the cost)
        m = np.abs(x.astype(np.float64, copy=False))
        np.maximum(m, 1.0, out=m)
        bits = m.view(np.int64)
        np.bitwise_and(bits, np.int64(0x7FF0000000000000), out=bits)
        m *= 2.0 * eps * eps
        return m
    return np.full(x.size, float(check_h(h, allow_auto=True)))


def complex_result(value: Any, at: str | Callable[[], str]) -> complex:
    """``f``'s value at a complex ``x`` as a complex number, or a clear error."""
    if type(value) is complex or isinstance(value, np.complexfloating):
        return complex(value)
    if callable(at):
        at = at()
    if isinstance(value, (bool, np.bool_)) or value is None or isinstance(value, (str, bytes)):
        raise TypeError(f"f must return a number; it returned {type(value).__name__} at {at}")
    if isinstance(value, numbers.Real):
        raise TypeError(_REAL_RESULT.format(kind=type(value).__name__, at=at))
    arr = np.asarray(value) if not hasattr(value, "get") else np.asarray(value.get())
    if arr.ndim != 0:
        raise ValueError(
            f"f must return a scalar; it returned an array of shape {arr.shape} at {at}"
        )
    if np.issubdtype(arr.dtype, np.complexfloating):
        return complex(arr)
    raise TypeError(_REAL_RESULT.format(kind=f"dtype {arr.dtype}", at=at))


def dropped_imaginary(kind: str, at: str) -> TypeError:
    """The error of an ``f`` that returned a real ``kind`` for complex points ``at``."""
    return TypeError(_REAL_RESULT.format(kind=kind, at=at))


_REAL_RESULT = (
    "method='complex' needs f to compute in complex arithmetic with its argument, but f "
    "returned a real {kind} for a complex x at {at}: either it drops the imaginary part that "
    "carries the derivative (abs, .real, float(), a comparison, np.maximum, nnnum's own "
    "losses...), or it ignores its argument (the book's lambda w: net.loss(x, t): the complex "
    "step hands f complex copies of x and never writes x itself). Use a finite-difference "
    "method (method='central') for this f"
)


def check_real_at_x(value: complex | np.ndarray, shape: tuple[int, ...]) -> None:
    """``f`` at ``x`` itself (a complex ``x`` with zero imaginary part) must be real and finite.

    An analytic ``f`` that is real on the real axis gives exactly zero there.
    A non-zero imaginary part means that ``x`` lies on a branch cut (the log or
    square root of a negative number: ``f`` is not real, let alone
    differentiable, there) or that ``f`` adds an imaginary part of its own;
    either way ``Im f(x + ih) / h`` would be a huge, meaningless number.
    """
    if isinstance(value, np.ndarray) and value.dtype.kind == "c":  # the common case, quickly
        if np.isfinite(value.real).all() and not value.imag.any():
            return
    re = np.asarray(np.real(value)).reshape(-1)
    if not np.isfinite(re).all():
        k = int(np.flatnonzero(~np.isfinite(re))[0])
        raise NonFiniteError(
            f"f is {re[k].item()!r} at {'x' if re.size == 1 else where(shape, k)} itself: "
            "the derivative is undefined there"
        )
    im = np.imag(value)
    if np.all(im == 0):
        return
    flat = np.asarray(im).reshape(-1)
    k = int(np.flatnonzero(flat != 0)[0])
    at = "x" if flat.size == 1 else where(shape, k)
    raise ValueError(
        f"f is not real at {at} (Im f = {flat[k].item()!r} with no step taken): x lies on a "
        "branch "
        "cut of f (the log or square root of a negative number, where the real f is NaN) or f "
        "adds an imaginary part of its own; the complex step needs an f that is real on real x"
    )


#: The step multiples: every element at ``h`` and ``2h``, a suspect one also at ``4h``.
MULTIPLES = (1.0, 2.0, 4.0)
#: ``D(2h)`` and ``D(h)`` closer than this many times the rounding estimate: no third step.
SUSPECT = 64.0


def rounding(d: np.ndarray, h: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The rounding estimate of ``d = Im f / h``: two units of ``dtype``'s epsilon, and a floor.

    The floor is the resolution of ``Im f`` near zero (the smallest subnormal
    number) over ``h``: a derivative so small that ``h f'`` underflows comes
    back inexact, or as 0.
    """
    fi = np.finfo(dtype)
    out = np.abs(d)
    out *= 2.0 * float(fi.eps)
    out += float(fi.smallest_subnormal) / h
    return out


def suspects(im: np.ndarray, h: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """The elements whose steps ``h`` and ``2h`` disagree beyond rounding: step them by ``4h``.

    ``im``: ``(3, n)``, ``Im f`` at ``x + i t h_k e_k`` for ``t`` in
    :data:`MULTIPLES` (rows 0 and 1 filled). Non-finite values are left to
    :func:`finish`, which refuses them.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        d1 = im[0] / h
        d2 = im[1] / (2.0 * h)
        gap = np.abs(d2 - d1)
        bad = np.isfinite(gap) & (gap > SUSPECT * rounding(d1, h, dtype))
    return np.flatnonzero(bad)


def new_values(n: int) -> np.ndarray:
    """``(3, n)`` values of ``Im f``, the third row NaN until a suspect element is stepped by 4h."""
    out = np.empty((len(MULTIPLES), n))
    out[2] = np.nan
    return out


def nfev(im: np.ndarray) -> int:
    """Evaluations of ``f`` behind ``im``: one at ``x``, two per element, one per third step."""
    return 1 + 2 * im.shape[1] + int(np.count_nonzero(~np.isnan(im[2])))


def loop(
    f: Callable[[Any], Any], x: np.ndarray, h: np.ndarray, as_type: type | None = None
) -> np.ndarray:
    """``Im f(x + i t h_k e_k)``, ``(3, n)``, for every element ``k``: a Python ``f``, complex copy.

    ``x`` itself is never written (it cannot hold a complex value): ``f`` must
    compute with its argument, which is a complex copy of the caller's array
    (of the caller's ndarray subclass, ``as_type``, such as ``np.matrix``).
    The first call, at ``x`` unperturbed, checks that ``f`` returns a complex
    number that is real there. Rows: the steps ``t h`` for ``t`` in
    :data:`MULTIPLES`; the third only for the :func:`suspects` (NaN elsewhere).
    """
    xc = x.astype(complex_dtype(x.dtype))  # a copy, C-ordered
    shape = x.shape
    flat = xc.reshape(-1)
    arg = xc if as_type is None else xc.view(as_type)
    check_real_at_x(complex_result(f(arg), "x (unperturbed, complex)"), shape)
    out = new_values(x.size)

    def step(k: int, row: int) -> None:
        t = MULTIPLES[row]
        orig = flat[k]
        flat[k] = orig + 1j * (t * h[k])
        try:
            v = complex_result(f(arg), lambda: f"{where(shape, k)} + {_ih(t)}")
        finally:
            flat[k] = orig
        out[row, k] = v.imag

    for k in range(x.size):
        step(k, 0)
        step(k, 1)
    for k in suspects(out, h, x.dtype):
        step(int(k), 2)
    return out


def third_steps(
    f: Callable[[Any], Any], xc: np.ndarray, h: np.ndarray, out: np.ndarray, dtype: np.dtype
) -> None:
    """Fill ``out[2]`` for the :func:`suspects` of ``out``: ``f`` called here, on copies of ``xc``.

    ``xc``: the complex ``x`` (C-ordered, shaped like ``x``; not modified). For
    the engines that compute the first two rows in bulk (a compiled kernel).
    """
    shape = xc.shape
    for k in suspects(out, h, dtype):
        k = int(k)
        z = xc.copy()
        z.reshape(-1)[k] += 1j * (MULTIPLES[2] * h[k])
        out[2, k] = complex_result(f(z), lambda: f"{where(shape, k)} + {_ih(4.0)}").imag


def _ih(t: float) -> str:
    return "ih" if t == 1.0 else f"{t:g}ih"


def elementwise(f: Callable[[Any], Any], xa: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, int]:
    """``Im f`` at ``x + i t h`` (``(3, x.size)``) of an elementwise ``f``, and the calls of ``f``.

    For :func:`nnnum.numerical_diff`: ``f`` maps the whole (float64) array
    ``xa`` to one value per element, so each step is one call: at ``x`` itself
    (checked real), at ``x + ih``, at ``x + 2ih``, and at ``x + 4ih`` when any
    element is a :func:`suspect <suspects>`. ``h``: the steps, shaped like ``xa``.
    """

    def values(z: np.ndarray, at: str) -> np.ndarray:
        value = f(z)
        if value is None or isinstance(value, (str, bytes, bool, np.bool_)):
            raise TypeError(
                f"f must return numbers; it returned {type(value).__name__} {value!r} at {at}"
            )
        arr = np.asarray(value)
        if arr.shape != xa.shape:
            raise ValueError(
                f"f must work elementwise: it returned shape {arr.shape} for x of shape "
                f"{xa.shape} at {at} (for the gradient of a scalar f, use numerical_gradient)"
            )
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"f must return numbers; it returned dtype {arr.dtype} at {at}")
        if not np.issubdtype(arr.dtype, np.complexfloating):
            raise TypeError(_REAL_RESULT.format(kind=f"dtype {arr.dtype}", at=at))
        return arr

    check_real_at_x(values(xa.astype(np.complex128), "x"), xa.shape)
    out = new_values(xa.size)
    hf = h.reshape(-1)
    for row in (0, 1):
        t = MULTIPLES[row]
        out[row] = values(xa + 1j * (t * h), f"x + {_ih(t)}").imag.astype(np.float64).reshape(-1)
    calls = 3
    idx = suspects(out, hf, np.dtype(np.float64))
    if idx.size:
        v = values(xa + 1j * (MULTIPLES[2] * h), f"x + {_ih(MULTIPLES[2])}")
        out[2, idx] = v.imag.astype(np.float64).reshape(-1)[idx]
        calls = 4
    return out, calls


def batched(
    f: Callable[[Any], Any], xd: Any, h: np.ndarray, chunk: int | None, backend: Any
) -> np.ndarray:
    """``Im f``, ``(3, n)``, of batches ``(B, *x.shape)`` of complex copies of ``x``, one step each.

    Written once against the backend's namespace (NumPy in CI, CuPy on a GPU).
    The first batch is ``x`` itself, unperturbed (checked to be real). Each
    batch steps its elements by ``h`` and ``2h`` (two copies each); the
    :func:`suspects` go once more by ``4h``.
    """
    from .engines.batched import HOST_BATCH_BYTES

    xp = backend.xp
    shape = tuple(xd.shape)
    n = int(np.prod(shape, dtype=np.int64))
    cdt = complex_dtype(xd.dtype)
    flat = xd.reshape(-1).astype(cdt)
    hd = xp.asarray(h)
    v0 = _batch_values(f, flat.reshape((1,) + shape), 1)
    check_real_at_x(complex(backend.to_host(v0)[0]), shape)
    if chunk is None:
        chunk = backend.batch_budget(n * cdt.itemsize, HOST_BATCH_BYTES)
    chunk = max(1, min(int(chunk), n))
    out = new_values(n)

    def run(idx: Any, t: float) -> np.ndarray:
        b = int(idx.size)
        batch = xp.broadcast_to(flat, (b, n)).copy()
        batch[xp.arange(b), idx] += 1j * (t * hd[idx])
        v = _batch_values(f, batch.reshape((b,) + shape), b)
        return backend.to_host(v.imag.astype(np.float64))

    for row in (0, 1):
        for start in range(0, n, chunk):
            idx = xp.arange(start, min(n, start + chunk))
            out[row, start : start + int(idx.size)] = run(idx, MULTIPLES[row])
    sus = suspects(out, h, np.dtype(xd.dtype))
    for start in range(0, sus.size, chunk):
        part = sus[start : start + chunk]
        out[2, part] = run(xp.asarray(part), MULTIPLES[2])
    return out


def _batch_values(f: Callable[[Any], Any], batch: Any, b: int) -> Any:
    v = f(batch)
    shape = tuple(getattr(v, "shape", ()))
    if shape != (b,):
        raise ValueError(
            f"a batched f must return one value per parameter copy: shape ({b},) for a "
            f"batch of {b}, got {shape}"
        )
    if not np.issubdtype(v.dtype, np.complexfloating):
        raise TypeError(_REAL_RESULT.format(kind=f"dtype {v.dtype}", at="a batch"))
    return v


def finish(
    im: np.ndarray,
    h: np.ndarray,
    shape: tuple[int, ...],
    dtype: np.dtype,
    name: Callable[[int], str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The derivative ``Im f(x + ih) / h`` and its error estimate, or FloatingPointError.

    ``im``: ``(3, n)`` from an engine (rows: the steps ``h``, ``2h``, and ``4h``
    for the :func:`suspects`, NaN elsewhere). The estimate is the
    :func:`rounding` of the result plus, where the steps disagree, the
    truncation bound of the module's rule (``|D(2h) - D(h)|``, or
    ``|D(4h) - D(2h)|`` when the differences grow faster than ``t**3``); an
    element whose steps do not converge (a branch point, a singularity nearer
    than the step, a step too large for ``f``) is refused, named. The estimate
    does not see rounding inside ``f``'s own arithmetic that cancels (large
    terms of opposite sign summing to a small derivative). ``name(k)`` says
    where column ``k`` is in messages (default: element ``k`` of ``x``).
    """
    if name is None:
        name = lambda k: where(shape, k)  # noqa: E731
    im = np.asarray(im, dtype=np.float64)
    if im.ndim != 2 or im.shape[0] != len(MULTIPLES):
        raise ValueError(f"im must have shape (3, n), got {im.shape}")
    with np.errstate(over="ignore", invalid="ignore"):
        d = im / (np.asarray(MULTIPLES)[:, None] * h)
    for row in (0, 1):
        bad = ~np.isfinite(d[row])
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            t = MULTIPLES[row]
            over = "h" if t == 1.0 else f"({t:g}h)"
            raise NonFiniteError(
                f"Im f(x + {_ih(t)}) / {over} is {float(d[row, k])!r} at {name(k)}: "
                "f is not finite there"
            )
    df = d[0]
    err = rounding(df, h, dtype)
    third = np.flatnonzero(~np.isnan(im[2]))
    if third.size == 0:
        return df, err
    with np.errstate(over="ignore", invalid="ignore"):
        g1 = d[1, third] - d[0, third]
        g2 = d[2, third] - d[1, third]
        ratio = g2 / g1
    ok = np.isfinite(ratio) & (ratio >= 2.0)
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        k = int(third[j])
        raise NonFiniteError(
            f"the complex step does not converge at {name(k)}: Im f(x + ith) / (th) is "
            f"{float(d[0, k])!r}, {float(d[1, k])!r}, {float(d[2, k])!r} for t = 1, 2, 4 "
            f"(h = {float(h[k])!r}), "
            "where an f analytic around x gives values that approach f' like t**2. x is at or "
            "near a point where f is not analytic: a branch point (sqrt at 0, arcsin at 1, "
            "where the derivative is infinite or undefined), or a singularity closer to x "
            "than the step (sqrt at 1e-40 with the automatic step, about 1e-31), or the given "
            "step is too large for f here. The finite differences refuse these points too; "
            "where f is analytic near x, an h well below the distance from x to f's nearest "
            "singularity works"
        )
    err[third] += np.where(ratio <= 8.0, np.abs(g1), np.abs(g2))
    return df, err


def gradient(
    f: Any, arr: np.ndarray, fx: Any, hv: Any, be: Any, full_output: bool, parallel: Any
) -> Any:
    """``numerical_gradient(..., method="complex")`` on the checked, non-empty ``arr``.

    ``fx`` is the caller's object (an ``np.matrix`` stays a matrix for ``f``),
    ``be`` the backend; a jitted ``f`` runs in its ``prange`` kernel.
    """
    shape = arr.shape
    base = REGIONS.snapshot(arr)  # f gets complex copies: x itself is never written
    check_finite(base.reshape(-1), shape)
    hs = steps(base.reshape(-1), hv)
    if is_jitted(f) and arr.ndim > 0 and be.JIT:
        from .engines import prange

        im = prange.complex_step(f, base, hs, parallel)
    else:
        subclass = type(fx) if isinstance(fx, np.ndarray) and type(fx) is not np.ndarray else None
        im = loop(f, base, hs, subclass)  # np.matrix stays a matrix, as for "central"
    df, error = finish(im, hs, shape, arr.dtype)
    out = df.reshape(shape).astype(arr.dtype, copy=False)
    if not full_output:
        return out
    return DiffResult(
        df=out,
        error=error.reshape(shape),
        nfev=nfev(im),
        step=hs.reshape((1,) + shape),
        order=2,
        method="complex",
    )


def derivative(f: Callable[[Any], Any], xa: np.ndarray, h: Any, full_output: bool) -> Any:
    """``numerical_diff(..., method="complex")``: ``Im f(x + ih) / h``, checked at 2h, 4h."""
    check_finite(xa.reshape(-1), xa.shape)
    hs = steps(xa.reshape(-1), h).reshape(xa.shape)
    im, calls = elementwise(f, xa, hs)
    df, error = finish(im, hs.reshape(-1), xa.shape, np.dtype(np.float64))
    out = float(df[0]) if xa.ndim == 0 else df.reshape(xa.shape)
    if not full_output:
        return out
    err: Any = float(error[0]) if xa.ndim == 0 else error.reshape(xa.shape)
    return DiffResult(df=out, error=err, nfev=calls, step=hs[None], order=2, method="complex")
