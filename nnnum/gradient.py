"""Numerical differentiation: ``numerical_diff`` and ``numerical_gradient``.

Both use the central difference with an absolute step ``h`` (the book's
``1e-4``).  The difference is divided by the step *actually taken*,
``(x + h) - (x - h)`` as stored in ``x``'s dtype, not by ``2 * h``: this is
exact where ``x + h`` rounds, and never divides by a step that did not happen.
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import Any, Callable

import numpy as np

from . import _kernels_diff
from ._config import get_backend
from ._jit import call_kernel, is_jitted, is_parallel
from ._regions import REGIONS, has_internal_overlap

__all__ = [
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
    "StepRoundingWarning",
    "StepResolutionError",
]


class StepRoundingWarning(RuntimeWarning):
    """The perturbation ``x +- h`` was rounded by ``x``'s dtype to a different step."""


class StepResolutionError(ValueError):
    """``h`` is below the resolution of ``x``'s dtype: ``x + h == x - h``."""


def _check_h(h: Any) -> float:
    """``h`` as a float, or a clear error: the one step check of every path."""
    if isinstance(h, (bool, np.bool_)) or not isinstance(h, numbers.Real):
        raise TypeError(f"h must be a real number such as 1e-4, got {type(h).__name__} {h!r}")
    hf = float(h)
    if not (math.isfinite(hf) and hf > 0.0):
        raise ValueError(f"h must be a finite number > 0, got {h!r}")
    return hf


def _scalar_result(value: Any, where: str | Callable[[], str]) -> float:
    """``f``'s return value as a float, or a clear error saying what is wrong (and where)."""
    if type(value) is float or type(value) is np.float64:
        return float(value)
    if callable(where):
        where = where()
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"f must return a real scalar; it returned a bool at {where}")
    if isinstance(value, numbers.Real):
        return float(value)
    if value is None:
        raise TypeError(f"f must return a real scalar; it returned None at {where}")
    arr = np.asarray(value) if not hasattr(value, "get") else np.asarray(value.get())
    if arr.ndim != 0:
        hint = (
            "; for an f that returns one value per row of a 2-D x, use numerical_gradient_2d"
            if arr.ndim == 1
            else ""
        )
        raise ValueError(
            f"f must return a scalar; it returned an array of shape {arr.shape} at {where}{hint}"
        )
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"f must return a real scalar; it returned dtype {arr.dtype} at {where}")
    return float(arr)


def numerical_diff(f: Callable[[Any], Any], x: Any, *, h: float = 1e-4) -> Any:
    r"""Central-difference derivative of a function of one variable.

    .. math:: f'(x) \approx \frac{f(x + h) - f(x - h)}{(x + h) - (x - h)}

    Parameters
    ----------
    f : callable
        ``f(x)``; for an array ``x`` it must work elementwise.
    x : float or array_like
        Where to differentiate.
    h : float, keyword-only
        Absolute step (default the book's ``1e-4``). The truncation error is
        :math:`O(h^2)`; rounding error grows like :math:`\epsilon |f| / h`.

    Returns
    -------
    float or ndarray

    Examples
    --------
    >>> import nnnum
    >>> round(nnnum.numerical_diff(lambda x: 0.01 * x**2 + 0.1 * x, 5.0), 9)
    0.2
    """
    hf = _check_h(h)
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    x0 = np.asarray(x)
    if np.issubdtype(x0.dtype, np.complexfloating):
        raise TypeError(
            f"x is complex ({x0.dtype}); numerical_diff differentiates real functions of a "
            "real x: differentiate the real and imaginary parts separately"
        )
    if not (np.issubdtype(x0.dtype, np.number) or x0.dtype == np.bool_):
        raise TypeError(f"x must be a real number or array, got dtype {x0.dtype}")
    xa = np.asarray(x0, dtype=np.result_type(x0.dtype, np.float64))
    xp_, xm_ = xa + hf, xa - hf
    step = xp_ - xm_
    if np.any(step == 0):
        raise ValueError(f"h={hf!r} is below the resolution of x: x + h == x - h")
    d = (np.asarray(f(xp_), dtype=np.float64) - np.asarray(f(xm_), dtype=np.float64)) / step
    return float(d) if np.ndim(d) == 0 else d


def _where(shape: tuple[int, ...], flat: int) -> str:
    if not shape:
        return "x"
    return "x[" + ", ".join(str(i) for i in np.unravel_index(flat, shape)) + "]"


