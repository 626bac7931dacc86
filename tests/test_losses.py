from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import nnnum

from . import naive
from .fresh_python import run_python
from .naive import ref_loss
from .robust_strategies import (
    BACKENDS,
    FEW,
    MyArray,
    as_matrix,
    assert_clear_error,
    assert_ok_or_clear,
    assert_unmodified,
    close,
    finite_floats,
    float_arrays,
    place,
    run_call,
    stray_warnings,
)

T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y_GOOD = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y_BAD = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])


# ---------------------------------------------------------------- book's numbers
def test_book_mean_squared_error(backend):
    assert abs(nnnum.mean_squared_error(Y_GOOD, T) - 0.09750000000000003) < 1e-12
    assert abs(nnnum.mean_squared_error(Y_BAD, T) - 0.5975) < 1e-12


def test_book_cross_entropy_error(backend):
    assert abs(nnnum.cross_entropy_error(Y_GOOD, T) - 0.510825457099338) < 1e-12
    assert abs(nnnum.cross_entropy_error(Y_BAD, T) - 2.302584092994546) < 1e-12


@pytest.mark.parametrize("y, expected", [(Y_GOOD, 0.510825457099338), (Y_BAD, 2.302584092994546)])
def test_labels_one_hot_1d_and_batch_agree(backend, y, expected):
    forms = [
        (y, T),
        (y, np.int64(2)),
        (y, 2),
        (y[None, :], T[None, :]),
        (y[None, :], np.array([2])),
        (np.stack([y, y, y]), np.stack([T, T, T])),
        (np.stack([y, y, y]), np.array([2, 2, 2])),
        (np.stack([y, y]).reshape(1, 2, 10), np.array([[2, 2]])),
    ]
    for yy, tt in forms:
        assert abs(nnnum.cross_entropy_error(yy, tt) - expected) < 1e-12
    # MSE sums over the batch: 3 copies give 3 times the loss, labels or one-hot alike
    three = np.stack([y, y, y])
    assert nnnum.mean_squared_error(three, np.array([2, 2, 2])) == pytest.approx(
        3 * nnnum.mean_squared_error(y, T), abs=1e-12
    )


def test_cross_entropy_dense_targets_generalise(backend, rng):
    y = nnnum.softmax(rng.normal(size=(5, 4)))
    t = nnnum.softmax(rng.normal(size=(5, 4)))
    expected = -np.sum(t * np.log(y + 1e-7)) / 5
    assert abs(nnnum.cross_entropy_error(y, t) - expected) < 1e-12


# ------------------------------------------------------------ numba vs numpy
shapes = st.tuples(st.integers(1, 40), st.integers(1, 12))


@settings(max_examples=40, deadline=None)
@given(
    shape=shapes,
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**32 - 1),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
)
def test_numba_matches_numpy_reference(shape, dtype, seed, scale):
    rng = np.random.default_rng(seed)
    z = (rng.normal(size=shape) * scale).astype(dtype)
    labels = rng.integers(0, shape[1], size=shape[0])
    onehot = np.eye(shape[1])[labels]
    out = {}
    for name in ("numba", "numpy"):
        with nnnum.use_backend(name):
            y = nnnum.softmax(z)
            out[name] = (
                y,
                nnnum.sigmoid(z),
                nnnum.relu(z),
                nnnum.step_function(z),
                nnnum.cross_entropy_error(y, labels),
                nnnum.cross_entropy_error(y, onehot),
                nnnum.mean_squared_error(y, onehot),
                nnnum.mean_squared_error(y, labels),
                nnnum.softmax_cross_entropy(z, labels, reduction="none"),
                nnnum.softmax_cross_entropy(z, onehot),
            )
    a, b = out["numba"], out["numpy"]
    tol = 1e-12 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(a[0], b[0], rtol=tol, atol=tol)
    np.testing.assert_allclose(a[1], b[1], rtol=tol, atol=tol)
    np.testing.assert_array_equal(a[2], b[2])
    np.testing.assert_array_equal(a[3], b[3])
    for i in range(4, 8):  # losses of each backend's own softmax output: its dtype's precision
        np.testing.assert_allclose(a[i], b[i], rtol=tol, atol=tol)
    for i in range(8, 10):  # the fused loss on the same logits: float64 arithmetic throughout
        np.testing.assert_allclose(a[i], b[i], rtol=1e-12, atol=1e-12)
    assert a[0].dtype == dtype and a[1].dtype == dtype


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 2, 2, 6)])
def test_softmax_cross_entropy_any_batch_shape(backend, rng, shape):
    z = rng.normal(size=shape) * 3
    labels = rng.integers(0, shape[-1], size=shape[:-1])
    rows = nnnum.softmax_cross_entropy(z, labels, reduction="none")
    assert rows.shape == shape[:-1]
    np.testing.assert_allclose(rows.reshape(-1), naive.softmax_cross_entropy(z, labels), atol=1e-12)
    assert nnnum.softmax_cross_entropy(z, labels, reduction="sum") == pytest.approx(
        rows.sum(), abs=1e-12
    )
    assert nnnum.softmax_cross_entropy(z, labels) == pytest.approx(rows.mean(), abs=1e-12)
    onehot = np.eye(shape[-1])[labels]
    np.testing.assert_allclose(
        nnnum.softmax_cross_entropy(z, onehot, reduction="none"), rows, atol=1e-12
    )


