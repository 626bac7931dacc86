"""The step actually taken, the automatic step, steps below the resolution of x."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import nnnum
from nnnum.diff.steps import StepRoundingWarning


# ---- numerical_diff divides by the step actually taken -------------------------------------
@pytest.mark.parametrize("x", [1e12, -1e12, 5e11, 3e11])
def test_step_taken_identity_is_exact_at_large_x(x):
    # at |x| = 1e12 the float64 spacing is 1.2e-4: x +- 1e-4 rounds to x +- 1.22e-4; the
    # difference over the step actually taken is exactly 1, over 2h it is 1.22
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepRoundingWarning)
        assert nnnum.numerical_diff(lambda v: v, x) == 1.0
        assert nnnum.numerical_diff(lambda v: -4.0 * v, x) == -4.0


def test_step_taken_linear_gradient_is_exact_at_large_x():
    # one element per f (a sum of 1e12 and 0.5 would round away the small one's change)
    x = np.array([1e12, -5e11, 0.5])
    for i, c in enumerate([4.0, -2.0, 0.5]):
        with pytest.warns(StepRoundingWarning):  # x[0] rounds, whichever element f reads
            g = nnnum.numerical_gradient(lambda v: float(c * v[i]), x)
        np.testing.assert_array_equal(g, np.eye(3)[i] * c)


@pytest.mark.parametrize("options", [{"order": 4}, {"order": 6, "h": 3e-4}, {"method": "forward"}])
def test_step_taken_other_stencils_exact_at_large_x(options):
    # f's values exact (a power-of-two slope): over the points actually evaluated, exact.
    # (order 4 once gave -2.5 here: Lagrange weights ~1/h times values ~2e12, summed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepRoundingWarning)
        d = nnnum.numerical_diff(lambda v: -2.0 * v, 1e12, **options)
        g = nnnum.numerical_gradient(lambda v: float(v[1]), np.array([3.0, 1e12]), **options)
    assert d == pytest.approx(-2.0, rel=1e-14, abs=0)
    np.testing.assert_allclose(g, [0.0, 1.0], rtol=1e-14, atol=0)


def test_step_taken_float32_parameters():
    # float32 at 1024: spacing 1.2e-4, so 1024 +- 1e-4 rounds to 1024 +- 1.22e-4 (a 22% step)
    x = np.array([1024.0, -1024.0], dtype=np.float32)
    with pytest.warns(StepRoundingWarning):
        g = nnnum.numerical_gradient(lambda v: float(np.sum(v.astype(np.float64) * [2.0, 3.0])), x)
    np.testing.assert_array_equal(g, [2.0, 3.0])


# ---- steps: the automatic step's formula, a non-finite x named on every path ----------------
@pytest.mark.parametrize(
    ("method", "order", "richardson", "q"),
    [
        ("central", 2, 0, 2),
        ("central", 2, 1, 4),
        ("central", 4, 0, 4),
        ("central", 4, 2, 6),
        ("forward", 1, 0, 1),
        ("forward", 1, 1, 2),
        ("backward", 2, 0, 2),
        ("central", 8, 0, 8),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_auto_step_formula(method, order, richardson, q, dtype):
    # h = eps**(1/(q+1)) * max(1, log(e - 1 + |x|), |x|**(1/(q+1))), rounded to a power of two;
    # q the result's order (nnnum 0.2 scaled by |x|: a step of ~1 at 1e3, across sin's period)
    x = np.array([0.25, -3.0, 1e3, 0.0], dtype=dtype)
    r = nnnum.numerical_gradient(
        lambda v: float(np.sum(np.sin(v.astype(np.float64)))),
        x,
        h="auto",
        order=order,
        method=method,
        richardson=richardson,
        full_output=True,
    )
    eps = float(np.finfo(dtype).eps)
    ax = np.abs(x.astype(float))
    scale = np.maximum(np.maximum(1.0, np.log(np.e - 1 + ax)), ax ** (1 / (q + 1)))
    want = 2.0 ** np.round(np.log2(eps ** (1 / (q + 1)) * scale))
    steps = np.asarray(r.step)
    np.testing.assert_array_equal(steps[0], want)
    for j in range(1, richardson + 1):  # later levels halve it
        np.testing.assert_array_equal(steps[j], want / 2**j)


def test_duplicate_points_of_a_higher_order_stencil_are_a_resolution_error():
    # at 1e12 (spacing 1.2e-4) h = 6.2e-5 rounds x + h to x + 1 ulp and x + 2h to x + 1 ulp
    from nnnum.diff.steps import StepResolutionError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", StepRoundingWarning)
        with pytest.raises(StepResolutionError, match=r"below the resolution of float64 at x\[1\]"):
            nnnum.numerical_gradient(
                lambda v: float(v[1]), np.array([0.0, 1e12]), order=4, h=6.2e-5
            )


@pytest.mark.parametrize(
    ("order", "kind", "levels", "shared"),
    [
        (4, "central", 2, 2),
        (2, "central", 2, 0),
        (2, "central", 3, 0),
        (4, "central", 3, 4),
        (1, "forward", 2, 0),
        (2, "forward", 2, 1),
        (6, "central", 2, 2),
    ],
)
@pytest.mark.parametrize("h", [1e-4, "auto"])
def test_plan_shared_rows_are_the_same_points(order, kind, levels, shared, h):
    from nnnum.diff.stencils import RATIO, stencil
    from nnnum.diff.steps import auto_step, make_plan

    x = np.random.default_rng(order).uniform(-3, 3, 40)
    st = stencil(order, kind)
    hv = auto_step(x, st, levels - 1, RATIO) if h == "auto" else h
    plan = make_plan(x, x.shape, hv, st, levels, RATIO)
    keep, source = plan.shared()
    rows = plan.points.shape[0]
    assert rows - keep.size == shared
    assert np.array_equal(keep, np.unique(keep)) and source.shape == (rows,)
    for r in range(rows):  # every row is the kept row it points to, bit for bit
        assert np.array_equal(plan.points[r], plan.points[keep[source[r]]])
