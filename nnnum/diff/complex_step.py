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
analytic gives a wrong answer that nothing here can detect: compare with a
finite difference once (``nnnum.gradcheck``) when unsure.

This module holds the step rule, the checks of ``f``'s values and the two
engines that need no compiler: the Python loop (``f`` gets a complex copy of
``x``, perturbed one element at a time) and the batched one (array namespace,
CPU or GPU). The ``prange`` kernel for a jitted ``f`` is in
:mod:`.engines.prange`.
"""

from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from .checks import NonFiniteError
from .steps import check_h, where

__all__ = [
    "COMPLEX",
    "steps",
    "complex_dtype",
    "complex_result",
    "check_real_at_x",
    "loop",
    "batched",
    "finish",
]

#: ``x``'s dtype -> the complex dtype ``f`` is evaluated in.
COMPLEX = {
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
        _, e = np.frexp(np.maximum(np.abs(x.astype(np.float64)), 1.0))
        return np.ldexp(eps * eps, e)
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
    re = np.asarray(np.real(value)).reshape(-1)
    if not np.isfinite(re).all():
        k = int(np.flatnonzero(~np.isfinite(re))[0])
        raise NonFiniteError(
            f"f is {re[k]!r} at {'x' if re.size == 1 else where(shape, k)} itself: "
            "the derivative is undefined there"
        )
    im = np.imag(value)
    if np.all(im == 0):
        return
    flat = np.asarray(im).reshape(-1)
    k = int(np.flatnonzero(flat != 0)[0])
    at = "x" if flat.size == 1 else where(shape, k)
    raise ValueError(
        f"f is not real at {at} (Im f = {flat[k]!r} with no step taken): x lies on a branch "
        "cut of f (the log or square root of a negative number, where the real f is NaN) or f "
        "adds an imaginary part of its own; the complex step needs an f that is real on real x"
    )


def loop(
    f: Callable[[Any], Any], x: np.ndarray, h: np.ndarray, as_type: type | None = None
) -> np.ndarray:
    """``Im f(x + i h_k e_k)`` for every element ``k``: a Python ``f`` on a complex copy of ``x``.

    ``x`` itself is never written (it cannot hold a complex value): ``f`` must
    compute with its argument, which is a complex copy of the caller's array
    (of the caller's ndarray subclass, ``as_type``, such as ``np.matrix``).
    The first call, at ``x`` unperturbed, checks that ``f`` returns a complex
    number that is real there.
    """
    xc = x.astype(complex_dtype(x.dtype))  # a copy, C-ordered
    shape = x.shape
    flat = xc.reshape(-1)
    arg = xc if as_type is None else xc.view(as_type)
    check_real_at_x(complex_result(f(arg), "x (unperturbed, complex)"), shape)
    out = np.empty(x.size)
    for k in range(x.size):
        orig = flat[k]
        flat[k] = orig + 1j * h[k]
        try:
            v = complex_result(f(arg), lambda: f"{where(shape, k)} + ih")
        finally:
            flat[k] = orig
        out[k] = v.imag
    return out


def batched(
    f: Callable[[Any], Any], xd: Any, h: np.ndarray, chunk: int | None, backend: Any
) -> np.ndarray:
    """``Im f`` of batches ``(B, *x.shape)`` of complex copies of ``x``, one element stepped each.

    Written once against the backend's namespace (NumPy in CI, CuPy on a GPU).
    The first batch is ``x`` itself, unperturbed (checked to be real).
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
    out = np.empty(n)
    for start in range(0, n, chunk):
        idx = xp.arange(start, min(n, start + chunk))
        b = int(idx.size)
        batch = xp.broadcast_to(flat, (b, n)).copy()
        batch[xp.arange(b), idx] += 1j * hd[idx]
        v = _batch_values(f, batch.reshape((b,) + shape), b)
        out[start : start + b] = backend.to_host(v.imag.astype(np.float64))
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
    im: np.ndarray, h: np.ndarray, shape: tuple[int, ...], dtype: np.dtype
) -> tuple[np.ndarray, np.ndarray]:
    """The derivative ``Im f / h`` and its error estimate, or FloatingPointError naming the element.

    The estimate is the rounding of the result (two units of ``x``'s dtype's
    epsilon, relative) plus the resolution of ``Im f`` near zero (the smallest
    subnormal number over ``h``): a derivative so small that ``h f'``
    underflows comes back inexact, or as 0, and the estimate says by how much.
    The step leaves no truncation error above rounding and no cancellation. The
    estimate does not see rounding inside ``f``'s own arithmetic that cancels
    (large terms of opposite sign summing to a small derivative).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        df = im / h
    bad = ~np.isfinite(df)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise NonFiniteError(
            f"Im f(x + ih) / h is {df[k]!r} at {where(shape, k)}: f is not finite there"
        )
    fi = np.finfo(dtype)
    floor = float(fi.smallest_subnormal) / h
    return df, 2.0 * float(fi.eps) * np.abs(df) + floor
