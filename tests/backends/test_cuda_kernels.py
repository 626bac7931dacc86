"""The Numba CUDA kernels of the GPU path against the NumPy reference.

They run on a device, or on the CPU under Numba's CUDA simulator, which is how CI executes
them (``NUMBA_ENABLE_CUDASIM=1 python -m pytest -m gpu``); with neither they skip. The
simulator runs every thread as a Python thread, so the inputs are small: every length class
the kernel distinguishes (one thread per row up to a warp, one block per row beyond: 1, a
warp, a warp + 1, a block, more than a block, more than two blocks), labels, one-hot and soft
targets, the batches of perturbed logits (labels repeating every N rows, the book's delta),
non-finite logits, float32 and float64, and more rows than the grid has threads.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnnum.backends import _xp_ops

pytestmark = [pytest.mark.gpu, pytest.mark.cudasim]

cuda = pytest.importorskip("numba.cuda", reason="needs numba-cuda")
ck = pytest.importorskip("nnnum.backends._cuda_kernels", reason="needs numba-cuda")

#: the CPU kernels' tolerance against the NumPy reference (tests/test_losses.py)
TOL = 1e-13
THREAD_KS = (1, 10, ck.THREAD_ROW_MAX_K)  # one thread per row: 1, a warp
BLOCK_KS = (ck.THREAD_ROW_MAX_K + 1, ck.THREADS, ck.THREADS + 1, 2 * ck.THREADS + 44)


def run(z, labels=None, t=None, delta=0.0):
    """The kernel's per-row losses for host arrays (moved to the device and back)."""
    z_before = z.copy()
    lab = np.zeros(1, dtype=np.int64) if labels is None else np.asarray(labels, dtype=np.int64)
    tt = np.zeros((1, 1)) if t is None else t
    rows = cuda.device_array(z.shape[0], dtype=np.float64)
    dz = cuda.to_device(z)
    ck.softmax_ce_rows(dz, cuda.to_device(lab), cuda.to_device(tt), t is not None, delta, rows)
    np.testing.assert_array_equal(dz.copy_to_host(), z_before)  # the input is never written
    return rows.copy_to_host()


def reference(z, kind, t):
    return _xp_ops.softmax_cross_entropy_rows(z.astype(np.float64), kind, t, np)


def check(z, labels, t):
    np.testing.assert_allclose(run(z, labels=labels), reference(z, "labels", labels), TOL, TOL)
    np.testing.assert_allclose(run(z, t=t), reference(z, "dense", t.astype(np.float64)), TOL, TOL)


def inputs(rng, n, k, dtype, soft=False):
    z = (rng.normal(size=(n, k)) * 8).astype(dtype)
    labels = rng.integers(0, k, n)
    if soft:
        t = rng.random((n, k)) * (rng.random((n, k)) < 0.5)
        t /= np.maximum(t.sum(axis=1, keepdims=True), 1e-300)
    else:
        t = np.eye(k)[labels]
    return z, labels, t.astype(dtype)


def test_launch_config_classes():
    assert ck.launch_config(300, 1)[0] is ck._softmax_ce_thread_rows
    assert ck.launch_config(300, ck.THREAD_ROW_MAX_K)[0] is ck._softmax_ce_thread_rows
    assert ck.launch_config(3, ck.THREAD_ROW_MAX_K + 1)[0] is ck._softmax_ce_block_rows
    assert ck.launch_config(300, 10)[1:] == (3, ck.THREADS)  # 2 full blocks and a partial one
    assert ck.launch_config(10**9, 10)[1] == ck.MAX_BLOCKS
    assert ck.launch_config(3, 300)[1:] == (3, ck.THREADS)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", THREAD_KS)
def test_thread_rows_match_numpy(rng, k, dtype):
    z, labels, onehot = inputs(rng, 2 * ck.THREADS + 44, k, dtype)  # a partial last block
    check(z, labels, onehot)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("k", BLOCK_KS)
def test_block_rows_match_numpy(rng, k, dtype):
    z, labels, soft = inputs(rng, 2, k, dtype, soft=True)
    check(z, labels, soft)


