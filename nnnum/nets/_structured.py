"""Host side of the structured numerical gradient: kernel inputs, dispatch by backend."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from .. import backends as _backend
from ..losses import CE_DELTA
from . import _kernels as _kernels_net
from ._batched import actual_steps, batched_structured_gradient

#: A class probability below this (a logit gap over ~667) is too small for the kernels' exact
#: recomputation, which works with log q: such a batch takes the batched path's full logits.
Q_TINY = 1e-290


def structured_gradient(params: dict[str, Any], x: Any, labels: Any, h: float) -> dict[str, Any]:
    """Central differences of the book's loss for every parameter of a TwoLayerNet."""
    if _backend.current().JIT:
        return _structured_numba(params, x, labels, h)
    return batched_structured_gradient(params, x, labels, h)


def _unit_bounds(hdim: int) -> np.ndarray:
    """Hidden units per task of ``grad_hidden``: one run per thread, in multiples of 8."""
    tasks = max(1, min(numba.get_num_threads(), hdim // 8))
    bounds = [(c * hdim // tasks) // 8 * 8 for c in range(tasks)] + [hdim]
    return np.array(bounds, dtype=np.int64)


def _cache_line_rows(rows: int, cols: int) -> np.ndarray:
    """An empty (rows, >= cols) array, 64-byte aligned, rows a multiple of 64 bytes long."""
    width = -(-cols // 8) * 8
    buf = np.empty(rows * width + 8)
    skip = (-buf.ctypes.data % 64) // 8
    return buf[skip : skip + rows * width].reshape(rows, width)


def _steps(a: np.ndarray, b: np.ndarray, h: float, name: str):
    """``actual_steps`` of ``[a; b]`` in one pass; its error where a check fails."""
    dp, dm, st, ok = _kernels_net.actual_steps_stacked(a, b, float(h))
    if not ok:
        actual_steps(np.vstack([a, b[None, :]]), h, name)  # raises the error
    return dp, dm, st


def _structured_numba(params: dict[str, Any], x: np.ndarray, labels: np.ndarray, h: float):
    w1 = np.ascontiguousarray(params["W1"], dtype=np.float64)
    b1 = np.ascontiguousarray(params["b1"], dtype=np.float64)
    w2 = np.ascontiguousarray(params["W2"], dtype=np.float64)
    b2 = np.ascontiguousarray(params["b2"], dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    n, d = x.shape
    hdim = w1.shape[1]
    # the nonzeros of [x, 1] per sample (CSR): the trailing 1 carries the bias b1
    indptr, indices, values = _kernels_net.sparse_rows(x)
    z, zm, q, p, coef = _kernels_net.forward_cache(indptr, indices, values, w1, b1, w2, b2, labels)
    if not q.min() >= Q_TINY:  # never on a sane net; NaN logits (inf weights x) land here too
        return batched_structured_gradient(params, x, labels, h)

    # hidden layer: [W1; b1] as one (D+1, H) block
    dp1, dm1, st1 = _steps(w1, b1, h, "W1/b1")
    g1 = _cache_line_rows(d + 1, hdim)
    bounds = _unit_bounds(hdim)
    args = (indptr, indices, values, coef, q, p, w2, dp1, dm1, st1, CE_DELTA, bounds, g1)
    # the polynomials first; a batch with a unit outside their range (raw pixels, a large h)
    # is done again by the exact variant, compiled only then (see _kernels._fast_and_exact)
    status = np.zeros(bounds.size - 1, np.uint8)
    _kernels_net.grad_hidden(*args, status)
    if status.any():
        _kernels_net.grad_hidden_exact(*args, status)
    g1 = g1[:, :hdim]

    # output layer: [W2; b2] as one (H+1, K) block; z gets a row of ones (transposed)
    dp2, dm2, st2 = _steps(w2, b2, h, "W2/b2")
    zt = np.empty((hdim + 1, n))  # C order: the kernel's loops run along samples
    zt[:hdim] = z.T
    zt[hdim] = 1.0
    g2 = np.empty(dp2.shape)
    args2 = (zt, np.ascontiguousarray(q.T), p, labels, dp2, dm2, st2, CE_DELTA, g2)
    status = np.zeros(g2.shape[0], np.uint8)
    _kernels_net.grad_output(*args2, status)
    if status.any():
        _kernels_net.grad_output_exact(*args2, status)
    return {
        "W1": np.ascontiguousarray(g1[:d]),
        "b1": g1[d].copy(),
        "W2": g2[:hdim],
        "b2": g2[hdim].copy(),
    }
