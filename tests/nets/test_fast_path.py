"""The networks' fast path (one check, one pass per layer) against their general path, bit for bit.

``TwoLayerNet.predict/loss/accuracy/gradient`` and ``SimpleNet.loss`` check their
inputs once and run fused Numba kernels around the same BLAS products; every other
case takes the general path (the NumPy composition of nnnum's functions, checked at
each step). Both must give the same bits, the same errors, and leave inputs alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nnnum
from nnnum import SimpleNet, TwoLayerNet

from ..conftest import small_net
from ..naive import cross_entropy_error as naive_cross_entropy
from ..naive import softmax as naive_softmax


def _net(seed: int, d: int, h: int, k: int, std: float) -> TwoLayerNet:
    """A small net whose biases are as large as its weights (drawn from seed + 1)."""
    return small_net(seed, d, h, k, std=std, bias=std, rng=seed + 1)


def _targets(rng: np.random.Generator, kind: str, n: int, k: int):
    labels = rng.integers(0, k, size=n)
    if kind == "labels":
        return labels
    if kind == "labels32":
        return labels.astype(np.int32)
    if kind == "onehot":
        return np.eye(k)[labels]
    if kind == "onehot32":
        return np.eye(k, dtype=np.float32)[labels]
    if kind == "onehot_int":
        return np.eye(k, dtype=np.int64)[labels]
    return rng.random((n, k))  # soft targets


def _same(a, b) -> None:
    """Equal bits (NaN where NaN), same type and shape."""
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            _same(a[key], b[key])
        return
    a, b = np.atleast_1d(np.asarray(a)), np.atleast_1d(np.asarray(b))
    assert a.shape == b.shape and a.dtype == b.dtype
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


def _all_equal(net: TwoLayerNet, x, t) -> None:
    keep_x, keep_t = np.array(x, copy=True), np.array(t, copy=True)
    keep_p = {key: v.copy() for key, v in net.params.items()}
    _same(net.predict(x), net._predict_general(x))
    _same(net.loss(x, t), net._loss_general(x, t))
    _same(net.accuracy(x, t), net._accuracy_general(x, t))
    _same(net.gradient(x, t), net._gradient_general(x, t))
    np.testing.assert_array_equal(x, keep_x)  # nothing handed in is modified
    np.testing.assert_array_equal(t, keep_t)
    for key, v in net.params.items():
        np.testing.assert_array_equal(v, keep_p[key])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    d=st.integers(1, 40),
    h=st.integers(1, 20),
    k=st.integers(1, 14),
    n=st.integers(1, 30),
    std=st.sampled_from([0.01, 1.0, 30.0]),  # saturated units and logits included
    scale=st.sampled_from([1.0, 255.0, 1e6]),
    kind=st.sampled_from(["labels", "labels32", "onehot", "onehot32", "onehot_int", "soft"]),
    xdtype=st.sampled_from([np.float64, np.float32, np.uint8, np.bool_]),
    zeros=st.sampled_from([0.5, 0.8, 1.0]),  # BLAS's products, then mostly the sparse ones
)
def test_fast_path_is_the_general_path_bit_for_bit(
    seed, d, h, k, n, std, scale, kind, xdtype, zeros
):
    rng = np.random.default_rng(seed)
    net = _net(seed, d, h, k, std)
    x = (rng.random((n, d)) * scale * (rng.random((n, d)) >= zeros)).astype(xdtype)
    _all_equal(net, x, _targets(rng, kind, n, k))


def test_one_sample_strided_x_and_the_parallel_kernels():
    rng = np.random.default_rng(0)
    net = _net(0, 30, 40, 10, 0.5)
    x = rng.random((2000, 60))[:, ::2]  # a strided view; 2000 x 40 hidden units: parallel
    t = rng.integers(0, 10, 2000)
    _all_equal(net, x, t)
    _all_equal(net, x, np.eye(10)[t])
    _all_equal(net, x[3].copy(), t[3:4])  # one sample as a 1-D x


def test_odd_weights_with_a_sparse_x():
    """W1 that BLAS multiplies (Fortran-ordered, a view), x.T @ dA1 still sparse: both paths."""
    rng = np.random.default_rng(7)
    x = rng.random((10, 30)) * (rng.random((10, 30)) > 0.85)
    t = rng.integers(0, 3, 10)
    for change in ("fortran", "reversed", "strided_b1"):
        net = _net(1, 30, 4, 3, 1.0)
        if change == "fortran":
            net.params["W1"] = np.asfortranarray(net.params["W1"])
        elif change == "reversed":
            net.params["W1"] = net.params["W1"][::-1].copy()[::-1]
        else:
            net.params["b1"] = np.zeros(8)[::2] + 0.1
        assert net._fast(x, t).compressed is not None
        _all_equal(net, x, t)


def test_many_classes_take_numpys_pairwise_sum():
    rng = np.random.default_rng(1)
    net = _net(1, 8, 6, 300, 3.0)  # rows of 300 classes: beyond one run of NumPy's sum
    x, t = rng.random((9, 8)), rng.integers(0, 300, 9)
    _all_equal(net, x, t)


def test_the_book_sizes_with_mnist_like_batches():
    rng = np.random.default_rng(2)
    net = TwoLayerNet(784, 50, 10, seed=2)
    x = rng.random((100, 784)).astype(np.float32)
    x[rng.random((100, 784)) < 0.81] = 0.0
    t = rng.integers(0, 10, 100)
    assert net._fast(x, t).compressed is not None  # the sparse products
    _all_equal(net, x, np.eye(10)[t])
    _all_equal(net, x, t)
    big = np.tile(x, (7, 1))  # 700 x 50 hidden units: the parallel kernels
    _all_equal(net, big, np.tile(t, 7))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_x_is_the_same_error(bad):
    net = _net(3, 5, 4, 3, 0.5)
    x = np.random.default_rng(3).random((6, 5))
    x[4, 2] = bad
    for call in (
        lambda: net.loss(x, np.zeros(6, int)),
        lambda: net.gradient(x, np.zeros(6, int)),
        lambda: net.accuracy(x, np.zeros(6, int)),
        lambda: net.predict(x),
    ):
        with pytest.raises(ValueError, match=r"x contains NaN or inf \(first in sample 4\)"):
            call()


def test_overflowing_pre_activations_are_no_error():
    net = _net(4, 3, 4, 3, 0.5)
    net.params["W1"][:] = 1e300
    x = np.full((2, 3), 1e10)  # finite x, inf pre-activations: as before, no error
    with np.errstate(all="ignore"):  # NumPy's matmul warns of the overflow, on both paths
        _all_equal(net, x, np.array([0, 2]))


def _overflowing(case: str):
    """A net and batch whose first layer overflows (or meets inf weights), dense or sparse x."""
    net = _net(1, 20, 6, 3, 1.0)
    x = np.zeros((5, 20))
    if case == "dense":
        x[:] = 1e10
        net.params["W1"][:] = 1e300
    elif case == "sparse":
        x[:, 2] = 1e10  # 5% non-zeros: the sparse product, which overflows
        net.params["W1"][:] = 1e300
    else:  # an inf weight meeting the zeros of a sparse x: BLAS's 0 * inf
        x[:, 2] = 0.5
        net.params["W1"][0, 0] = np.inf
    return net, x, np.zeros(5, dtype=np.int64)


@pytest.mark.parametrize("case", ["dense", "sparse", "inf_weight"])
def test_overflow_warns_and_raises_as_numpy_on_both_paths(case):
    import warnings

    net, x, t = _overflowing(case)
    calls = {
        "predict": (lambda: net.predict(x), lambda: net._predict_general(x)),
        "loss": (lambda: net.loss(x, t), lambda: net._loss_general(x, t)),
        "accuracy": (lambda: net.accuracy(x, t), lambda: net._accuracy_general(x, t)),
        "gradient": (lambda: net.gradient(x, t), lambda: net._gradient_general(x, t)),
    }
    for name, (fast, general) in calls.items():
        seen = []
        for call in (fast, general):
            with warnings.catch_warnings(record=True) as got:
                warnings.simplefilter("always")
                with np.errstate(all="warn"):
                    call()
            seen.append(sorted({(w.category.__name__, str(w.message)) for w in got}))
        assert seen[0] == seen[1] and any("matmul" in m for _, m in seen[0]), (name, seen)
        for call in (fast, general):
            with np.errstate(all="raise"), pytest.raises(FloatingPointError, match="matmul"):
                call()
    with np.errstate(all="ignore"):
        _all_equal(net, x, t)


@pytest.mark.parametrize("label", [-1, 3, 2**40])
def test_label_out_of_range_is_the_same_error(label):
    net = _net(5, 4, 3, 3, 0.5)
    x = np.random.default_rng(5).random((4, 4))
    t = np.array([0, 1, label, 2])
    for call in (net.loss, net.gradient, net.accuracy):
        with pytest.raises(ValueError, match=f"label {label} is out of range for 3 classes"):
            call(x, t)


def test_other_params_and_backends_take_the_general_path():
    rng = np.random.default_rng(6)
    net = _net(6, 5, 4, 3, 0.5)
    x, t = rng.random((7, 5)), rng.integers(0, 3, 7)
    ref = net.loss(x, t)
    net.params["W1"] = net.params["W1"].astype(np.float32)  # float32 weights: general path
    assert net._fast(x, t) is None
    assert np.isclose(net.loss(x, t), ref, rtol=1e-6)
    net.params["W1"] = net.params["W1"].astype(np.float64)
    with nnnum.use_backend("numpy"):
        assert net._fast(x, t) is None
        assert np.isclose(net.loss(x, t), ref, rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    batch=st.sampled_from([None, 1, 5]),
    kind=st.sampled_from(["labels", "onehot", "soft"]),
    scale=st.sampled_from([1.0, 1e3]),
)
def test_simple_net_loss_bit_for_bit(seed, batch, kind, scale):
    rng = np.random.default_rng(seed)
    net = SimpleNet(seed=seed)
    x = rng.random(2 if batch is None else (batch, 2)) * scale
    lab = rng.integers(0, 3, () if batch is None else batch)
    t = {"labels": lab, "onehot": np.eye(3)[lab], "soft": rng.random((*np.shape(lab), 3))}[kind]
    general = float(nnnum.cross_entropy_error(nnnum.softmax(net.predict(x)), t))
    _same(net.loss(x, t), general)


def _ref_loss(z, t) -> float:
    """The book's cross-entropy of softmax(z), by the slow references (tests/naive.py)."""
    return naive_cross_entropy(naive_softmax(z), t)