def test_large_batch_parallel_paths(backend, rng):
    # above PARALLEL_MIN_SIZE the numba kernels run in prange: same answers
    z = rng.normal(size=(20_000, 10)) * 4
    labels = rng.integers(0, 10, size=20_000)
    y = nnnum.softmax(z)
    np.testing.assert_allclose(y[:300], naive.softmax(z[:300]), atol=1e-15)
    assert nnnum.cross_entropy_error(y, labels) == pytest.approx(
        naive.cross_entropy_error(y, labels), abs=1e-12
    )
    rows = nnnum.softmax_cross_entropy(z, labels, reduction="none")
    np.testing.assert_allclose(rows, naive.softmax_cross_entropy(z, labels), rtol=1e-13, atol=1e-13)


# ------------------------------------------------------------------ stability
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits_stay_finite(backend, dtype):
    z = np.array([[1e8, 0.0, -1e8], [-1e8, 1e8, 0.0], [3.0, 3.0, -1e8]], dtype=dtype)
    labels = np.array([0, 1, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = nnnum.softmax(z)
        rows = nnnum.softmax_cross_entropy(z, labels, reduction="none")
        wrong = nnnum.softmax_cross_entropy(z, np.array([2, 0, 2]), reduction="none")
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(rows)) and np.all(np.isfinite(wrong))
    np.testing.assert_allclose(y[0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(y[2], [0.5, 0.5, 0.0])
    assert rows[0] < 1e-6 and rows[1] < 1e-6  # perfect predictions
    assert rows[2] == pytest.approx(np.log(2.0), abs=1e-6)
    assert wrong[0] == pytest.approx(2e8, rel=1e-6)
    assert nnnum.softmax_cross_entropy(z[:2], labels[:2]) < 1e-6


def test_softmax_1000_no_warning(backend):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = nnnum.softmax(np.array([1000.0, -1000.0, 999.0]))
        s = nnnum.sigmoid(np.array([-1000.0, 1000.0, -1e308, 0.0]))
    np.testing.assert_allclose(y, naive.softmax([1000.0, -1000.0, 999.0]), atol=1e-15)
    assert s[0] == 0.0 and s[1] == 1.0 and s[2] == 0.0 and s[3] == 0.5
    assert float(nnnum.sigmoid(-1000.0)) == 0.0


@pytest.mark.jit_only
def test_nan_propagates_per_row(backend):
    z = np.array([[np.nan, 1.0], [1.0, 2.0]])
    y = nnnum.softmax(z)
    assert np.all(np.isnan(y[0])) and np.all(np.isfinite(y[1]))
    rows = nnnum.softmax_cross_entropy(z, np.array([0, 1]), reduction="none")
    assert np.isnan(rows[0]) and np.isfinite(rows[1])


# ------------------------------------------------------------------ bad input
def test_shape_mismatch(backend):
    with pytest.raises(ValueError, match="shape mismatch"):
        nnnum.cross_entropy_error(np.ones((2, 10)) / 10, np.zeros(10, dtype=int))
    with pytest.raises(ValueError, match="shape mismatch"):
        nnnum.mean_squared_error(Y_GOOD, T[:9])
    with pytest.raises(ValueError, match="shape mismatch"):
        nnnum.softmax_cross_entropy(np.zeros((3, 4)), np.zeros((3, 5)))


@pytest.mark.parametrize("bad", [-1, 10, 11, -11])
def test_labels_out_of_range_including_minus_one(backend, bad):
    labels = np.array([2, bad])
    y = np.stack([Y_GOOD, Y_GOOD])
    for fn in (nnnum.cross_entropy_error, nnnum.softmax_cross_entropy, nnnum.mean_squared_error):
        with pytest.raises(ValueError, match="out of range"):
            fn(y, labels)


def test_float_labels_rejected(backend):
    with pytest.raises(TypeError, match="integers"):
        nnnum.cross_entropy_error(np.stack([Y_GOOD, Y_GOOD]), np.array([2.0, 2.0]))
    with pytest.raises(TypeError, match="integers"):
        nnnum.cross_entropy_error(Y_GOOD, 2.0)
    with pytest.raises(TypeError, match="integers"):
        nnnum.softmax_cross_entropy(Y_GOOD, np.array(True))


def test_empty_batch_and_no_classes(backend):
    with pytest.raises(ValueError, match="empty batch"):
        nnnum.cross_entropy_error(np.zeros((0, 10)), np.zeros(0, dtype=int))
    with pytest.raises(ValueError, match="empty batch"):
        nnnum.softmax_cross_entropy(np.zeros((0, 3)), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="no classes"):
        nnnum.softmax_cross_entropy(np.zeros((4, 0)), np.zeros(4, dtype=int))
    with pytest.raises(ValueError, match="scalar"):
        nnnum.cross_entropy_error(0.5, 0)


def test_non_numeric_input(backend):
    with pytest.raises(TypeError):
        nnnum.softmax(np.array(["a", "b"]))
    with pytest.raises(ValueError):
        nnnum.softmax_cross_entropy(np.zeros((2, 2)), np.zeros(2, dtype=int), reduction="avg")


def test_serial_and_parallel_kernels_bit_identical(rng, num_threads):
    import numba

    from nnnum.backends import _cpu_kernels as K

    z = rng.normal(size=(3000, 7)) * 8
    labels = rng.integers(0, 7, 3000)
    onehot = np.eye(7)[labels]
    y = nnnum.softmax(z)
    no_labels, no_targets = np.zeros(0, dtype=np.int64), np.zeros((0, 0))
    results = []
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        with num_threads(threads):
            for kernels in (
                (K._softmax_ce_serial, K._cross_entropy_labels_serial, K._sum_sq_serial),
                (K._softmax_ce_parallel, K._cross_entropy_labels_parallel, K._sum_sq_parallel),
            ):
                sce, ce, mse = kernels
                a, b, c = np.empty(3000), np.empty(3000), np.empty(3000)
                sce(z, labels, no_targets, False, a)
                sce(z, no_labels, onehot, True, b)
                ce(y, labels, 1e-7, c)
                results.append(
                    (a, b, c, mse(y, onehot, no_labels, True), mse(y, no_targets, labels, False))
                )
    for r in results[1:]:
        for got, want in zip(r, results[0], strict=True):
            np.testing.assert_array_equal(got, want)


def test_mean_squared_error_sums_as_numpy_does(backend, rng):
    # the book prints 0.5975 for its second example: NumPy's pairwise summation, replayed
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
    assert float(nnnum.mean_squared_error(np.array(y), np.array(t))) == 0.5975
    for n in (1, 7, 8, 9, 127, 128, 129, 1000, 4097, 70_001):
        k = 7 if n % 7 == 0 else 1
        yy, tt = rng.standard_normal((n // k, k)), rng.standard_normal((n // k, k))
        assert nnnum.mean_squared_error(yy, tt) == 0.5 * np.sum((yy - tt) ** 2)
        labels = rng.integers(0, k, n // k)
        assert nnnum.mean_squared_error(yy, labels) == 0.5 * np.sum((yy - np.eye(k)[labels]) ** 2)


# ------------------------------------------------- issue #13: mutants the suite let through
def test_t_none_names_both_accepted_shapes(backend):
    y = np.full((2, 3, 4), 0.25)
    msg = (
        r"t is None; pass integer labels with shape \(2, 3\) "
        r"or one-hot targets with shape \(2, 3, 4\)"
    )
    for fn in (nnnum.cross_entropy_error, nnnum.softmax_cross_entropy, nnnum.mean_squared_error):
        with pytest.raises(TypeError, match=msg):
            fn(y, None)


@pytest.mark.parametrize(
    "t", [np.array([1 + 0j, 2j]), np.array(["a", "b"]), np.array([b"a", b"b"])]
)
def test_non_real_targets_named_before_the_shape_checks(backend, t):
    y = np.full((2, 4), 0.25)
    with pytest.raises(TypeError, match="t must be integer labels or real targets"):
        nnnum.cross_entropy_error(y, t)
    with pytest.raises(TypeError, match="t must be integer labels or real targets"):
        nnnum.cross_entropy_error(y, np.stack([t, t, t, t], axis=1))  # dense-shaped too


@pytest.mark.parametrize(
    ("labels", "bad"), [([0, 5], 5), ([4, 0], 4), ([-1, 9], -1), ([-3, 1], -3)]
)
def test_out_of_range_message_names_the_bad_label(backend, labels, bad):
    y = np.full((2, 4), 0.25)
    with pytest.raises(ValueError, match=rf"label {bad} is out of range for 4 classes"):
        nnnum.cross_entropy_error(y, np.array(labels))


def test_sum_of_squares_kernel_of_no_rows_is_zero():
    # unreachable through the API (an empty batch is an error first): the kernel itself
    from nnnum.backends import _cpu_kernels as K

    y = np.zeros((0, 3))
    for kern in (K._sum_sq_serial, K._sum_sq_parallel):
        assert kern(y, y, np.zeros(0, dtype=np.int64), True) == 0.0
        assert kern(y, y, np.zeros(0, dtype=np.int64), False) == 0.0


def test_relu_of_negative_zero_is_positive_zero_on_both_backends():
    # as np.maximum(x, 0): -0.0 becomes +0.0 (the kernel's v > 0 test, not v >= 0)
    x = np.array([-0.0, 0.0, -1.0, np.nan, 2.0])
    for name in ("numba", "numpy"):
        with nnnum.use_backend(name):
            out = nnnum.relu(x)
        assert not np.signbit(out[:3]).any(), name
        assert np.isnan(out[3]) and out[4] == 2.0


# ------------------------------------------------------------ 13. wide softmax CE
def test_softmax_ce_with_a_million_classes_needs_little_memory():
    out = run_python(
        """
        import resource, numpy as np, nnnum
        z = np.random.default_rng(0).standard_normal((1, 1_000_000))
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        got = nnnum.softmax_cross_entropy(z, np.array([3]))
        extra_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        with nnnum.use_backend("numpy"):
            ref = nnnum.softmax_cross_entropy(z, np.array([3]))
        print(abs(got - ref) <= 1e-12 * abs(ref), extra_mib < 200, round(extra_mib))
        """
    )
    assert out.returncode == 0, out.stderr[-2000:]
    ok_value, ok_memory, _ = out.stdout.split()
    assert ok_value == "True" and ok_memory == "True", out.stdout


@pytest.mark.parametrize("shape", [(3, 513), (700, 600), (2, 5000)])
def test_wide_softmax_ce_matches_the_reference(shape):
    rng = np.random.default_rng(1)
    z = 30 * rng.standard_normal(shape)
    labels = rng.integers(0, shape[1], shape[0])
    dense = rng.random(shape)
    for t in (labels, dense):
        got = nnnum.softmax_cross_entropy(z, t, reduction="none")
        with nnnum.use_backend("numpy"):
            ref = nnnum.softmax_cross_entropy(z, t, reduction="none")
        np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-14)


def test_wide_softmax_ce_skips_classes_of_zero_target():
    """Over 512 classes, one-hot rows are the labels' loss: a -inf logit of weight 0 adds no NaN."""
    rng = np.random.default_rng(2)
    z = 3 * rng.standard_normal((4, 600))
    labels = rng.integers(0, 600, 4)
    z[0, (labels[0] + 1) % 600] = -np.inf  # 0 * inf would be NaN: the class must be skipped
    onehot = np.zeros((4, 600))
    onehot[np.arange(4), labels] = 1.0
    keep = z.copy()
    got = nnnum.softmax_cross_entropy(z, onehot, reduction="none")
    np.testing.assert_array_equal(z, keep)
    want = naive.softmax_cross_entropy(z, labels)
    np.testing.assert_allclose(got, want, rtol=1e-13)
    np.testing.assert_array_equal(got, nnnum.softmax_cross_entropy(z, labels, reduction="none"))


# -------------------------------------------- any dtype, layout and target, both backends
LOSSES = {
    "mean_squared_error": (nnnum.mean_squared_error, "y"),
    "cross_entropy_error": (nnnum.cross_entropy_error, "y"),
    "softmax_cross_entropy": (nnnum.softmax_cross_entropy, "logits"),
}


@st.composite
def loss_inputs(draw, dtype, dense, finite):
    lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
    k = draw(st.integers(1, 5))
    shape = lead + (k,)
    elems = finite_floats(dtype, -30, 30) if finite else None
    y, _ = draw(float_arrays(dtype, st.just(shape), elements=elems))
    if dense:
        t = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 0.25, 0.5, 1.0])))
    else:
        t = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, k - 1)))
    layout = draw(st.sampled_from(("C", "F", "negative", "readonly", "strided")))
    return y, place(t, layout)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dense", [False, True], ids=["labels", "dense"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("name", list(LOSSES))
