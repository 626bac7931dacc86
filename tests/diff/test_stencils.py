"""Stencils as data: defaults, error powers, weights; a plan's shape."""

from __future__ import annotations

import numpy as np
import pytest


# ---- stencils as data; the prange engine's kernel cache ---------------------------------------
def test_stencil_defaults_and_error_powers():
    from nnnum.diff import stencil

    assert stencil() == stencil(2, "central")
    for order in (2, 4, 6, 8):
        assert stencil(order).error_powers == tuple(range(order, order + 12, 2))
    for kind in ("forward", "backward"):
        for order in range(1, 7):
            assert stencil(order, kind).error_powers == tuple(range(order, order + 12))


def test_plan_and_stencil_properties():
    from nnnum.diff import stencil
    from nnnum.diff.steps import make_plan

    st = stencil(4)
    plan = make_plan(np.array([1.0, 2.0]), (2,), 1e-3, st, levels=3)
    assert plan.rows_per_level == 4 and plan.levels == 3
    assert plan.points.shape == (12, 2)
    assert st.evaluations_per_element == 4
    assert st.abs_weight_sum == pytest.approx(2 * (1 / 12 + 2 / 3))
    assert stencil(1, "forward").abs_weight_sum == pytest.approx(2.0)  # |-1| + |1|
