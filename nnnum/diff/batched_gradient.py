"""``batched_numerical_gradient``: ``f`` of a batch of perturbed copies of ``x``, on any backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import backends as _backend
from .._core.regions import REGIONS
from . import complex_step
from .checks import check_real_dtype
from .engines import Options, Target, run, select
from .finish import DiffResult
from .options import check_flag, check_options
from .result import Method, full_result
from .steps import check_finite

__all__ = ["batched_numerical_gradient"]


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
        hs = complex_step.steps(host, hv)
        im = complex_step.batched(f, xd, hs, chunk, be)
        cdf, cerr = complex_step.finish(im, hs, shape, np.dtype(xd.dtype))
        df = xp.asarray(cdf.reshape(shape)).astype(xd.dtype, copy=False)
        if not full_output:
            return df
        return DiffResult(
            df, cerr.reshape(shape), complex_step.nfev(im), hs.reshape((1,) + shape), 2, "complex"
        )

    target = Target(x, xd, xd, shape, flat=host)
    options = Options(batched=True, chunk=chunk, backend=be)
    out = run(select(f, target, options), f, target, options, hv, st, levels, full_output)
    df = xp.asarray(out.df.reshape(shape)).astype(xd.dtype, copy=False)
    if not full_output:
        return df
    out.error = out.error.reshape(shape)
    return full_result(out, df, st)