@FEW
@given(data=st.data())
def test_loss_matches_reference(name, dtype, dense, backend, data):
    y, t = data.draw(loss_inputs(dtype, dense, finite=True))
    if name == "cross_entropy_error":
        y = np.abs(y) / (1.0 + np.abs(y)) if y.dtype != np.float16 else np.abs(y) / (1 + np.abs(y))
    fn, argname = LOSSES[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(y, t), y, t)
    want = ref_loss(name, y, t)

    def check(res):
        assert np.ndim(res) == 0
        assert close(res, want, rtol=1e-10, atol=1e-12), f"{res!r} != {want!r}"

    assert_ok_or_clear(out, (argname, "t"), check)
    assert out.error is None, f"refused valid input: {out.describe()}"


@pytest.mark.jit_only
@pytest.mark.parametrize("dense", [False, True], ids=["labels", "dense"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(LOSSES))
@FEW
@given(data=st.data())
def test_loss_numba_matches_numpy_on_hostile_values(name, dtype, dense, data):
    y, t = data.draw(loss_inputs(dtype, dense, finite=False))
    fn, _ = LOSSES[name]
    with nnnum.use_backend("numpy"):
        want = run_call(lambda: fn(y, t), y, t)
    with nnnum.use_backend("numba"):
        got = run_call(lambda: fn(y, t), y, t)
    assert_unmodified(got)
    assert_unmodified(want)
    assert (got.error is None) == (want.error is None), (got.describe(), want.describe())
    if got.error is None:
        assert close(got.result, want.result, rtol=1e-12), (got.result, want.result)
    assert not stray_warnings(got), stray_warnings(got)
    assert not stray_warnings(want), stray_warnings(want)


@pytest.mark.jit_only
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_cross_entropy_huge_logits(backend, dtype):
    z = np.array([[1e8, -1e8, 0.0], [-1e8, 1e8, 0.0], [1e8, 1e8, -1e8]], dtype=dtype)
    t = np.array([0, 0, 1])
    with nnnum.use_backend(backend):
        out = run_call(lambda: nnnum.softmax_cross_entropy(z, t, reduction="none"), z, t)
    assert_unmodified(out)
    assert out.error is None and not stray_warnings(out), out.describe()
    assert close(out.result, [0.0, 2e8, math.log(2.0)], rtol=1e-12)


BAD_TARGETS = {
    "None": lambda y: None,
    "float labels": lambda y: np.zeros(y.shape[:-1]),
    "bool labels": lambda y: np.zeros(y.shape[:-1], dtype=bool),
    "label K": lambda y: np.full(y.shape[:-1], y.shape[-1]),
    "label -1": lambda y: np.full(y.shape[:-1], -1),
    "huge uint64 label": lambda y: np.full(y.shape[:-1], 2**63, dtype=np.uint64),
    "wrong shape": lambda y: np.zeros(y.shape[:-1] + (1, 2), dtype=int),
    "too many labels": lambda y: np.zeros((y.shape[0] + 1,), dtype=int),
    "complex dense": lambda y: np.zeros(y.shape, dtype=complex),
    "object dense": lambda y: np.zeros(y.shape, dtype=object),
    "str labels": lambda y: np.array(["0"] * y.shape[0]),
    "nan float labels": lambda y: np.full(y.shape[:-1], np.nan),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", list(BAD_TARGETS))
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_bad_targets(name, bad, backend):
    y = np.array([[0.1, 0.7, 0.2], [0.3, 0.3, 0.4]])
    t = BAD_TARGETS[bad](y)
    fn, _ = LOSSES[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(y, t), y, t)
    assert_clear_error(out, ("t", "label"))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "bad", ["complex", "object", "str", "0-d", "empty batch", "no classes", "empty 1-d"]
)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_bad_predictions(name, bad, backend):
    y, t = {
        "complex": (np.array([[0.5 + 1j, 0.5]]), np.array([0])),
        "object": (np.array([[0.5, 0.5]], dtype=object), np.array([0])),
        "str": (np.array([["0.5", "0.5"]]), np.array([0])),
        "0-d": (np.array(0.5), np.array(0)),
        "empty batch": (np.zeros((0, 3)), np.zeros(0, dtype=int)),
        "no classes": (np.zeros((2, 0)), np.zeros(2, dtype=int)),
        "empty 1-d": (np.zeros(0), np.zeros(0)),
    }[bad]
    fn, argname = LOSSES[name]
    with nnnum.use_backend(backend):
        out = run_call(lambda: fn(y, t), y, t)
    assert_clear_error(out, (argname,))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matrix_and_subclass(name, backend):
    fn, _ = LOSSES[name]
    y = np.array([[0.2, 0.8], [0.6, 0.4]])
    t = np.array([1, 0])
    want = ref_loss(name, y, t)
    for yy, tt in [
        (as_matrix(y), t),
        (y, as_matrix(np.eye(2)[t])),
        (y.view(MyArray), t.view(MyArray)),
        (as_matrix(y[:1]), np.array([1])),
    ]:
        with nnnum.use_backend(backend):
            out = run_call(lambda: fn(yy, tt), yy, tt)
        w = ref_loss(name, np.asarray(yy), np.asarray(tt)) if yy.shape[0] == 1 else want
        assert_ok_or_clear(out, ("y", "logits", "t"), lambda r: None)
        assert out.error is None, out.describe()
        assert close(out.result, w, rtol=1e-12), (type(yy), type(tt), out.result, w)


@pytest.mark.parametrize("reduction", ["MEAN", None, 1, "avg"])
def test_softmax_cross_entropy_bad_reduction(reduction):
    out = run_call(
        lambda: nnnum.softmax_cross_entropy(np.zeros((2, 3)), [0, 1], reduction=reduction)
    )
    assert_clear_error(out, ("reduction",))
