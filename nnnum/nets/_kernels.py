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

Large inputs or steps (raw pixels, ``h = 5``) leave that range; there the
changes are recomputed exactly, per element, so that no inf - inf or inf / inf
appears: a hidden unit moved by more than ``EPS_EXACT`` (or saturated) from its
cached pre-activation, and logits moved by more than ``U_EXACT`` by
log-sum-exp over ``log q + u`` (see :func:`_hidden_change`,
:func:`_hidden_change_exact`, :func:`_output_change`).  None of this runs on
normalised inputs with the default step.

The kernels here are serial. The host (``_structured``) splits the work into
one task per thread (``numba.get_num_threads()``) on a thread pool: each task
owns its hidden units (columns of ``W1``, rows of ``W2``), or its samples in
the forward pass, writes only its own outputs and sums over samples in order:
results are bit-identical for any thread count. (Parallel loops compiled here
would cost seconds of Numba's parallel passes on every cold start. Nor does a kernel the
host calls call another that is not inlined: Numba links the callee's code into the
caller's and optimises it all again, which cost 0.3 s of ``grad_hidden``'s cold compile
when a wrapper looped over its tasks. ``forward_cache``, for benchmarks only, is the
exception: it calls ``forward_rows``.)
"""

from __future__ import annotations

import math
import types

import numpy as np

from .._core.jit import CONTRACT, kernel

SMALL_U = 2e-4  # degree-4 expm1: remainder |u|^4/120 <= 1.4e-17 relative, below rounding
SMALL_R = 1e-3  # degree-6 log1p is exact to rounding below this
#: |pre-activation step| above which a hidden unit's change is sigmoid(a + eps) - sigmoid(a)
#: from the cached pre-activation: beyond it expm1(-eps) nears overflow (709.78), and z (1 - z)
#: of a saturated unit has lost the information that a + eps brings back
EPS_EXACT = 700.0
#: 1 + (1 - z) em below 1 + CANCELS = 1/8 has lost over 3 bits to cancellation: there it is
#: taken as z + (1 - z) exp(-eps) (above, the formula is kept bit for bit)
CANCELS = -0.875
#: z (1 - z) below this (|a| > ~690): a subnormal z or 1 - z, too coarse for the formula in em
G_TINY = 1e-300
#: max |logit change| above which the loss change is recomputed by log-sum-exp: beyond it the
#: relative changes expm1(u) of the partition sum lose accuracy (and overflow past 709.78)
U_EXACT = 8.0


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


@kernel(inline="always")
def _sigmoid(a):
    """The logistic, as :func:`forward_cache` computes it (no overflow for any ``a``)."""
    if a >= 0.0:
        return 1.0 / (1.0 + math.exp(-a))
    ex = math.exp(a)
    return ex / (1.0 + ex)


@kernel(inline="always")
def _sigmoid_upper(a):
    """1 - sigmoid(a) = sigmoid(-a) for ``a >= 0``, without cancellation."""
    ex = math.exp(-a)
    return ex / (1.0 + ex)


@kernel(inline="always")
def _hidden_change(eps, a, sm, a1):
    """sigmoid(a1 + eps) - sigmoid(a1) for a hidden unit with -z (1 - z) = ``a``, 1 - z = ``sm``.

    For ``|eps| <= EPS_EXACT`` the cancellation-free ``a em / (1 + sm em)``,
    ``em = expm1(-eps)``, with ``1 + sm em`` taken as ``z + sm exp(-eps)`` where
    it would cancel (below ``1 + CANCELS``). Beyond, or for a saturated unit
    (``z (1 - z) < G_TINY``), the two sigmoids of the cached pre-activation
    ``a1`` apart: then the change is large or both lie on the same flat tail,
    and the difference is taken on that tail (1 - sigmoid for ``a1, a1 + eps >= 0``),
    so it does not cancel either.
    """
    if abs(eps) <= EPS_EXACT and -a >= G_TINY:
        em = _expm1(-eps)
        den = 1.0 + sm * em  # one expression, as before: contracted to the same fma
        if den >= 1.0 + CANCELS:
            return a * em / den
        return a * em / (_sigmoid(a1) + sm * math.exp(-eps))
    b = a1 + eps
    if a1 >= 0.0 and b >= 0.0:
        return _sigmoid_upper(a1) - _sigmoid_upper(b)
    return _sigmoid(b) - _sigmoid(a1)


@kernel(inline="always")
def _log_target(lp, dt, s, delta):
    """The book's per-sample loss -log(p' + delta), log p' = ``lp + dt - s``."""
    return -math.log(math.exp(lp + dt - s) + delta)


