"""Batched numerical gradient: all perturbations of ``x`` evaluated in batches (GPU-ready).

``f`` maps a batch of parameter arrays ``(B, *x.shape)`` to ``B`` values.
Under ``NNNUM_BACKEND=cupy`` the batches live on the device; under the CPU
backends the same code runs with NumPy.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _backend
from ._net_batched import chunk_size
from ._xp_ops import quiet
from .gradient import StepResolutionError, _check_h, _check_real_dtype

__all__ = ["batched_numerical_gradient"]


def batched_numerical_gradient(
    f: Callable[[Any], Any], x: Any, *, h: float = 1e-4, chunk: int | None = None
) -> Any:
    """Central-difference gradient with ``f`` evaluated on batches of perturbed ``x``.

    Parameters
    ----------
    f : callable
        ``f(X) -> values`` with ``X`` of shape ``(B, *x.shape)`` and ``values``
        of shape ``(B,)``: one value per perturbed copy of ``x``.
    x : array_like
        Float parameters of any shape (copied; never modified).
    h : float, keyword-only
        Step.
    chunk : int, optional
        Perturbations per call of ``f`` (default: bounded by free device memory,
        or 64 MiB of batch on the host).

    Returns
    -------
    array
        The gradient, shaped like ``x``, in the backend's namespace.

    Examples
    --------
    >>> import numpy as np
    >>> from nnnum.batched import batched_numerical_gradient
    >>> f = lambda X: (X ** 2).reshape(len(X), -1).sum(axis=1)
    >>> np.allclose(batched_numerical_gradient(f, np.array([3.0, 4.0])), [6.0, 8.0])
    True
    """
    hf = _check_h(h)
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    if chunk is not None and (
        isinstance(chunk, (bool, np.bool_)) or not isinstance(chunk, (int, np.integer)) or chunk < 1
    ):
        raise ValueError(f"chunk must be a positive integer, got {chunk!r}")
    xp = _backend.current().xp
    x = xp.asarray(x)
    _check_real_dtype(x.dtype, "batched_numerical_gradient")
    if not np.issubdtype(x.dtype, np.floating) or x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    if x.size == 0:
        return xp.zeros(x.shape, dtype=x.dtype)
    flat = x.reshape(-1)
    finite = xp.isfinite(flat)
    if not bool(finite.all()):
        i = int(xp.argmax(~finite))
        raise ValueError(
            f"x is not finite at flat index {i} ({float(flat[i])!r}); the gradient is "
            "undefined there"
        )
    plus, minus = flat + x.dtype.type(hf), flat - x.dtype.type(hf)
    step = plus.astype(np.float64) - minus.astype(np.float64)
    if not bool((step > 0).all()):
        raise StepResolutionError(
            f"h={hf!r} is below the resolution of {x.dtype}: x + h == x - h. Use a larger h "
            "or float64 parameters"
        )
    n = flat.size
    if chunk is None:
        chunk = chunk_size(n * x.dtype.itemsize * 2, xp)
    chunk = max(1, min(int(chunk), n))
    out = xp.empty(n, dtype=np.float64)
    for start in range(0, n, chunk):
        idx = xp.arange(start, min(n, start + chunk))
        vals = []
        for pert in (plus, minus):
            batch = xp.broadcast_to(flat, (idx.size, n)).copy()
            batch[xp.arange(idx.size), idx] = pert[idx]
            v = xp.asarray(f(batch.reshape((idx.size,) + x.shape)))
            if v.shape != (idx.size,):
                raise ValueError(
                    f"a batched f must return one value per parameter copy: shape "
                    f"({idx.size},) for a batch of {idx.size}, got {tuple(v.shape)}"
                )
            if v.dtype == np.bool_ or not (
                np.issubdtype(v.dtype, np.integer) or np.issubdtype(v.dtype, np.floating)
            ):
                raise TypeError(f"a batched f must return real values, got dtype {v.dtype}")
            vals.append(v.astype(np.float64))
        with quiet(xp):
            out[start : start + idx.size] = vals[0] - vals[1]
    with quiet(xp):
        grad = out / step
    bad = ~xp.isfinite(grad)
    if bool(bad.any()):
        i = int(xp.argmax(bad))
        raise FloatingPointError(f"f returned a non-finite value when perturbing element {i}")
    return grad.reshape(x.shape).astype(x.dtype, copy=False)