def test_soft_and_one_hot_targets(rng):
    k = 5
    z, labels, soft = inputs(rng, 4, k, "float64", soft=True)
    np.testing.assert_allclose(run(z, t=soft), reference(z, "dense", soft), TOL, TOL)
    onehot = np.eye(k)[labels]
    np.testing.assert_allclose(run(z, t=onehot), run(z, labels=labels), TOL, TOL)


@pytest.mark.parametrize("k", [7, ck.THREADS + 1])
@pytest.mark.parametrize("delta", [0.0, 1e-7])
def test_batches_of_perturbed_logits(rng, k, delta):
    b, n = 2, 2
    z = rng.normal(size=(b * n, k)) * 5
    labels = rng.integers(0, k, n)  # row r takes labels[r % n]
    got = run(z, labels=labels, delta=delta).reshape(b, n).sum(axis=1) / n
    want = _xp_ops.batched_label_loss(z.reshape(b, n, k), labels, delta, np)
    np.testing.assert_allclose(got, want, TOL, TOL)


@pytest.mark.parametrize(
    "k, dtype", [(4, "float32"), (4, "float64"), (ck.THREAD_ROW_MAX_K + 8, "float32")]
)
def test_non_finite_logits_as_numpy(k, dtype):
    big = np.finfo(dtype).max
    cases = [
        (0, np.nan),  # NaN in the row (not the target): NaN
        (1, np.inf),  # +inf: NaN (inf - inf)
        (2, -np.inf),  # -inf elsewhere: finite
        (0, big),  # the largest finite logit
    ]
    z = np.zeros((len(cases) + 3, k), dtype=dtype)
    z[:, 1] = 1.0
    labels = np.full(len(z), 3)
    for r, (j, v) in enumerate(cases):
        z[r, j] = v
    z[len(cases), 3] = -np.inf  # -inf at the target: inf
    z[len(cases) + 1, :] = -np.inf  # a row of -inf: NaN
    z[len(cases) + 2, :] = big  # every logit huge: log(k), exactly
    t = np.eye(k, dtype=dtype)[labels]
    got = run(z, labels=labels)
    want = reference(z, "labels", labels)
    np.testing.assert_allclose(got, want, TOL, TOL)
    assert np.isnan(got[[0, 1, len(cases) + 1]]).all() and got[len(cases)] == np.inf
    assert np.isfinite(got[2])
    np.testing.assert_allclose(run(z, t=t), reference(z, "dense", t.astype(np.float64)), TOL, TOL)


def test_more_rows_than_the_grid(rng, monkeypatch):
    monkeypatch.setattr(ck, "MAX_BLOCKS", 1)  # one block strides over all the rows
    z, labels, onehot = inputs(rng, ck.THREADS + 5, 6, "float64")
    check(z, labels, onehot)
    z, labels, onehot = inputs(rng, 3, ck.THREADS + 3, "float64")
    check(z, labels, onehot)


def test_no_rows_launches_nothing():
    assert run(np.zeros((0, 3))).shape == (0,)


finite_or_not = st.one_of(
    st.floats(-50, 50),
    st.sampled_from([np.nan, np.inf, -np.inf, 1e300, -1e300]),
)


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, ck.THREAD_ROW_MAX_K).flatmap(
        lambda k: st.tuples(
            st.lists(st.lists(finite_or_not, min_size=k, max_size=k), min_size=1, max_size=9),
            st.lists(st.integers(0, k - 1), min_size=9, max_size=9),
            st.sampled_from(["float32", "float64"]),
        )
    )
)
def test_thread_rows_any_values(case):
    values, labels, dtype = case
    with np.errstate(over="ignore"):
        z = np.array(values).astype(dtype)
    labels = np.array(labels[: len(z)])
    got = run(z, labels=labels)
    np.testing.assert_allclose(got, reference(z, "labels", labels), TOL, TOL)


def test_a_full_grid_launches_as_a_small_one(rng, monkeypatch):
    """A grid of at least _FEW_BLOCKS blocks (launched without the low-occupancy filter):
    the same losses, labels and dense targets."""
    monkeypatch.setattr(ck, "_FEW_BLOCKS", 1)  # these small grids count as full ones
    z, labels, onehot = inputs(rng, 5, 6, "float64")
    check(z, labels, onehot)
