"""CuPy backend checks: skipped cleanly (the ``gpu`` marker) without CuPy and a CUDA device."""

import numpy as np
import pytest

import nnnum
from nnnum.network import TwoLayerNet

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
    from nnnum.backends._gpu_kernels import softmax_ce_rows

    z = (rng.normal(size=(3, 50, 7)) * 5).astype(dtype)
    labels = rng.integers(0, 7, size=50)
    rows = cp.asnumpy(softmax_ce_rows(cp.asarray(z), cp.asarray(labels)))
    assert rows.shape == (3, 50)
    for b in range(3):
        with nnnum.use_backend("numba"):
            ref = nnnum.softmax_cross_entropy(z[b].astype(np.float64), labels, reduction="none")
        np.testing.assert_allclose(rows[b], ref, rtol=1e-12, atol=1e-12)
    big = cp.asarray(np.array([[1e8, 0.0, -1e8]], dtype=dtype))
    assert float(softmax_ce_rows(big, cp.asarray([0]))[0]) < 1e-6


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
    from nnnum.datasets import load_digits, train_test_split

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
