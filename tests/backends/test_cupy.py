"""CuPy backend checks: skipped cleanly (the ``gpu`` marker) without CuPy and a CUDA device."""

import numpy as np
import pytest

import nnnum
from nnnum.nets import TwoLayerNet

pytestmark = pytest.mark.gpu


@pytest.fixture
def cp():
    import cupy

    with nnnum.use_backend("cupy"):
        yield cupy


def test_losses_and_activations_match_numba(cp, rng):
    z = rng.normal(size=(257, 10)) * 20
    labels = rng.integers(0, 10, size=257)
    onehot = np.eye(10)[labels]
    zd, ld, od = cp.asarray(z), cp.asarray(labels), cp.asarray(onehot)
    gpu = {
        "softmax": nnnum.softmax(zd),
        "sigmoid": nnnum.sigmoid(zd),
        "ce": nnnum.cross_entropy_error(nnnum.softmax(zd), ld),
        "ce1": nnnum.cross_entropy_error(nnnum.softmax(zd), od),
        "sce": nnnum.softmax_cross_entropy(zd, ld, reduction="none"),
        "sce1": nnnum.softmax_cross_entropy(zd, od),
        "mse": nnnum.mean_squared_error(nnnum.softmax(zd), od),
    }
    assert isinstance(gpu["softmax"], cp.ndarray) and isinstance(gpu["sce"], cp.ndarray)
    with nnnum.use_backend("numba"):
        y = nnnum.softmax(z)
        cpu = {
            "softmax": y,
            "sigmoid": nnnum.sigmoid(z),
            "ce": nnnum.cross_entropy_error(y, labels),
            "ce1": nnnum.cross_entropy_error(y, onehot),
            "sce": nnnum.softmax_cross_entropy(z, labels, reduction="none"),
            "sce1": nnnum.softmax_cross_entropy(z, onehot),
            "mse": nnnum.mean_squared_error(y, onehot),
        }
    for key in cpu:
        np.testing.assert_allclose(cp.asnumpy(gpu[key]), cpu[key], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_kernel_batched_any_leading_shape(cp, rng, dtype):
    from nnnum.backends import cupy as gpu

    z = (rng.normal(size=(3, 50, 7)) * 5).astype(dtype)
    labels = rng.integers(0, 7, size=50)
    zd = cp.asarray(z)
    losses = cp.asnumpy(gpu.batched_label_loss(zd, cp.asarray(labels), 0.0))
    np.testing.assert_array_equal(cp.asnumpy(zd), z)  # the input is never written
    assert losses.shape == (3,)
    for b in range(3):
        with nnnum.use_backend("numba"):
            ref = nnnum.softmax_cross_entropy(z[b].astype(np.float64), labels)
        np.testing.assert_allclose(losses[b], ref, rtol=1e-12, atol=1e-12)
    big = cp.asarray(np.array([[1e8, 0.0, -1e8]], dtype=dtype))
    assert float(gpu.fused_rows(big, cp.asarray([0]), None, 0.0)[0]) < 1e-6


@pytest.mark.parametrize("k", [10, 300])  # one thread per row; one block per row
def test_fused_rows_on_a_side_stream_and_non_finite(cp, rng, k):
    from nnnum.backends import cupy as gpu

    z = rng.normal(size=(1000, k)) * 10
    z[0, 1], z[1, 2], z[2, 3] = np.nan, np.inf, -np.inf
    labels = rng.integers(0, k, 1000)
    with nnnum.use_backend("numba"):
        ref = nnnum.softmax_cross_entropy(z, labels, reduction="none")
    with cp.cuda.Stream(non_blocking=True):  # the kernel runs in order with CuPy's work there
        zd = cp.asarray(z) * 1.0
        got = cp.asnumpy(gpu.fused_rows(zd, cp.asarray(labels), None, 0.0))
        dense = cp.asnumpy(gpu.fused_rows(zd, None, cp.asarray(np.eye(k)[labels]), 0.0))
    np.testing.assert_allclose(got, ref, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(dense, ref, rtol=1e-13, atol=1e-13)


def test_device_questions(cp):
    be = nnnum.backends.current()
    a = cp.arange(3.0)
    assert be.is_device_array(a) and not be.is_device_array(np.ones(2))
    assert isinstance(be.to_host(a), np.ndarray) and be.to_host(2.0) == 2.0
    free, _total = cp.cuda.runtime.memGetInfo()
    assert be.batch_budget(1 << 20, 64 << 20) >= min(1000, free // (8 << 20))
    assert be.batch_budget(1 << 62, 64 << 20) == 1  # never zero


def test_network_gradient_on_device_matches_numba(cp, rng):
    x = rng.random((100, 784))
    x[x < 0.8] = 0
    t = rng.integers(0, 10, 100)
    with nnnum.use_backend("numba"):
        net = TwoLayerNet(784, 50, 10, seed=0)
        ref = net.numerical_gradient(x, t)
    gnet = TwoLayerNet(784, 50, 10, seed=0)
    assert isinstance(gnet.params["W1"], cp.ndarray)
    g = gnet.numerical_gradient(cp.asarray(x), cp.asarray(t))
    for key in ref:
        assert isinstance(g[key], cp.ndarray)
        np.testing.assert_allclose(cp.asnumpy(g[key]), ref[key], rtol=0, atol=1e-9)


def test_training_keeps_params_on_device(cp, rng):
    from nnnum.data import load_digits, train_test_split

    (xtr, ttr), (xte, tte) = train_test_split(*load_digits(), seed=0)
    net = TwoLayerNet(64, 30, 10, weight_init_std=0.1, seed=0)
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=300, lr=2.0, progress=False)
    assert all(isinstance(p, cp.ndarray) for p in net.params.values())
    assert isinstance(hist.train_loss, np.ndarray) and hist.test_acc[-1] > 0.85


def test_batched_generic_gradient_on_device(cp, rng):
    x = rng.normal(size=(4, 5))
    g = nnnum.numerical_gradient(lambda X: (X**3).reshape(len(X), -1).sum(axis=1), x, batched=True)
    assert isinstance(g, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(g), 3 * x**2, rtol=1e-7)
    with pytest.raises(TypeError, match="batched=True"):
        nnnum.numerical_gradient(lambda v: float(v.sum()), cp.asarray(x))