def _malformed(change: str) -> dict:
    p = _net(10, 5, 4, 3, 0.5).params
    if change == "missing":
        del p["b2"]
    elif change == "W1-1d":
        p["W1"] = p["W1"].ravel()
    elif change == "b1-shape":
        p["b1"] = np.zeros(5)
    elif change == "W2-rows":
        p["W2"] = np.zeros((5, 3))
    elif change == "b2-shape":
        p["b2"] = np.zeros(4)
    else:  # no classes
        p["W2"], p["b2"] = np.zeros((4, 0)), np.zeros(0)
    return p


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing", "params lacks b2; it needs W1 b1 W2 b2"),
        ("W1-1d", r"params\['W1'\] must be 2-D, got shape \(20,\)"),
        ("b1-shape", r"params\['b1'\] has shape \(5,\) but W1 has shape \(5, 4\)"),
        ("W2-rows", r"params\['W2'\] has shape \(5, 3\) but W1 has shape \(5, 4\)"),
        ("b2-shape", r"params\['b2'\] has shape \(4,\) .* expected \(3,\)"),
        ("no-classes", r"params have an empty layer: W1 \(5, 4\), W2 \(4, 0\)"),
    ],
)
def test_malformed_params_leave_the_fast_path_for_the_named_error(change, message):
    """Params the kernels cannot take: no fast path; every method names the problem."""
    net = TwoLayerNet(5, 4, 3, seed=10)
    net.params = _malformed(change)
    x, t = np.random.default_rng(10).random((6, 5)), np.zeros(6, dtype=np.int64)
    assert net._fast(x, t) is None
    for call in (net.loss, net.accuracy, net.gradient, lambda x, t: net.predict(x)):
        with pytest.raises(ValueError, match=message):
            call(x, t)


def test_simple_net_float32_weights_take_the_general_path():
    """A float32 W (not the kernel's float64): the loss of the general path, W's own rounding."""
    net = SimpleNet(seed=11)
    net.W = net.W.astype(np.float32)
    x, t = np.array([[0.6, 0.9], [-0.3, 0.2]]), np.array([2, 0])
    want = _ref_loss(x @ net.W.astype(np.float64), t)
    assert net.loss(x, t) == pytest.approx(want, rel=1e-12)
    assert net.W.dtype == np.float32


def test_simple_net_subclass_predict_is_the_loss_it_uses():
    """A subclass's own predict() feeds loss(): the fused kernel (x @ W) is not taken."""

    class Doubled(SimpleNet):
        def predict(self, x):
            return 2.0 * super().predict(x)

    net = Doubled(seed=12)
    x, t = np.array([[0.6, 0.9], [1.5, -0.4], [0.1, 0.1]]), np.array([1, 2, 0])
    want = _ref_loss(2.0 * (x @ net.W), t)
    assert net.loss(x, t) == pytest.approx(want, rel=1e-12)