@kernel(inline="always")
def _log_partition(qr, w, dz):
    """The log partition sum log sum_k q_k exp(dz w_k), by log-sum-exp (classes with q_k > 0)."""
    m = -np.inf
    for c in range(w.size):
        if qr[c] > 0.0:
            m = max(m, math.log(qr[c]) + dz * w[c])
    s = 0.0
    for c in range(w.size):
        if qr[c] > 0.0:
            s += math.exp(math.log(qr[c]) + dz * w[c] - m)
    return m + math.log(s)


@kernel(inline="always")
def _hidden_change_exact(pr, qr, w, wt, dz_p, dz_m, delta):
    """l(+) - l(-) by log-sum-exp when hidden unit j moves by ``dz_p`` / ``dz_m``.

    The logits move by ``dz w`` (``w`` = W2[j], ``wt`` its target entry); the
    softmax of the moved logits is that of ``log q + dz w``, so the loss is
    ``-log(p exp(dz wt - S) + delta)``, ``S = log sum_k q_k exp(dz w_k)``: no
    expm1 of a large argument, finite for any change.
    """
    lp = math.log(pr) if pr > 0.0 else -np.inf
    l_p = _log_target(lp, dz_p * wt, _log_partition(qr, w, dz_p), delta)
    l_m = _log_target(lp, dz_m * wt, _log_partition(qr, w, dz_m), delta)
    return l_p - l_m


@kernel(inline="always")
def _log_shifted_partition(qc, rest, u):
    """log(rest + qc exp(u)): the log partition sum (over the old one) when logit c moves by u."""
    if u > 0.0:
        return u + math.log(rest * math.exp(-u) + qc)
    return math.log(rest + qc * math.exp(u))


@kernel
def sparse_rows(x):
    """The nonzeros of ``[x, 1]`` per sample (CSR): indptr, indices, values, in np.nonzero order."""
    n, d = x.shape
    indptr = np.empty(n + 1, np.int64)
    indptr[0] = 0
    for r in range(n):
        cnt = 1  # the trailing 1
        for i in range(d):
            cnt += x[r, i] != 0.0
        indptr[r + 1] = indptr[r] + cnt
    indices = np.empty(indptr[n], np.int64)
    values = np.empty(indptr[n])
    for r in range(n):
        e = indptr[r]
        for i in range(d):
            v = x[r, i]
            if v != 0.0:
                indices[e] = i
                values[e] = v
                e += 1
        indices[e] = d
        values[e] = 1.0
    return indptr, indices, values


@kernel
def actual_steps_stacked(a, b, h):
    """``actual_steps`` of ``[a; b]`` without stacking: (plus - theta, minus - theta, plus - minus).

    The same arithmetic, elementwise; ``ok`` is False where a parameter is not
    finite or ``h`` is below its resolution (the caller then lets
    ``actual_steps`` raise its error).
    """
    rows, cols = a.shape
    dp = np.empty((rows + 1, cols))
    dm = np.empty((rows + 1, cols))
    st = np.empty((rows + 1, cols))
    ok = True
    for i in range(rows + 1):
        for j in range(cols):
            t = a[i, j] if i < rows else b[j]
            plus = t + h
            minus = t - h
            step = plus - minus
            dp[i, j] = plus - t
            dm[i, j] = minus - t
            st[i, j] = step
            ok &= (abs(t) < np.inf) & (step > 0.0)
    return dp, dm, st, ok


