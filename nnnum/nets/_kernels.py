"""Private Numba kernels for the structured numerical gradient of ``TwoLayerNet``.

The network is ``a1 = x W1 + b1``, ``z = sigmoid(a1)``, ``a2 = z W2 + b2`` and
the book's loss ``L = -1/N sum_n log(softmax(a2_n)[t_n] + delta)``.  The
central difference of ``L`` in one parameter needs ``L`` at ``theta + h`` and
``theta - h``; a full forward pass per perturbation (the book's way) is
wasteful, because

* perturbing ``W1[i, j]`` or ``b1[j]`` changes only hidden unit ``j``, and for
  ``W1[i, j]`` only in the samples with ``x[n, i] != 0``;
* perturbing ``W2[j, k]`` or ``b2[k]`` changes only logit ``k``.

So each perturbed *per-sample* loss is recomputed from the cached forward pass
(``z``, ``1 - z``, the softmax ``q`` and target probability ``p``) in
O(classes), and the per-sample loss change ``l_n(+h) - l_n(-h)`` is formed
directly, without subtracting two whole-batch losses:

    p'       = p (1 + expm1(u_t)) / (1 + phi),   phi = sum_k q_k expm1(u_k)
    l(+)-l(-) = log1p((p'_- - p'_+) / (p'_+ + delta))

where ``u_k`` is the change of logit ``k``.  For a hidden-unit change ``dz``,
``u_k = dz W2[j, k]`` and ``phi = sum_m dz^m/m! M_m`` with the moments
``M_m = sum_k q_k W2[j, k]^m``: the same polynomial, summed in another order.
``expm1`` and ``log1p`` of small arguments use their Taylor polynomials only
where the remainder is below double rounding (|u| <= 2e-4 at degree 4,
|r| <= 1e-3 at degree 6); larger arguments use libm.  The perturbation itself
is the step actually taken, ``(theta + h) - theta``, as in a brute-force pass.

Every ``prange`` iteration owns one hidden unit (one column of ``W1``, one
row of ``W2``) and sums over samples in order: results are bit-identical for
any thread count.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._jit import kernel

SMALL_U = 2e-4  # degree-4 expm1: remainder |u|^4/120 <= 1.4e-17 relative, below rounding
SMALL_R = 1e-3  # degree-6 log1p is exact to rounding below this


@kernel(inline="always")
def _expm1(u):
    if abs(u) <= SMALL_U:
        return u * (1.0 + u * (0.5 + u * (1.0 / 6.0 + u * (1.0 / 24.0))))
    return math.expm1(u)


@kernel(inline="always")
def _log1p(r):
    if abs(r) <= SMALL_R:
        return r * (1.0 - r * (0.5 - r * (1.0 / 3.0 - r * (0.25 - r * (0.2 - r * (1.0 / 6.0))))))
    return math.log1p(r)


@kernel(inline="always")
def _loss_change(p, et_m, phi_m, et_p, phi_p, delta):
    """l(+) - l(-) for one sample from the relative changes of target prob and partition sum."""
    num = (et_m - et_p) + (phi_p - phi_m) + (et_m * phi_p - et_p * phi_m)
    diff = p * num / ((1.0 + phi_m) * (1.0 + phi_p))  # p'_- - p'_+
    p_plus = p * (1.0 + et_p) / (1.0 + phi_p)
    return _log1p(diff / (p_plus + delta))


@kernel(parallel=True)
def forward_cache(indptr, indices, values, w1, b1, w2, b2, labels):
    """Forward pass pieces from the nonzeros of x (CSR): z, 1 - z (accurate), softmax q, p.

    Loops instead of BLAS: no BLAS thread pool spins against the kernels that follow,
    and zero pixels cost nothing.
    """
    n = indptr.size - 1
    hdim = w1.shape[1]
    k = w2.shape[1]
    z = np.empty((n, hdim))
    zm = np.empty((n, hdim))
    q = np.empty((n, k))
    p = np.empty(n)
    for r in prange(n):
        a1 = b1.copy()
        for e in range(indptr[r], indptr[r + 1]):
            i = indices[e]
            if i < w1.shape[0]:  # the trailing bias entry of [x, 1] is b1, already in a1
                xv = values[e]
                for j in range(hdim):
                    a1[j] += xv * w1[i, j]
        for j in range(hdim):
            a = a1[j]
            if a >= 0.0:
                ex = math.exp(-a)
                z[r, j] = 1.0 / (1.0 + ex)
                zm[r, j] = ex / (1.0 + ex)
            else:
                ex = math.exp(a)
                z[r, j] = ex / (1.0 + ex)
                zm[r, j] = 1.0 / (1.0 + ex)
        a2 = b2.copy()
        for j in range(hdim):
            zj = z[r, j]
            for c in range(k):
                a2[c] += zj * w2[j, c]
        m = a2[0]
        for c in range(1, k):
            if a2[c] > m:
                m = a2[c]
        s = 0.0
        for c in range(k):
            q[r, c] = math.exp(a2[c] - m)
            s += q[r, c]
        for c in range(k):
            q[r, c] /= s
        p[r] = q[r, labels[r]]
    return z, zm, q, p


@kernel(parallel=True)
def grad_hidden(indptr, indices, values, zs, zm, q, p, labels, w2, dplus, dminus, delta, out):
    """Loss changes for W1 (columns 0..D-1 of ``out``) and b1 (column D), per hidden unit.

    ``indptr/indices/values`` hold the nonzeros of ``[x, 1]`` per sample (CSR);
    ``dplus``/``dminus`` (H, D+1) the steps actually taken for each parameter;
    ``out`` (H, D+1) receives sum_n (l_n(+h) - l_n(-h)).
    """
    n = zs.shape[0]
    hdim, kdim = w2.shape
    for j in prange(hdim):
        col = np.zeros(out.shape[1])
        w = w2[j]
        wmax = 0.0
        for c in range(kdim):
            wmax = max(wmax, abs(w[c]))
        for r in range(n):
            s = zs[r, j]
            sm = zm[r, j]
            t = labels[r]
            wt = w[t]
            pr = p[r]
            m1 = 0.0
            m2 = 0.0
            m3 = 0.0
            m4 = 0.0
            for c in range(kdim):
                wc = w[c]
                qw = q[r, c] * wc
                m1 += qw
                qw *= wc
                m2 += qw
                qw *= wc
                m3 += qw
                m4 += qw * wc
            for e in range(indptr[r], indptr[r + 1]):
                i = indices[e]
                xv = values[e]
                # + step
                em = _expm1(-(xv * dplus[j, i]))
                dz_p = -s * sm * em / (1.0 + sm * em)
                # - step
                em = _expm1(-(xv * dminus[j, i]))
                dz_m = -s * sm * em / (1.0 + sm * em)
                if max(abs(dz_p), abs(dz_m)) * wmax <= SMALL_U:
                    phi_p = dz_p * (m1 + dz_p * (0.5 * m2 + dz_p * (m3 / 6.0 + dz_p * (m4 / 24.0))))
                    phi_m = dz_m * (m1 + dz_m * (0.5 * m2 + dz_m * (m3 / 6.0 + dz_m * (m4 / 24.0))))
                    et_p = _expm1(dz_p * wt)
                    et_m = _expm1(dz_m * wt)
                else:
                    phi_p = 0.0
                    phi_m = 0.0
                    for c in range(kdim):
                        phi_p += q[r, c] * math.expm1(dz_p * w[c])
                        phi_m += q[r, c] * math.expm1(dz_m * w[c])
                    et_p = math.expm1(dz_p * wt)
                    et_m = math.expm1(dz_m * wt)
                col[i] += _loss_change(pr, et_m, phi_m, et_p, phi_p, delta)
        for i in range(out.shape[1]):
            out[j, i] = col[i]


@kernel(parallel=True)
def grad_output(z_aug, q, p, labels, dplus, dminus, delta, out):
    """Loss changes for W2 (rows 0..H-1 of ``out``) and b2 (row H).

    ``z_aug`` is ``[z, 1]`` (N, H+1); ``dplus``/``dminus``/``out`` are (H+1, K).
    """
    n = z_aug.shape[0]
    rows, kdim = out.shape
    for j in prange(rows):
        for c in range(kdim):
            acc = 0.0
            for r in range(n):
                zv = z_aug[r, j]
                if zv == 0.0:
                    continue
                qc = q[r, c]
                em_p = _expm1(zv * dplus[j, c])
                em_m = _expm1(zv * dminus[j, c])
                is_t = labels[r] == c
                et_p = em_p if is_t else 0.0
                et_m = em_m if is_t else 0.0
                acc += _loss_change(p[r], et_m, qc * em_m, et_p, qc * em_p, delta)
            out[j, c] = acc
