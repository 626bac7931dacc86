"""The prange engine's kernels against obvious loops, compiled (JIT on) and as Python (JIT off).

Every test calls the engine's functions directly with a jitted ``f``: with the JIT
on, they run the compiled kernels; under ``NUMBA_DISABLE_JIT=1`` (the coverage pass)
``numba.njit(f)`` is ``f`` itself and the same kernels run as Python, chunks and all,
so their logic is checked in both.
"""

from __future__ import annotations

import types

import numba
import numpy as np
import pytest

from nnnum.diff.engines import _prange_kernels, prange
from nnnum.diff.perturb import Perturbations

from ...naive import rosen_jit


@numba.njit
def squares(x):
    """An array-valued f: ``x**2`` (flat), for the sets kernels' array path."""
    return x.reshape(-1) ** 2


@numba.njit
def log_sum(x):
    """``sum(log x)``: -inf where an element reaches 0 (a non-finite difference)."""
    return np.sum(np.log(x))


def loop_values(f, base, points):
    """``F[r, i] = f(base with base_i = points[r, i])``, one copy per evaluation."""
    out = np.empty(points.shape)
    for r in range(points.shape[0]):
        for i in range(base.size):
            xc = base.copy()
            xc.reshape(-1)[i] = points[r, i]
            out[r, i] = f(xc)
    return out


@pytest.mark.parametrize("shape", [(1,), (9,), (37,), (3, 5)])
@pytest.mark.parametrize("parallel", [None, False])
def test_perturbed_is_the_loop_bit_for_bit_and_leaves_base_alone(rng, shape, parallel):
    base = rng.normal(size=shape)
    before = base.copy()
    flat = base.reshape(-1)
    points = np.stack([flat + 1e-3, flat - 2e-3, rng.normal(size=base.size)])
    got = prange.perturbed(rosen_jit, base, points, parallel)
    np.testing.assert_array_equal(got, loop_values(rosen_jit, base, points))
    np.testing.assert_array_equal(base, before)


@pytest.mark.parametrize("n", [2, 9, 37])
def test_central2_is_the_books_formula_with_the_step_taken(rng, n):
    base = rng.normal(size=n)
    before = base.copy()
    h = 1e-4
    got = prange.central2(rosen_jit, base, h)
    want = np.empty(n)
    for i in range(n):
        xp, xm = base.copy(), base.copy()
        xp[i] += h
        xm[i] -= h
        want[i] = (rosen_jit(xp) - rosen_jit(xm)) / (xp[i] - xm[i])
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(base, before)


def test_central2_gives_up_on_a_step_that_rounds_away():
    """At 1e20 a step of 1e-4 is lost to rounding: None (the general path raises, naming it)."""
    base = np.array([1.0, 1e20, 2.0])
    assert prange.central2(rosen_jit, base, 1e-4) is None
    np.testing.assert_array_equal(base, [1.0, 1e20, 2.0])


def test_central2_gives_up_on_a_non_finite_difference():
    """log at 0 is -inf: the difference is not finite there, None (the general path warns)."""
    base = np.array([1.0, 5e-5, 2.0])
    assert prange.central2(log_sum, base, 1e-4) is None
    got = prange.central2(log_sum, np.array([1.0, 0.5, 2.0]), 1e-4)
    np.testing.assert_allclose(got, [1.0, 2.0, 0.5], rtol=1e-7)


@pytest.mark.parametrize("n", [3, 9])
def test_complex_step_values_are_im_f_at_the_two_steps(rng, n):
    base = rng.normal(size=n)
    before = base.copy()
    h = np.full(n, 1e-20) * (1.0 + np.arange(n))
    out = prange.complex_step(rosen_jit, base, h, None)
    xc = base.astype(np.complex128)
    for k in range(n):
        for row, t in ((0, 1.0), (1, 2.0)):
            z = xc.copy()
            z[k] += 1j * t * h[k]
            assert out[row, k] == rosen_jit(z).imag
    np.testing.assert_array_equal(base, before)
    np.testing.assert_allclose(out[0] / h, _rosen_grad(base), rtol=1e-12)


def _rosen_grad(v):
    g = np.zeros_like(v)
    g[:-1] = -400.0 * v[:-1] * (v[1:] - v[:-1] ** 2) - 2.0 * (1.0 - v[:-1])
    g[1:] += 200.0 * (v[1:] - v[:-1] ** 2)
    return g


def _pairs(n, rng):
    """Sets of one or two (element, value) pairs, and an empty set (f at x itself)."""
    rows = [[(i, rng.normal())] for i in range(n)]
    rows += [[(i, rng.normal()), ((i + 3) % n, rng.normal())] for i in range(n)]
    rows.append([])
    ptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int64)
    idx = np.array([e for r in rows for e, _ in r], dtype=np.int64)
    val = np.array([v for r in rows for _, v in r])
    return rows, Perturbations(ptr, idx, val, label=lambda p: f"set {p}")


@pytest.mark.parametrize(
    "f, out_shape, parallel", [(rosen_jit, (), None), (rosen_jit, (), False), (squares, (6,), None)]
)
def test_sets_are_the_loop_bit_for_bit(rng, f, out_shape, parallel):
    base = rng.normal(size=(2, 3))
    before = base.copy()
    rows, pert = _pairs(base.size, rng)
    options = types.SimpleNamespace(parallel=parallel)
    got = prange.evaluate_sets(f, base, pert, out_shape, options)
    assert got.shape == (len(rows), int(np.prod(out_shape)))
    for p, row in enumerate(rows):
        xc = base.copy()
        for e, v in row:
            xc.reshape(-1)[e] = v
        np.testing.assert_array_equal(got[p], np.ravel(f(xc)))
    np.testing.assert_array_equal(base, before)


def test_split_covers_every_element_once_and_marks_the_unused_chunks_done():
    done = np.zeros(prange._MAX_CHUNKS, dtype=np.bool_)
    for n in (1, 5, 37, 100):
        for nchunks in range(1, min(n, prange._MAX_CHUNKS) + 1):
            chunk = _prange_kernels.split(n, nchunks, done)
            covered = [i for c in range(nchunks) for i in range(c * chunk, min(n, (c + 1) * chunk))]
            assert covered == list(range(n))
            assert not done[:nchunks].any() and done[nchunks:].all()


def test_default_chunks_is_four_per_thread_at_most_n():
    threads = numba.get_num_threads()
    assert _prange_kernels.default_chunks(1) == 1
    assert _prange_kernels.default_chunks(10**6) == 4 * threads
    assert _prange_kernels.default_chunks(3) == min(3, 4 * threads)


def test_an_exception_of_f_reaches_the_caller_and_leaves_base_alone():
    @numba.njit
    def fails_on_big(x):
        if x.max() > 10.0:
            raise ValueError("too big")
        return np.sum(x)

    base = np.arange(5.0)
    points = np.stack([base, base]).copy()
    points[1, 3] = 11.0
    with pytest.raises(ValueError, match="too big"):
        prange.perturbed(fails_on_big, base, points, None)
    np.testing.assert_array_equal(base, np.arange(5.0))
