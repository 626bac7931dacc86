"""The complex-step Jacobian's finish over a plan's nonzeros, in one compiled pass.

:func:`colour_steps` does what :func:`nnnum.diff.jacobian_complex.complex_jacobian` does in NumPy
when nothing needs a second step (about ten passes over the nonzeros there, one
here): every value of the colours finite, the check direction doubling exactly
output by output, and then ``D = Im f / h`` with its rounding estimate
(:func:`nnnum.diff.complex_step.rounding`), bit for bit the same numbers. Where
it cannot finish (a non-finite value, an output whose direction does not double,
a derivative that overflows) it says which, and the NumPy code takes over and
raises or steps again as it always does.
"""

from __future__ import annotations

import math

import numpy as np

from .._core.jit import kernel

__all__ = ["DONE", "NOT_FINITE", "DISAGREE", "OVERFLOW", "NOT_REAL_AT_X", "colour_steps"]

#: :func:`colour_steps` finished: ``df`` and ``err`` hold the result.
DONE = 0
#: A value of ``f`` at a colour's point is NaN or inf.
NOT_FINITE = 1
#: An output's two values along the check direction do not double exactly.
DISAGREE = 2
#: ``Im f / h`` overflowed.
OVERFLOW = 3
#: ``f(x)`` itself is not real, or not finite.
NOT_REAL_AT_X = 4


@kernel
def colour_steps(F, C, xrow, gather, dense_n, hs, elem, eps2, tiny, df, err):  # pragma: no cover
    """``df[j] = Im F[colour, output] / h`` of nonzero ``j`` and its rounding, or a reason not to.

    ``F``: ``(C + 2, m)`` complex (C-ordered), the colours' values at ``x + ih``
    then the check direction's at ``t = 1, 2``. Nonzero ``j`` is read at the flat
    position ``gather[j]`` of ``F[:C]`` (a coloured plan), or, for a dense plan
    (``dense_n = n > 0``), at colour ``j % n`` and output ``j // n``; its element
    is ``elem[j]`` (dense: ``j % n``). ``eps2 = 2 eps`` and ``tiny`` the smallest
    subnormal of ``x``'s dtype. Returns :data:`DONE` or the reason it stopped.
    """
    m = F.shape[1]
    flat = F.reshape(-1)
    bad = False
    if xrow >= 0:
        for k in range(m):
            v = F[xrow, k]
            bad |= not (np.isfinite(v.real) and v.imag == 0.0)
        if bad:
            return NOT_REAL_AT_X
    for q in range(C * m):  # no early exit: the loop vectorises
        v = flat[q]
        bad |= not (np.isfinite(v.real) and np.isfinite(v.imag))
    if bad:
        return NOT_FINITE
    for k in range(m):
        bad |= not F[C + 1, k].imag == 2.0 * F[C, k].imag  # NaN: not known to agree
    if bad:
        return DISAGREE
    # per element: the floor tiny / h, and 1 / h where h is a power of two (then
    # Im f * (1 / h) is Im f / h, bit for bit; the automatic steps are powers of two).
    # Computed where h changes from the element before: a subnormal numerator makes a
    # division slow, and the steps take few values (one for a given h)
    floor = np.empty(hs.size)
    inv = np.empty(hs.size)
    last, last_floor, last_inv = -1.0, 0.0, 0.0
    for i in range(hs.size):
        h = hs[i]
        if h != last:
            last = h
            last_floor = tiny / h
            mant, _ = math.frexp(h)
            last_inv = 1.0 / h if mant == 0.5 else 0.0  # 0: divide
        floor[i] = last_floor
        inv[i] = last_inv
    if dense_n > 0:
        for j in range(df.size):
            k = j // dense_n
            i = j - k * dense_n
            v = F[i, k].imag
            d = v * inv[i] if inv[i] != 0.0 else v / hs[i]
            df[j] = d
            err[j] = abs(d) * eps2 + floor[i]
    else:
        for j in range(df.size):
            i = elem[j]
            v = flat[gather[j]].imag
            d = v * inv[i] if inv[i] != 0.0 else v / hs[i]
            df[j] = d
            err[j] = abs(d) * eps2 + floor[i]
    for j in range(df.size):
        bad |= not np.isfinite(df[j])
    return OVERFLOW if bad else DONE