@kernel
def forward_rows(lo, hi, indptr, indices, values, w1, b1, w2, b2, labels, z, zm, q, p, coef):
    """Rows ``lo:hi`` of :func:`forward_cache` into its arrays ``z, zm, q, p, coef``.

    One task of the host's thread pool (``_structured``): each task owns its
    rows, so the result is the same for any split and thread count.
    """
    hdim = w1.shape[1]
    k = w2.shape[1]
    for r in range(lo, hi):
        a1 = b1.copy()
        for e in range(indptr[r], indptr[r + 1]):
            i = indices[e]
            if i < w1.shape[0]:  # the trailing bias entry of [x, 1] is b1, already in a1
                xv = values[e]
                for j in range(hdim):
                    a1[j] += xv * w1[i, j]
        for j in range(hdim):
            a = a1[j]
            coef[12, r, j] = a
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
        _unit_coefficients(r, z, zm, q, labels, w2, coef)


@kernel
def forward_cache(indptr, indices, values, w1, b1, w2, b2, labels):
    """Forward pass pieces from the nonzeros of x (CSR): z, 1 - z (accurate), softmax q, p.

    And the per-(sample, hidden unit) constants of :func:`grad_hidden` (see
    :func:`hidden_coefficients`), in the same loop over samples. All rows in
    one thread: the library runs :func:`forward_rows` on its thread pool
    instead (this kernel is for a one-thread breakdown, ``benchmarks.ratios``).

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
    coef = np.empty((13, n, hdim))
    forward_rows(0, n, indptr, indices, values, w1, b1, w2, b2, labels, z, zm, q, p, coef)
    return z, zm, q, p, coef


@kernel
def hidden_coefficients(zs, zm, q, labels, w2):
    """Per (sample, hidden unit) constants of the hidden-layer loss changes, (13, N, H).

    Rows 0-4: the Taylor coefficients d_k = sigma^(k)(a) / k! of
    ``dz(eps) = sigmoid(a + eps) - sigmoid(a)``, from z and 1 - z; rows 5-8: the
    moments ``M_m = sum_k q_k W2[j, k]^m`` as M1, M2/2, M3/6, M4/24; row 9:
    W2[j, t_n]; row 10: max_k |W2[j, k]|; row 11: 1 - z; row 12: the
    pre-activation a (:func:`forward_cache` stores the one it computed; here it
    is ``log z - log(1 - z)``). Computed once per call (:func:`forward_cache`
    does it in its loop) instead of once per (hidden unit, sample) inside
    :func:`grad_hidden`.
    """
    n, hdim = zs.shape
    coef = np.empty((13, n, hdim))
    for r in range(n):
        _unit_coefficients(r, zs, zm, q, labels, w2, coef)
        for j in range(hdim):
            lz = math.log(zs[r, j]) if zs[r, j] > 0.0 else -np.inf
            lzm = math.log(zm[r, j]) if zm[r, j] > 0.0 else -np.inf
            coef[12, r, j] = lz - lzm
    return coef


@kernel(inline="always")
def _unit_coefficients(r, zs, zm, q, labels, w2, coef):
    """coef[:, r, :] of :func:`hidden_coefficients` for sample r."""
    hdim, kdim = w2.shape
    t = labels[r]
    for j in range(hdim):
        s = zs[r, j]
        sm = zm[r, j]
        m1 = 0.0
        m2 = 0.0
        m3 = 0.0
        m4 = 0.0
        wmax = 0.0
        for c in range(kdim):
            wc = w2[j, c]
            wmax = max(wmax, abs(wc))
            qw = q[r, c] * wc
            m1 += qw
            qw *= wc
            m2 += qw
            qw *= wc
            m3 += qw
            m4 += qw * wc
        # g = sigma'; sigma^(2) = g (1 - 2s), sigma^(3) = g (1 - 6g),
        # sigma^(4) = g (1 - 2s)(1 - 12g), sigma^(5) = g (1 - 30g + 120g^2)
        g = s * sm
        odd = sm - s
        coef[0, r, j] = g
        coef[1, r, j] = g * odd / 2.0
        coef[2, r, j] = g * (1.0 - 6.0 * g) / 6.0
        coef[3, r, j] = g * odd * (1.0 - 12.0 * g) / 24.0
        coef[4, r, j] = g * (1.0 - 30.0 * g + 120.0 * g * g) / 120.0
        coef[5, r, j] = m1
        coef[6, r, j] = 0.5 * m2
        coef[7, r, j] = m3 / 6.0
        coef[8, r, j] = m4 / 24.0
        coef[9, r, j] = w2[j, t]
        coef[10, r, j] = wmax
        coef[11, r, j] = sm


@kernel(inline="always")
def _expm1_poly(u):
    """The small-argument branch of :func:`_expm1`, unconditionally."""
    return u * (1.0 + u * (0.5 + u * (1.0 / 6.0 + u * (1.0 / 24.0))))


@kernel(inline="always")
def _log1p_poly(r):
    """The small-argument branch of :func:`_log1p`, unconditionally."""
    return r * (1.0 - r * (0.5 - r * (1.0 / 3.0 - r * (0.25 - r * (0.2 - r * (1.0 / 6.0))))))


@kernel(inline="always")
def _pixel_change_fast(xv, dp, dm, d1, d2, d3, d4, d5, m1, m2h, m3s, m4s, wt, wmax, pr, delta):
    """(l(+) - l(-), ok) for one (sample, pixel, hidden unit): polynomials and one division.

    Branch-free, so that a loop over hidden units vectorises (no libm call, no
    branch). The change of the hidden unit is its Taylor polynomial in the
    pre-activation step eps = x * step (degree 5: for |eps| <= 2e-4 the first
    omitted term is below 1e-19 relative, the logistic's Taylor coefficients
    being bounded by sigma'); the loss change takes one common denominator.
    ``ok`` says whether every argument lay where the polynomials are exact to
    rounding (the thresholds of :func:`_pixel_change`); otherwise the caller
    recomputes with that function.
    """
    e_p = xv * dp
    e_m = xv * dm
    dz_p = e_p * (d1 + e_p * (d2 + e_p * (d3 + e_p * (d4 + e_p * d5))))
    dz_m = e_m * (d1 + e_m * (d2 + e_m * (d3 + e_m * (d4 + e_m * d5))))
    phi_p = dz_p * (m1 + dz_p * (m2h + dz_p * (m3s + dz_p * m4s)))
    phi_m = dz_m * (m1 + dz_m * (m2h + dz_m * (m3s + dz_m * m4s)))
    et_p = _expm1_poly(dz_p * wt)
    et_m = _expm1_poly(dz_m * wt)
    num = (et_m - et_p) + (phi_p - phi_m) + (et_m * phi_p - et_p * phi_m)
    # (p'_- - p'_+) / (p'_+ + delta), p'_+- = p (1 + et) / (1 + phi), over one denominator
    ratio = pr * num / ((1.0 + phi_m) * (pr * (1.0 + et_p) + delta * (1.0 + phi_p)))
    ok = (
        (abs(e_p) <= SMALL_U)
        & (abs(e_m) <= SMALL_U)
        & (abs(dz_p) * wmax <= SMALL_U)  # as max(|dz_p|, |dz_m|) * wmax <= SMALL_U: rounding
        & (abs(dz_m) * wmax <= SMALL_U)  # is monotonic (and Numba's max() is a call)
        & (abs(ratio) <= SMALL_R)
    )
    return _log1p_poly(ratio), ok


@kernel(inline="always")
def _pixel_change(xv, dp, dm, cf, g, plane, pr, qr, w, delta):
    """l(+) - l(-) for one (sample, pixel, hidden unit): libm wherever a polynomial would not do.

    The unit's coefficients are ``cf[g + k * plane]`` (the 13 planes of
    :func:`hidden_coefficients`, flat: ``g`` is the unit's index in the first).
    Its pre-activation (plane 12) is where the change of a unit pushed far
    (``|x step| > EPS_EXACT``) is recomputed from; a change of the logits by
    more than ``U_EXACT`` takes the log-sum-exp of :func:`_hidden_change_exact`.
    """
    a = -cf[np.uintp(g)]
    m1 = cf[np.uintp(g + 5 * plane)]
    m2h = cf[np.uintp(g + 6 * plane)]
    m3s = cf[np.uintp(g + 7 * plane)]
    m4s = cf[np.uintp(g + 8 * plane)]
    wt = cf[np.uintp(g + 9 * plane)]
    wmax = cf[np.uintp(g + 10 * plane)]
    sm = cf[np.uintp(g + 11 * plane)]
    a1 = cf[np.uintp(g + 12 * plane)]
    dz_p = _hidden_change(xv * dp, a, sm, a1)
    dz_m = _hidden_change(xv * dm, a, sm, a1)
    big = max(abs(dz_p), abs(dz_m)) * wmax
    if big <= SMALL_U:
        phi_p = dz_p * (m1 + dz_p * (m2h + dz_p * (m3s + dz_p * m4s)))
        phi_m = dz_m * (m1 + dz_m * (m2h + dz_m * (m3s + dz_m * m4s)))
        et_p = _expm1(dz_p * wt)
        et_m = _expm1(dz_m * wt)
    elif big <= U_EXACT:
        phi_p = 0.0
        phi_m = 0.0
        for c in range(w.size):
            phi_p += qr[c] * math.expm1(dz_p * w[c])
            phi_m += qr[c] * math.expm1(dz_m * w[c])
        et_p = math.expm1(dz_p * wt)
        et_m = math.expm1(dz_m * wt)
    else:
        return _hidden_change_exact(pr, qr, w, wt, dz_p, dz_m, delta)
    return _loss_change(pr, et_m, phi_m, et_p, phi_p, delta)


def _grad_hidden_py(
    c, indptr, indices, values, coef, q, p, w2, dplus, dminus, step, delta, bounds, out, status
):
    """Task ``c``: the loss changes for hidden units ``bounds[c]:bounds[c + 1]`` of W1 and b1.

    ``indptr/indices/values`` hold the nonzeros of ``[x, 1]`` per sample (CSR);
    ``coef`` is :func:`hidden_coefficients`; ``dplus``/``dminus``/``step`` (D+1, H)
    the steps actually taken for each parameter and their difference; ``out``
    (D+1, >= H) receives the central differences sum_n (l_n(+h) - l_n(-h)) / (N step)
    in its first H columns, W1 in rows 0..D-1 and b1 in row D: with rows of a
    multiple of 64 bytes, 64-byte aligned, and task bounds at multiples of 8
    units, no two tasks write to one cache line (the tasks walk the same pixels
    at the same time: shared lines would bounce between the cores on every pixel).

    The task walks the samples in order, and for each nonzero pixel evaluates
    all its hidden units in one loop over contiguous rows, which LLVM
    vectorises: polynomials only, then the rare unit outside their range
    recomputed exactly. Every sum runs over samples in order, whatever the
    bounds and thread count. The host runs the tasks ``c = 0 .. bounds.size - 2``
    one per thread (``_structured._grad_hidden``).

    Compiled twice (see :func:`_fast_and_exact`): the fast variant stops at the
    first unit outside the polynomials' range and sets ``status[c]``; the caller
    then runs every task of ``grad_hidden_exact``, which recomputes such units
    with :func:`_pixel_change`.
    """
    n = indptr.size - 1
    rows, hdim = dplus.shape
    ostride = out.shape[1]
    dpf = dplus.reshape(-1)
    dmf = dminus.reshape(-1)
    of = out.reshape(-1)
    cf = coef.reshape(-1)
    plane = n * hdim
    j0 = bounds[c]
    w = bounds[c + 1] - j0
    # this task's flags, a cache line clear of anything another task writes: written for
    # every pixel, a line shared with another task's small array would bounce between cores
    bad = np.empty(w + 128, np.uint8)[64 : 64 + w]
    for i in range(rows):
        for jj in range(w):
            of[np.uintp(i * ostride + j0 + jj)] = 0.0
    for r in range(n):
        b = r * hdim + j0  # (r, j0) in each (N, H) plane of coef
        pr = p[r]
        for e in range(indptr[r], indptr[r + 1]):
            xv = values[e]
            row = indices[e] * hdim + j0  # flat index of (pixel, first unit); unsigned below:
            orow = indices[e] * ostride + j0  # no negative-index wraparound: LLVM sees
            nbad = 0  # contiguous rows
            for jj in range(w):
                f = np.uintp(row + jj)
                val, ok = _pixel_change_fast(
                    xv,
                    dpf[f],
                    dmf[f],
                    cf[np.uintp(b + jj)],
                    cf[np.uintp(plane + b + jj)],
                    cf[np.uintp(2 * plane + b + jj)],
                    cf[np.uintp(3 * plane + b + jj)],
                    cf[np.uintp(4 * plane + b + jj)],
                    cf[np.uintp(5 * plane + b + jj)],
                    cf[np.uintp(6 * plane + b + jj)],
                    cf[np.uintp(7 * plane + b + jj)],
                    cf[np.uintp(8 * plane + b + jj)],
                    cf[np.uintp(9 * plane + b + jj)],
                    cf[np.uintp(10 * plane + b + jj)],
                    pr,
                    delta,
                )
                of[np.uintp(orow + jj)] += val if ok else 0.0
                bad[jj] = not ok
                nbad += not ok
            if nbad:  # rare on real data: the units whose arguments were out of range
                if not _EXACT:
                    status[c] = 1
                    return
                for jj in range(w):
                    if bad[jj]:
                        f = np.uintp(row + jj)
                        of[np.uintp(orow + jj)] += _pixel_change(
                            xv, dpf[f], dmf[f], cf, b + jj, plane, pr, q[r], w2[j0 + jj], delta
                        )
    stf = step.reshape(-1)
    for i in range(rows):
        for jj in range(w):
            fo = np.uintp(i * ostride + j0 + jj)
            of[fo] = of[fo] / (n * stf[np.uintp(i * hdim + j0 + jj)])


@kernel(inline="always")
def _output_change_fast(zv, dp, dm, qc, is_t, pr, delta):
    """(l(+) - l(-), ok) when logit k of one sample moves by ``zv * dp`` / ``zv * dm``.

    Polynomials only, branch-free (see :func:`_pixel_change_fast`); where ``ok``
    the value is bit-identical to :func:`_output_change`.
    """
    u_p = zv * dp
    u_m = zv * dm
    em_p = _expm1_poly(u_p)
    em_m = _expm1_poly(u_m)
    et_p = em_p if is_t else 0.0
    et_m = em_m if is_t else 0.0
    phi_p = qc * em_p
    phi_m = qc * em_m
    num = (et_m - et_p) + (phi_p - phi_m) + (et_m * phi_p - et_p * phi_m)
    diff = pr * num / ((1.0 + phi_m) * (1.0 + phi_p))
    p_plus = pr * (1.0 + et_p) / (1.0 + phi_p)
    ratio = diff / (p_plus + delta)
    ok = (abs(u_p) <= SMALL_U) & (abs(u_m) <= SMALL_U) & (abs(ratio) <= SMALL_R)
    return _log1p_poly(ratio), ok


@kernel(inline="always")
def _output_change(zv, dp, dm, qc, rest, is_t, pr, delta):
    """l(+) - l(-) when logit k of one sample moves: libm wherever a polynomial would not do.

    ``rest`` is the sum of the other classes' probabilities (not ``1 - qc``,
    which cancels when ``qc`` nears 1); a move by more than ``U_EXACT`` takes
    the log partition sum of :func:`_log_shifted_partition`, finite for any step.
    """
    u_p = zv * dp
    u_m = zv * dm
    if max(abs(u_p), abs(u_m)) > U_EXACT:
        lp = math.log(pr) if pr > 0.0 else -np.inf
        l_p = _log_target(lp, u_p if is_t else 0.0, _log_shifted_partition(qc, rest, u_p), delta)
        l_m = _log_target(lp, u_m if is_t else 0.0, _log_shifted_partition(qc, rest, u_m), delta)
        return l_p - l_m
    em_p = _expm1(u_p)
    em_m = _expm1(u_m)
    et_p = em_p if is_t else 0.0
    et_m = em_m if is_t else 0.0
    return _loss_change(pr, et_m, qc * em_m, et_p, qc * em_p, delta)


def _grad_output_py(zt, qt, p, labels, dplus, dminus, step, delta, out, status):
    """Central differences for W2 (rows 0..H-1 of ``out``) and b2 (row H).

    ``zt`` is ``[z, 1]`` transposed (H+1, N), ``qt`` the softmax transposed
    (K, N); ``dplus``/``dminus``/``step``/``out`` are (H+1, K). For each
    parameter the per-sample changes are evaluated in one vectorised loop over
    samples (polynomials, then the rare sample outside their range exactly) and
    summed in sample order, samples with z == 0 skipped. Rows one after the
    other; the host gives each thread its own rows (slices of ``zt``, the
    steps, ``out``, ``status``).

    Fast and exact variants as :func:`grad_hidden`'s: the fast one stops at the
    first row with a sample outside the polynomials' range and sets its byte
    of ``status``.
    """
    kdim = out.shape[1]
    n = zt.shape[1]
    tmp = np.empty(n)
    bad = np.empty(n, np.uint8)
    for j in range(out.shape[0]):
        for c in range(kdim):
            dp = dplus[j, c]
            dm = dminus[j, c]
            nbad = 0
            for r in range(n):
                val, ok = _output_change_fast(
                    zt[j, r], dp, dm, qt[c, r], labels[r] == c, p[r], delta
                )
                tmp[r] = val
                bad[r] = not ok
                nbad += not ok
            if nbad:
                if not _EXACT:
                    status[j] = 1
                    return
                for r in range(n):
                    if bad[r]:
                        rest = 0.0
                        for o in range(kdim):
                            if o != c:
                                rest += qt[o, r]
                        tmp[r] = _output_change(
                            zt[j, r], dp, dm, qt[c, r], rest, labels[r] == c, p[r], delta
                        )
            acc = 0.0
            for r in range(n):
                if zt[j, r] != 0.0:
                    acc += tmp[r]
            out[j, c] = acc / (n * step[j, c])


#: Set to True in the exact variants' globals (:func:`_fast_and_exact`); False is never read
_EXACT = False


def _fast_and_exact(func, name, **options):
    """(fast, exact) kernels from one body, ``_EXACT`` a constant False / True in each.

    Numba prunes the branch on a global constant before typing, so the fast
    variant never compiles the exact recomputation (:func:`_pixel_change`,
    :func:`_output_change` and their log-sum-exp: over a second of a cold start)
    and the exact one is the body as it was, bit for bit; the exact variant is
    compiled only for a batch that needs it.
    """
    out = []
    for suffix, exact in (("", False), ("_exact", True)):
        glob = dict(func.__globals__, _EXACT=exact)
        clone = types.FunctionType(
            func.__code__, glob, name + suffix, func.__defaults__, func.__closure__
        )
        clone.__qualname__ = name + suffix
        clone.__doc__ = func.__doc__
        clone.__module__ = func.__module__
        out.append(kernel(clone, **options))
    return out[0], out[1]


grad_hidden, grad_hidden_exact = _fast_and_exact(_grad_hidden_py, "grad_hidden", fastmath=CONTRACT)


grad_output, grad_output_exact = _fast_and_exact(_grad_output_py, "grad_output")
