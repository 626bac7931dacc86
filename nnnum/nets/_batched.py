"""The structured numerical gradient of ``TwoLayerNet`` as batches of perturbed logits.

Written once against an array namespace: the ``numpy`` backend runs it as the
reference (CI checks it against the Numba kernels) and the ``cupy`` backend
runs the very same code on the device.  For a chunk of ``B`` perturbations it
builds the perturbed logits ``(B, N, K)`` from the cached forward pass (a
hidden unit or a logit changes, nothing else), evaluates all ``B`` batch
losses in one call of the backend's fused ``batched_label_loss`` and takes
the central differences over the steps actually taken.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as _backend
from ..losses import CE_DELTA

#: Bytes of perturbed logits per chunk on the host (the device uses its free memory).
HOST_CHUNK_BYTES = 64 << 20
#: |pre-activation step| beyond which a hidden unit's change is taken from its pre-activation
#: (expm1(-eps) overflows past 709.78); the same cut as the Numba kernels'
EPS_EXACT = 700.0
#: where 1 + (1 - z) em cancels, as in the Numba kernels
CANCELS = -0.875
#: z (1 - z) below this: a saturated unit, whose change is taken from its pre-activation too
G_TINY = 1e-300


def chunk_size(per_item_bytes: int) -> int:
    """How many perturbations to batch: bounded by free device memory (or a host budget)."""
    return _backend.current().batch_budget(per_item_bytes, HOST_CHUNK_BYTES)


def actual_steps(theta: Any, h: float, name: str) -> tuple[Any, Any, Any]:
    """Steps actually taken: (theta + h) - theta, (theta - h) - theta, and their difference.

    The same perturbations a brute-force pass makes (``theta +- h`` as stored),
    for NumPy or CuPy ``theta``. Raises for NaN/inf parameters and for an ``h``
    below their resolution.
    """
    if not bool((abs(theta) < np.inf).all()):
        raise ValueError(f"{name} contains NaN or inf")
    plus, minus = theta + h, theta - h
    step = plus - minus
    if not bool((step > 0).all()):
        raise ValueError(f"h={h!r} is below the resolution of {name}: some x + h == x - h")
    return plus - theta, minus - theta, step


def batched_structured_gradient(
    params: dict[str, Any], x: Any, labels: Any, h: float, chunk: int | None = None
) -> dict[str, Any]:
    """Central differences of the book's loss for all parameters, perturbations batched."""
    be = _backend.current()
    xp = be.xp
    w1, b1, w2, b2 = (xp.asarray(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    x = xp.asarray(x, dtype=np.float64)
    labels = xp.asarray(labels, dtype=np.int64)
    n, d = x.shape
    hdim, k = w2.shape
    a1 = x @ w1 + b1
    e = xp.exp(-xp.abs(a1))
    big, small = 1.0 / (1.0 + e), e / (1.0 + e)  # sigmoid(|a1|), sigmoid(-|a1|)
    z = xp.where(a1 >= 0, big, small)
    zm = xp.where(a1 >= 0, small, big)  # 1 - z, accurately
    a2 = z @ w2 + b2
    if chunk is None:
        chunk = chunk_size(2 * n * k * 8 * 3)

    def losses(logits: Any) -> Any:
        return be.batched_label_loss(logits, labels, CE_DELTA)

    # hidden layer: [W1; b1] (D+1, H); input column D is the constant 1 of the bias
    theta1 = xp.concatenate([w1, b1[None, :]], axis=0)
    x_aug = xp.concatenate([x, xp.ones((n, 1))], axis=1)
    g1 = _central(
        theta1,
        h,
        "W1/b1",
        chunk,
        xp,
        lambda i, j, dlt: losses(_hidden_logits(a1, a2, z, zm, x_aug, w2, i, j, dlt, xp)),
    )
    # output layer: [W2; b2] (H+1, K); hidden column H is the constant 1 of the bias
    theta2 = xp.concatenate([w2, b2[None, :]], axis=0)
    z_aug = xp.concatenate([z, xp.ones((n, 1))], axis=1)
    g2 = _central(
        theta2,
        h,
        "W2/b2",
        chunk,
        xp,
        lambda j, c, dlt: losses(_output_logits(a2, z_aug, j, c, dlt, xp)),
    )
    return {"W1": g1[:d], "b1": g1[d].copy(), "W2": g2[:hdim], "b2": g2[hdim].copy()}


def _central(theta: Any, h: float, name: str, chunk: int, xp: Any, loss_of: Any) -> Any:
    """(L(+) - L(-)) / step for every element of ``theta``, ``chunk`` perturbations at a time."""
    d_plus, d_minus, step = actual_steps(theta, h, name)
    rows, cols = theta.shape
    total = rows * cols
    out = xp.empty(total)
    flat_dp, flat_dm = d_plus.reshape(-1), d_minus.reshape(-1)
    for start in range(0, total, chunk):
        idx = xp.arange(start, min(total, start + chunk))
        r, c = idx // cols, idx % cols
        out[start : start + idx.size] = loss_of(r, c, flat_dp[idx]) - loss_of(r, c, flat_dm[idx])
    return out.reshape(rows, cols) / step


def _hidden_logits(
    a1: Any, a2: Any, z: Any, zm: Any, x_aug: Any, w2: Any, i: Any, j: Any, dlt: Any, xp: Any
) -> Any:
    """Logits (B, N, K) when hidden pre-activation j of every sample moves by x[n, i] * dlt."""
    eps = x_aug[:, i] * dlt  # (N, B)
    dz = _sigmoid_change(a1[:, j], z[:, j], zm[:, j], eps, xp)
    return a2[None, :, :] + dz.T[:, :, None] * w2[j][:, None, :]


def _sigmoid_change(a: Any, z: Any, zm: Any, eps: Any, xp: Any) -> Any:
    """sigmoid(a + eps) - sigmoid(a) without cancellation or overflow, for any ``eps``.

    ``z``, ``zm`` are sigmoid(a) and 1 - sigmoid(a). As the Numba kernels'
    ``_hidden_change``: ``-z zm em / (1 + zm em)``, ``em = expm1(-eps)``, with
    the denominator as ``z + zm exp(-eps)`` where it would cancel; for
    ``|eps| > EPS_EXACT`` or a saturated unit the two sigmoids of ``a + eps`` and ``a`` apart, on
    the tail they share (no expm1 overflow, no inf / inf).
    """
    near = (abs(eps) <= EPS_EXACT) & (z * zm >= G_TINY)
    all_near = bool(near.all())
    e = eps if all_near else xp.where(near, eps, 0.0)  # every lane computes without overflow
    em = xp.expm1(-e)
    y = zm * em
    den = 1.0 + y
    cancels = y < CANCELS
    if bool(cancels.any()):
        den = xp.where(cancels, z + zm * xp.exp(-e), den)
    dz = -z * zm * em / den
    if all_near:
        return dz
    b = a + eps
    upper = (a >= 0) & (b >= 0)
    far = xp.where(upper, _sigmoid(-a, xp) - _sigmoid(-b, xp), _sigmoid(b, xp) - _sigmoid(a, xp))
    return xp.where(near, dz, far)


def _sigmoid(a: Any, xp: Any) -> Any:
    """The logistic, from exp(-|a|): no overflow for any ``a``."""
    e = xp.exp(-abs(a))
    return xp.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _output_logits(a2: Any, z_aug: Any, j: Any, c: Any, dlt: Any, xp: Any) -> Any:
    """Logits (B, N, K) when logit c of every sample moves by z[n, j] * dlt."""
    b = j.size
    logits = xp.broadcast_to(a2, (b,) + a2.shape).copy()
    logits[xp.arange(b), :, c] += (z_aug[:, j] * dlt).T
    return logits