def _steps(x: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X + h, x - h rounded to x's dtype, and the float64 step between them."""
    with np.errstate(over="ignore", invalid="ignore"):
        xplus = x + x.dtype.type(h)
        xminus = x - x.dtype.type(h)
        step = xplus.astype(np.float64) - xminus.astype(np.float64)
        # fast path: every step within 1% of 2h (NaN/inf fail the comparison)
        if bool((np.abs(step - 2.0 * h) <= 0.02 * h).all()):
            return xplus, xminus, step
    finite = np.isfinite(x).reshape(-1)
    if not finite.all():
        i = int(np.flatnonzero(~finite)[0])
        raise ValueError(
            f"x is not finite at {_where(x.shape, i)} = {float(x.reshape(-1)[i])!r}; "
            "the gradient is undefined there"
        )
    flat = step.reshape(-1)
    bad = np.flatnonzero(~(flat > 0))
    if bad.size:
        i = int(bad[0])
        raise StepResolutionError(
            f"h={h!r} is below the resolution of {x.dtype} at {_where(x.shape, i)} = "
            f"{float(x.reshape(-1)[i])!r}: x + h == x - h. Use a larger h or float64 parameters"
        )
    rel = np.abs(flat / (2.0 * h) - 1.0)
    if rel.size and rel.max() > 0.01:
        i = int(rel.argmax())
        warnings.warn(
            f"h={h!r} is rounded by {x.dtype} at {_where(x.shape, i)} = "
            f"{float(x.reshape(-1)[i])!r} to a step of {flat[i] / 2:.3g}; the difference is "
            "taken over the step actually taken. Use a larger h or float64 parameters for an "
            "accurate gradient",
            StepRoundingWarning,
            stacklevel=3,
        )
    return xplus, xminus, step


def _finish(fplus: np.ndarray, fminus: np.ndarray, step: np.ndarray, x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):
        grad = (fplus - fminus) / step.reshape(-1)
    if not np.isfinite(grad).all():
        bad = np.flatnonzero(~(np.isfinite(fplus) & np.isfinite(fminus)))
        if not bad.size:
            i = int(np.flatnonzero(~np.isfinite(grad))[0])
            raise FloatingPointError(
                f"f(x + h) - f(x - h) overflows at {_where(x.shape, i)}: |f| is too large"
            )
        i = int(bad[0])
        which, val = ("+", fplus[i]) if not np.isfinite(fplus[i]) else ("-", fminus[i])
        raise FloatingPointError(
            f"f returned {val!r} at {_where(x.shape, i)} {which} h; the gradient is undefined there"
        )
    return grad.reshape(x.shape).astype(x.dtype, copy=False)


def _check_x(x: Any, who: str = "numerical_gradient") -> tuple[np.ndarray, Any]:
    """The array to perturb in place and the object to hand to ``f``.

    Both are the caller's own array (an ndarray subclass such as ``np.matrix``
    is perturbed through a plain-ndarray view of the same memory, and ``f``
    still receives the caller's object); a list becomes a float64 copy.
    """
    if hasattr(x, "__cuda_array_interface__"):
        raise TypeError(
            "x is a GPU array: use NNNUM_BACKEND=cupy and a batched f "
            "(numerical_gradient(f, x, batched=True))"
        )
    if not isinstance(x, np.ndarray):
        if x is None:
            raise TypeError(f"x is None; {who} needs a float array of parameters")
        arr = np.asarray(x)
        _check_real_dtype(arr.dtype, who)
        arr = arr.astype(np.float64)
        return arr, arr
    dt = x.dtype
    _check_real_dtype(dt, who)
    if not np.issubdtype(dt, np.floating):
        raise TypeError(
            f"x has dtype {dt}; {who} perturbs x in place by h, which an "
            f"integer array cannot hold (the book's code silently returns a wrong gradient "
            f"here). Pass x.astype(np.float64)"
        )
    if dt not in (np.float32, np.float64):
        raise TypeError(f"x has dtype {dt}; use float32 or float64 (x.astype(np.float64))")
    base = x if type(x) is np.ndarray else x.view(np.ndarray)
    if base.size > 1 and any(s == 0 and n > 1 for s, n in zip(base.strides, base.shape)):
        raise ValueError(
            "x is a broadcast view (a stride of 0): perturbing one element would change "
            "several. Pass a real array, e.g. x.copy()"
        )
    if has_internal_overlap(base):
        raise ValueError(
            "x has elements that share memory (an overlapping view, e.g. from "
            "sliding_window_view): perturbing one element would change several. Pass x.copy()"
        )
    if not base.flags.writeable:
        raise ValueError(
            f"x is read-only; {who} perturbs x in place (so that an f that reads "
            "the parameters it closes over sees the change). Pass a writable copy, x.copy()"
        )
    return base, x


def _check_real_dtype(dt: np.dtype, who: str) -> None:
    if np.issubdtype(dt, np.complexfloating):
        raise TypeError(
            f"x is complex ({dt}); {who} differentiates a real f of real parameters: "
            "pass the real and imaginary parts as separate real parameters"
        )
    if not (np.issubdtype(dt, np.number) or dt == np.bool_):
        raise TypeError(f"x has dtype {dt}; {who} needs a float32 or float64 array")


def numerical_gradient(
    f: Callable[[Any], Any],
    x: Any,
    *,
    h: float = 1e-4,
    parallel: bool | None = None,
    batched: bool = False,
) -> Any:
    r"""Central-difference gradient of a scalar function with respect to an array.

    For every element :math:`x_i`,

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
    h : float, keyword-only
        Absolute step, default ``1e-4``.
    parallel : bool, optional
        For a jitted ``f``: run the ``prange`` kernel (default) or its serial
        twin. The results are bit-identical either way, and for any number of
        threads.
    batched : bool
        ``f`` maps a batch ``(B, *x.shape)`` of parameter arrays to ``B``
        values: the perturbations are evaluated in batches (on the device
        under ``NNNUM_BACKEND=cupy``); see :func:`nnnum.batched_numerical_gradient`.

    Returns
    -------
    ndarray
        The gradient, with ``x``'s shape and floating dtype.

    Raises
    ------
    TypeError
        Integer ``x`` (perturbing it in place is impossible; the book's code
        returns ``[5000, 15000]`` for ``sum(x**2)`` at ``[1, 2]``).
    ValueError
        Read-only or broadcast ``x``; NaN or inf in ``x``; ``h <= 0``; ``h``
        below the resolution of ``x``'s dtype; ``f`` returning a non-scalar.
    FloatingPointError
        ``f`` returned NaN or inf (the message names the element).

    Notes
    -----
    ``x`` is never left modified: after a return *or an exception* (also one
    raised by ``f`` mid-way) it is bit-for-bit what it was. The error is
    :math:`O(h^2)` plus rounding :math:`O(\epsilon |f| / h)`; float64 is
    recommended. When ``x + h`` rounds (float32, or large ``|x|``), the
    difference is taken over the step actually taken and a
    :class:`StepRoundingWarning` is issued; a step that rounds away entirely
    raises.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    >>> np.allclose(g, [6.0, 8.0])
    True
    """
    hf = _check_h(h)
    if batched:
        from .batched import batched_numerical_gradient

        return batched_numerical_gradient(f, x, h=hf)
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    backend = get_backend()
    if backend == "cupy":
        from ._kernels_gpu import require_cupy

        require_cupy()
        raise TypeError(
            "on the cupy backend numerical_gradient needs f in batched form: pass "
            "batched=True with f mapping a (B, *x.shape) array of parameters to B values, "
            "so the perturbations are evaluated on the device in batches"
        )
    if parallel is not None and not isinstance(parallel, (bool, np.bool_)):
        raise TypeError(f"parallel must be True, False or None, got {parallel!r}")
    arr, fx = _check_x(x)
    if arr.size == 0:
        return np.zeros(arr.shape, dtype=arr.dtype)
    with REGIONS.hold(arr):
        # x +- h from x as it is now: another thread's perturbation of the same memory is over
        xplus, xminus, step = _steps(arr, hf)
        if is_jitted(f) and arr.ndim > 0 and backend == "numba":
            base = np.ascontiguousarray(arr).copy()
        else:
            return _gradient_loop(f, arr, fx, xplus, xminus, step)
    return _gradient_jitted(f, base, arr, xplus, xminus, step, parallel)


def _gradient_loop(
    f: Callable[[Any], Any],
    x: np.ndarray,
    fx: Any,
    xplus: np.ndarray,
    xminus: np.ndarray,
    step: np.ndarray,
) -> np.ndarray:
    """The book's loop, in place on ``x``, restored bit for bit even when ``f`` raises.

    ``f`` is called with ``fx``: the caller's own object, whose memory ``x`` is.
    """
    n = x.size
    fplus = np.empty(n)
    fminus = np.empty(n)
    shape = x.shape
    if x.ndim and x.flags.c_contiguous:
        # a flat view writes straight into x: same elements, no per-element index tuples
        view, xp_, xm_ = x.reshape(-1), xplus.reshape(-1), xminus.reshape(-1)
        index: Any = range(n)
    else:
        view, xp_, xm_ = x, xplus, xminus
        index = np.ndindex(shape) if shape else iter([()])  # lazily: no list of n tuples
    for flat, idx in enumerate(index):
        orig = view[idx].copy()
        try:
            view[idx] = xp_[idx]
            fplus[flat] = _scalar_result(f(fx), lambda: f"{_where(shape, flat)} + h")
            view[idx] = xm_[idx]
            fminus[flat] = _scalar_result(f(fx), lambda: f"{_where(shape, flat)} - h")
        finally:
            view[idx] = orig
    return _finish(fplus, fminus, step, x)


def _gradient_jitted(
    f: Any,
    base: np.ndarray,
    x: np.ndarray,
    xplus: np.ndarray,
    xminus: np.ndarray,
    step: np.ndarray,
    parallel: bool | None,
) -> np.ndarray:
    """The ``prange`` kernel on ``base``, a private C-ordered copy: ``x`` is never touched.

    An ``f`` compiled with ``parallel=True`` runs its own parallel regions: it
    is called from the serial kernel (nested parallel regions abort under
    Numba's workqueue layer), with the same, bit-identical result.
    """
    import numba

    _scalar_result(f(base), "x")  # checks the return type, compiles f
    flat = base.reshape(-1)
    n = flat.size
    fplus = np.empty(n)
    fminus = np.empty(n)
    xp_flat = np.ascontiguousarray(xplus).reshape(-1)
    xm_flat = np.ascontiguousarray(xminus).reshape(-1)
    par_kernel, serial_kernel = _kernels_diff.central_diff_kernels(f)
    if parallel is False or is_parallel(f):
        call_kernel(serial_kernel, flat, xp_flat, xm_flat, x.shape, 1, fplus, fminus)
    else:
        nchunks = max(1, min(n, 4 * numba.get_num_threads()))
        call_kernel(par_kernel, flat, xp_flat, xm_flat, x.shape, nchunks, fplus, fminus)
    return _finish(fplus, fminus, np.ascontiguousarray(step), x)


def _require_ndim(x: Any, ndim: int, name: str) -> None:
    got = np.ndim(x)
    if got != ndim:
        raise ValueError(
            f"{name} takes a {ndim}-D x, got {got}-D with shape {np.shape(x)}; "
            "numerical_gradient takes any shape"
        )


def numerical_gradient_1(f: Callable[[Any], Any], x: Any, *, h: float = 1e-4) -> Any:
    """:func:`numerical_gradient` for a 1-D ``x`` (the chapter notes' name).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient_1(lambda x: np.sum(x**2), np.array([3.0, 4.0]))
    >>> np.allclose(g, [6.0, 8.0])
    True
    """
    _require_ndim(x, 1, "numerical_gradient_1")
    return numerical_gradient(f, x, h=h)


def numerical_gradient_2(f: Callable[[Any], Any], x: Any, *, h: float = 1e-4) -> Any:
    """:func:`numerical_gradient` for a 2-D ``x``: one ``f`` of the whole matrix.

    Element by element, as the chapter notes use it for ``simpleNet``'s ``W``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> g = nnnum.numerical_gradient_2(lambda w: np.sum(w**2), np.ones((2, 3)))
    >>> np.allclose(g, 2.0)
    True
    """
    _require_ndim(x, 2, "numerical_gradient_2")
    return numerical_gradient(f, x, h=h)


def numerical_gradient_2d(f: Callable[[Any], Any], X: Any, *, h: float = 1e-4) -> Any:
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
    h : float, keyword-only
        Step.

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
    if np.ndim(X) == 1:
        return numerical_gradient(f, X, h=h)
    _require_ndim(X, 2, "numerical_gradient_2d")
    arr, _ = _check_x(X, "numerical_gradient_2d")
    grad = np.empty(arr.shape, dtype=arr.dtype)
    for i in range(arr.shape[0]):
        grad[i] = numerical_gradient(f, arr[i], h=h)
    return grad
