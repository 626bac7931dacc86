from pathlib import Path

import numpy as np
import pytest

import nnnum
from nnnum.datasets import load_digits, train_test_split

MNIST_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def digits():
    return train_test_split(*load_digits(), seed=0)


def test_numerical_training_on_digits_reaches_85_percent(digits):
    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 30, 10, weight_init_std=0.1, seed=0)
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=300, lr=2.0, progress=False)
    assert hist.test_acc[-1] > 0.85
    assert hist.train_loss.shape == (300,)
    assert hist.train_loss[-20:].mean() < hist.train_loss[:20].mean() / 3
    assert len(hist.train_acc) == len(hist.test_acc) == len(hist.eval_iters)


def test_numerical_and_backprop_training_agree_epoch_by_epoch(digits):
    (xtr, ttr), (xte, tte) = digits
    runs = {}
    for g in ("numerical", "backprop"):
        net = nnnum.TwoLayerNet(64, 20, 10, weight_init_std=0.1, seed=1)
        runs[g] = nnnum.train(
            net, xtr, ttr, xte, tte, iters=200, lr=1.5, gradient=g, seed=4, progress=False
        )
    a, b = runs["numerical"], runs["backprop"]
    assert np.max(np.abs(np.array(a.test_acc) - np.array(b.test_acc))) <= 0.005
    np.testing.assert_allclose(a.train_loss, b.train_loss, atol=1e-6)


def test_same_seed_same_run(digits):
    (xtr, ttr), _ = digits
    out = []
    for _ in range(2):
        net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
        nnnum.train(net, xtr, ttr, iters=20, lr=1.0, seed=9, progress=False)
        out.append(net.params["W1"].copy())
    np.testing.assert_array_equal(out[0], out[1])


def test_error_in_a_step_leaves_params_untouched(digits):
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    real = net.gradient
    calls = {"n": 0}
    snapshot = {}

    def flaky(x, t):
        calls["n"] += 1
        g = real(x, t)
        if calls["n"] == 3:
            snapshot.update({k: v.copy() for k, v in net.params.items()})
            g["b2"] = g["b2"] * np.nan  # W1, b1, W2 fine, b2 broken
        return g

    net.gradient = flaky
    with pytest.raises(FloatingPointError, match="b2 at iteration 2"):
        nnnum.train(net, xtr, ttr, iters=10, lr=1.0, gradient="backprop", progress=False)
    for k in net.params:  # exactly the params before the failed step: no half update
        np.testing.assert_array_equal(net.params[k], snapshot[k])


def test_bad_training_data(digits):
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    with pytest.raises(ValueError, match="64 inputs"):
        nnnum.train(net, xtr[:, :60], ttr, iters=1, progress=False)
    bad = xtr.copy()
    bad[5, 3] = np.nan
    with pytest.raises(ValueError, match="sample 5"):
        nnnum.train(net, bad, ttr, iters=1, progress=False)
    with pytest.raises(ValueError, match="out of range"):
        nnnum.train(net, xtr, ttr + 1, iters=1, progress=False)
    with pytest.raises(ValueError, match="gradient"):
        nnnum.train(net, xtr, ttr, iters=1, gradient="exact", progress=False)
    with pytest.raises(ValueError, match="lr"):
        nnnum.train(net, xtr, ttr, iters=1, lr=-1.0, progress=False)


def test_plot_history(tmp_path, digits):
    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=30, lr=1.0, progress=False)
    png = nnnum.plot_history(hist, tmp_path / "sub" / "fig.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="../shared/data/mnist is absent")
def test_real_mnist_digits_train():
    import warnings

    from nnnum.datasets import load_mnist

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _, (x, t) = load_mnist(MNIST_DIR)
    assert x.shape == (10_000, 784) and np.bincount(t).tolist() == [
        980,
        1135,
        1032,
        1010,
        982,
        892,
        958,
        1028,
        974,
        1009,
    ]
    net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
    hist = nnnum.train(
        net, x[:8000], t[:8000], x[8000:], t[8000:], iters=400, lr=1.0, progress=False
    )
    assert hist.test_acc[-1] > 0.85
