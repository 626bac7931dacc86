"""The engines (loop, prange, batched) agree on every stencil."""

from __future__ import annotations

import numpy as np
import pytest

import nnnum

from ...naive import cubic

# ---- the three engines agree on every stencil (a fast twin of test_diff_engine's hypothesis
# test: one jitted f, compiled once, instead of one per example) ------------------------------
_JCUBIC = None


@pytest.mark.parametrize("richardson", [0, 1, 2])
@pytest.mark.parametrize(
    ("kind", "order"),
    [
        ("central", 2),
        ("central", 4),
        ("central", 6),
        ("central", 8),
        ("forward", 1),
        ("forward", 2),
        ("forward", 3),
        ("backward", 1),
        ("backward", 2),
        ("backward", 4),
    ],
)
def test_engines_agree_every_stencil(kind, order, richardson):
    global _JCUBIC
    if _JCUBIC is None:
        _JCUBIC = nnnum.jit(cubic)
    jf = _JCUBIC
    x = np.random.default_rng(order * 10 + richardson).uniform(-2, 2, 7)
    opts = dict(order=order, method=kind, richardson=richardson, h=1e-2)
    py = nnnum.numerical_gradient(lambda v: float(jf(v)), x, **opts)
    par = nnnum.numerical_gradient(jf, x, **opts)
    ser = nnnum.numerical_gradient(jf, x, parallel=False, **opts)
    bat = nnnum.batched_numerical_gradient(
        lambda X: (X * X * X - X).sum(axis=1), x, chunk=3, **opts
    )
    np.testing.assert_array_equal(par, ser)
    np.testing.assert_array_equal(py, ser)
    np.testing.assert_allclose(bat, py, rtol=1e-12, atol=1e-12)
    # and the analytic derivative 3x^2 - 1 (exact for order >= 3 up to rounding)
    tol = 0.2 if order + richardson < 2 else (1e-2 if order + richardson < 3 else 1e-5)
    np.testing.assert_allclose(py, 3 * x * x - 1, rtol=0, atol=tol)


@pytest.mark.parametrize("n", [1, 3, 50])
@pytest.mark.parametrize("parallel", [True, False])
def test_prange_engine_matches_the_loop_engine(n, parallel):
    # called directly, so that the kernel body also runs (and is measured) with the JIT off,
    # where nnnum.jit(f) is f itself; 50 elements over fewer chunks, 1 over several (empty ones)
    from nnnum.diff.engines import loop, prange

    jf = nnnum.jit(cubic)
    x = np.random.default_rng(n).uniform(-2, 2, n)
    points = np.stack([x + 0.5, x - 0.25, x * 3])
    got = prange.evaluate(jf, x.copy(), points, parallel)
    xx = x.copy()
    want = loop.evaluate(lambda v: float(jf(v)), xx, xx, points, ["a", "b", "c"])
    np.testing.assert_array_equal(got, want)
