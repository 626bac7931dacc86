"""The prange engine's kernels, specialised to each jitted ``f`` (:mod:`.prange` runs them).

Every kernel splits its work into chunks (:func:`split`), each chunk running
on its own copy of ``x`` and restoring what it set, so that every evaluation
sees ``x`` with only its own perturbation, whatever the thread and chunk count:
the parallel and serial kernels give the same bits. Each chunk ticks its
``done`` flag last thing; an unticked chunk means ``f`` raised in a worker
thread (see :func:`.prange._run`). ``f`` is a compile-time constant of the
kernel (a closure variable), not an argument: nothing is cached on disk.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import prange

from ..._core.jit import kernel


@kernel(inline="always", cache=False)  # reads the thread count: nothing to cache
def default_chunks(n):
    """Chunks of elements for a parallel kernel: four per thread (load balance), at most ``n``."""
    return max(1, min(n, 4 * numba.get_num_threads()))


@kernel(inline="always", cache=False)
def split(n, nchunks, done):
    """The chunk size; ``done`` cleared for the ``nchunks`` chunks to run, set for the rest."""
    for c in range(done.size):
        done[c] = c >= nchunks
    return (n + nchunks - 1) // nchunks


def build(f: Any) -> tuple[Any, Any, Any, Any, Any]:
    """The gradient kernels specialised to ``f``.

    ``(perturb parallel, perturb serial, (book parallel, book serial), complex step
    parallel, complex step serial)``.
    """

    def perturb(x, points, shape, nchunks, out, done):
        """F at x with element i set to points[r, i], for every row r and element i.

        Each chunk of parameters perturbs its own copy of ``x`` (one copy per
        chunk, not per element) and restores element i exactly before moving on,
        so every evaluation sees ``x`` with one element changed, whatever the
        thread and chunk count: the results are bit-identical to the serial loop.
        """
        n = x.size
        rows = points.shape[0]
        chunk = split(n, nchunks, done)
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for i in range(lo, hi):
                    for r in range(rows):
                        xc[i] = points[r, i]
                        out[r, i] = f(xv)
                    xc[i] = x[i]
            done[c] = True

    def book(x, h, h64, df, state, lanes, done):
        """The book's central difference at every element, in parallel lanes.

        One lane per thread, ``lanes`` at most. Lane 0 perturbs ``x`` itself in
        place, every other lane a copy of it taken before any lane starts: one
        copy of ``x`` per lane beyond the first (the serial kernel, one lane:
        none). Each lane reads ``x_i`` from its own buffer and restores what it
        set, so every evaluation sees ``x`` with only its own perturbation and
        ``x`` ends as it began. ``state`` (three float64):
        while lane 0 has element ``i`` of ``x`` perturbed, ``state[1] == i`` and
        ``state[2]`` holds its value (else ``state[1] == -1``), so that the
        caller restores it if ``f`` raises. ``state[0]`` (bad) is set to 1 as
        soon as a lane meets an element whose step rounds
        by more than 1% of ``2 h`` (or is NaN) or whose difference is not
        finite; the caller then takes the general path. Every element is
        computed alike: bit-identical for any lane and thread count. ``done``:
        see :func:`.prange._run`.
        """
        n = x.size
        flat = x.reshape(-1)
        dflat = df.reshape(-1)
        nlanes = max(1, min(n, lanes, numba.get_num_threads(), done.size))  # a done flag each
        spare = np.empty((nlanes - 1, n), dtype=flat.dtype)
        for c in range(nlanes - 1):
            for i in range(n):  # a loop: array-to-array setitem costs ~1.5 s of first compile
                spare[c, i] = flat[i]
        two_h = 2.0 * h64
        tolerance = 0.02 * h64
        chunk = split(n, nlanes, done)
        state[1] = -1.0
        for c in prange(nlanes):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if lo < hi:
                xcf = flat if c == 0 else spare[c - 1]
                xc = xcf.reshape(x.shape)
                for i in range(lo, hi):
                    xi = xcf[i]
                    xp = xi + h
                    xm = xi - h
                    step = np.float64(xp) - np.float64(xm)
                    if not abs(step - two_h) <= tolerance:
                        state[0] = 1.0
                        break
                    if c == 0:
                        state[2] = xi
                        state[1] = i
                    xcf[i] = xp
                    fp = np.float64(f(xc))
                    xcf[i] = xm
                    fm = np.float64(f(xc))
                    xcf[i] = xi
                    if c == 0:
                        state[1] = -1.0
                    d = (fp - fm) / step
                    if not np.isfinite(d):
                        state[0] = 1.0
                        break
                    dflat[i] = d
            done[c] = True

    def csteps(xc0, h, out, done):
        """Im f at x + i h_k e_k and x + 2i h_k e_k for every k, each chunk on its own copy of x."""
        n = xc0.size
        flat = xc0.reshape(-1)
        nchunks = default_chunks(n)
        chunk = split(n, nchunks, done)
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(n, lo + chunk)
            if lo < hi:
                xc = xc0.copy()
                xcf = xc.reshape(-1)
                for k in range(lo, hi):
                    z = flat[k]
                    xcf[k] = z + 1j * h[k]
                    out[0, k] = f(xc).imag
                    xcf[k] = z + 1j * (2.0 * h[k])
                    out[1, k] = f(xc).imag
                    xcf[k] = z
            done[c] = True

    return (
        kernel(perturb, parallel=True, cache=False),
        kernel(perturb, parallel=False, cache=False),
        (kernel(book, parallel=True, cache=False), kernel(book, parallel=False, cache=False)),
        kernel(csteps, parallel=True, cache=False),
        kernel(csteps, parallel=False, cache=False),
    )


@kernel(inline="always", cache=False)
def _store_scalar(out, p, v):  # pragma: no cover (compiled)
    out[p, 0] = v


@kernel(inline="always", cache=False)
def _store_array(out, p, v):  # pragma: no cover (compiled)
    out[p, :] = np.asarray(v).ravel()


def build_sets(f: Any, scalar: bool) -> tuple[Any, Any]:
    """The sets job's kernels specialised to ``f``: each chunk of sets on its own copy of x."""
    store = _store_scalar if scalar else _store_array

    def sets(x, shape, ptr, idx, val, out, nchunks, done):
        total = ptr.size - 1
        chunk = split(total, nchunks, done)
        for c in prange(nchunks):
            lo = c * chunk
            hi = min(total, lo + chunk)
            if lo < hi:
                xc = x.copy()
                xv = xc.reshape(shape)
                for p in range(lo, hi):
                    for q in range(ptr[p], ptr[p + 1]):
                        xc[idx[q]] = val[q]
                    store(out, p, f(xv))
                    for q in range(ptr[p], ptr[p + 1]):
                        xc[idx[q]] = x[idx[q]]
            done[c] = True

    return kernel(sets, parallel=True, cache=False), kernel(sets, parallel=False, cache=False)
