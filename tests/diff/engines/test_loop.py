"""The in-place Python loop: the same bits as a plain element-by-element loop, x restored always."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum
from nnnum.diff.engines import loop


def reference(f, x, points):
    """One element at a time through NumPy indexing: what loop.in_place must equal."""
    out = np.empty(points.shape)
    flat = x.reshape(-1)
    for i in range(flat.size):
        orig = flat[i].copy()
        for r in range(points.shape[0]):
            flat[i] = points[r, i]
            out[r, i] = float(f(x))
        flat[i] = orig
    return out


def weighted(v):
    w = np.arange(1, v.size + 1, dtype=np.float64).reshape(v.shape)
    return float(np.sum(np.sin(v.astype(np.float64)) * w))


@settings(max_examples=40, deadline=None)
@given(
    x=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=3, max_side=5),
        elements=st.floats(-10, 10, width=32),
    ),
    rows=st.integers(1, 6),
)
def test_loop_equals_the_plain_loop_bit_for_bit(x, rows):
    rng = np.random.default_rng(x.size)
    points = (x.reshape(1, -1) + rng.normal(size=(rows, x.size))).astype(x.dtype)
    before = x.copy()
    got = loop.in_place(weighted, x, x, points, [f"row {r}" for r in range(rows)])
    np.testing.assert_array_equal(x, before)
    want = reference(weighted, x.copy(), points)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("order", [2, 4])
@pytest.mark.parametrize("n", [3, 5000])  # within one block and across blocks
def test_x_is_restored_when_f_raises_midway(order, n):
    x = np.random.default_rng(0).random(n)
    before = x.copy()
    calls = []

    def f(v):
        calls.append(1)
        if len(calls) == 2 * n - 1:
            raise RuntimeError("boom")
        return float(np.sum(v))

    with pytest.raises(RuntimeError, match="boom"):
        nnnum.numerical_gradient(f, x, order=order)
    assert np.array_equal(x, before) and x.tobytes() == before.tobytes()


def test_a_non_float_result_is_checked_and_named():
    x = np.ones(4)
    with pytest.raises(TypeError, match=r"returned None at x\[0\] \+ h"):
        nnnum.numerical_gradient(lambda v: None, x)
    assert np.array_equal(x, np.ones(4))
    g = nnnum.numerical_gradient(lambda v: np.float32(np.sum(v**2)), np.array([1.0, 2.0]), h=1e-2)
    np.testing.assert_allclose(g, [2.0, 4.0], rtol=1e-4)


def test_negative_zero_and_float32_are_restored_bit_for_bit():
    x = np.array([-0.0, 1.5, np.float32(1e-30)], dtype=np.float32)
    before = x.tobytes()
    nnnum.numerical_gradient(lambda v: float(np.sum(v.astype(np.float64) ** 2)), x, h=1e-2)
    assert x.tobytes() == before


@settings(max_examples=40, deadline=None)
@given(
    base=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
        elements=st.floats(-10, 10, width=32),
    ),
    step=st.integers(1, 3),
    order=st.sampled_from(["C", "F"]),
)
def test_default_call_on_any_layout_equals_the_general_path(base, step, order):
    x = np.asarray(base, order=order)[..., ::step]
    if x.size == 0:
        return
    before = x.copy()
    fast = nnnum.numerical_gradient(weighted, x)
    assert np.array_equal(x, before)
    general = nnnum.numerical_gradient(weighted, x, h=np.float64(1e-4))  # not the default call
    assert fast.tobytes() == general.tobytes() and fast.dtype == x.dtype


def test_default_call_refuses_overlapping_views_as_the_general_path():
    a = np.zeros(10)
    x = np.lib.stride_tricks.as_strided(a, shape=(4, 4), strides=(16, 8))
    with pytest.raises(ValueError, match="share memory"):
        nnnum.numerical_gradient(weighted, x)


def test_nonfinite_value_named_in_a_later_block():
    x = np.zeros(5000)

    def f(v):
        return float("inf") if v[4321] > 0 else float(np.sum(v))

    with pytest.raises(nnnum.NonFiniteError, match=r"x\[4321\] \+ h"):
        nnnum.numerical_gradient(f, x)
    assert not x.any()


# ------------------------------------------------------------------ 16. lazy loop
def test_strided_loop_builds_no_index_list():
    x = np.zeros((4000, 5000))[:, ::2]  # 10^7 elements, not contiguous

    def f(w):
        raise KeyError("stop")

    tracemalloc.start()
    try:
        with pytest.raises(KeyError):
            nnnum.numerical_gradient(f, x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # x + h, x - h and the steps (80 MB each) are needed; a list of 10^7 index tuples
    # would add more than 1 GB
    assert peak < 700e6, peak


# ------------------------------------------------------------------ the chapter's small calls
@pytest.mark.parametrize("shape", [(1,), (2,), (3, 2), (2, 1, 2), (40,), (7, 9)], ids=str)
@pytest.mark.parametrize(
    "box", [float, np.float64, np.float32, int, lambda v: np.array(v)], ids=lambda b: str(b)
)
def test_small_default_call_takes_every_scalar_result_as_the_general_path(shape, box):
    x = np.random.default_rng(len(shape)).uniform(-2, 2, shape)

    def f(v):
        return box(np.sum(v * v) * 1e3)

    before = x.copy()
    fast = nnnum.numerical_gradient(f, x)
    general = nnnum.numerical_gradient(f, x, h=np.float64(1e-4))  # not the default call
    assert fast.tobytes() == general.tobytes() and fast.shape == shape
    assert x.tobytes() == before.tobytes()


@pytest.mark.parametrize("n", [3, 50], ids=["few", "many"])
def test_small_default_call_names_a_bad_value_and_restores_x(n):
    x = np.zeros(n)
    x[:3] = [1.0, -0.0, 3.0]
    before = x.tobytes()
    with pytest.raises(TypeError, match=r"x\[1\] \+ h"):
        nnnum.numerical_gradient(lambda v: None if v[1] > 0 else 1.0, x)
    assert x.tobytes() == before
    with pytest.raises(nnnum.NonFiniteError, match=r"x\[2\]"):
        nnnum.numerical_gradient(lambda v: np.inf if v[2] < 3 else 0.0, x)
    assert x.tobytes() == before

    class Stop(Exception):
        pass

    def raises(v):
        if v[2] != 3.0:
            raise Stop
        return 0.0

    with pytest.raises(Stop):
        nnnum.numerical_gradient(raises, x)
    assert x.tobytes() == before


def test_small_default_call_leaves_a_rounding_step_to_the_general_path():
    x = np.array([1.0, 1e20])
    with pytest.raises(nnnum.diff.StepResolutionError):
        nnnum.numerical_gradient(lambda v: float(np.sum(v)), x)
