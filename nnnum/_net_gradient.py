"""Host side of the structured numerical gradient: kernel inputs, dispatch by backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _kernels_net
from . import backends as _backend
from ._net_batched import actual_steps, batched_structured_gradient
from .losses import CE_DELTA


def structured_gradient(params: dict[str, Any], x: Any, labels: Any, h: float) -> dict[str, Any]:
    """Central differences of the book's loss for every parameter of a TwoLayerNet."""
    if _backend.current().JIT:
        return _structured_numba(params, x, labels, h)
    return batched_structured_gradient(params, x, labels, h)


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
    x_aug = np.hstack([x, np.ones((n, 1))])
    rows_nz, cols_nz = np.nonzero(x_aug)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows_nz, minlength=n), out=indptr[1:])
    indices = cols_nz.astype(np.int64)
    values = x_aug[rows_nz, cols_nz]
    z, zm, q, p = _kernels_net.forward_cache(indptr, indices, values, w1, b1, w2, b2, labels)

    # hidden layer: [W1; b1] as one (D+1, H) block
    theta1 = np.vstack([w1, b1[None, :]])
    dp1, dm1, st1 = actual_steps(theta1, h, "W1/b1")
    out1 = np.empty((hdim, d + 1))
    _kernels_net.grad_hidden(
        indptr,
        indices,
        values,
        z,
        zm,
        q,
        p,
        labels,
        w2,
        np.ascontiguousarray(dp1.T),
        np.ascontiguousarray(dm1.T),
        CE_DELTA,
        out1,
    )
    g1 = out1.T / (n * st1)

    # output layer: [W2; b2] as one (H+1, K) block; z gets a column of ones
    theta2 = np.vstack([w2, b2[None, :]])
    dp2, dm2, st2 = actual_steps(theta2, h, "W2/b2")
    z_aug = np.hstack([z, np.ones((n, 1))])
    out2 = np.empty(theta2.shape)
    _kernels_net.grad_output(z_aug, q, p, labels, dp2, dm2, CE_DELTA, out2)
    g2 = out2 / (n * st2)
    return {
        "W1": np.ascontiguousarray(g1[:d]),
        "b1": g1[d].copy(),
        "W2": g2[:hdim],
        "b2": g2[hdim].copy(),
    }
