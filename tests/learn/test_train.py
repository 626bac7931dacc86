from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import nnnum
from nnnum.data import load_digits, train_test_split
from nnnum.learn.train import TrainingDivergedError
from nnnum.nets import TwoLayerNet

MNIST_DIR = Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"


@pytest.fixture(scope="module")
def digits():
    return train_test_split(*load_digits(), seed=0)


@pytest.mark.jit_only
def test_numerical_training_on_digits_reaches_85_percent(digits):
    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 30, 10, weight_init_std=0.1, seed=0)
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=300, lr=2.0, progress=False)
    assert hist.test_acc[-1] > 0.85
    assert hist.train_loss.shape == (300,)
    assert hist.train_loss[-20:].mean() < hist.train_loss[:20].mean() / 3
    assert len(hist.train_acc) == len(hist.test_acc) == len(hist.eval_iters)


@pytest.mark.jit_only
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


@pytest.mark.jit_only
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
    with pytest.raises(FloatingPointError, match="diverged at iteration 2: .*gradient of b2"):
        nnnum.train(net, xtr, ttr, iters=10, lr=1.0, gradient="backprop", progress=False)
    for k in net.params:  # exactly the params before the failed step: no half update
        np.testing.assert_array_equal(net.params[k], snapshot[k])


def _identified(n=100, d=4, seed=0):
    """Training data whose first column names the sample: x[i, 0] == i / n."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    x[:, 0] = np.arange(n) / n
    return x, rng.integers(0, 3, n)


def test_batches_are_drawn_from_the_whole_training_set():
    x, t = _identified()
    net = nnnum.TwoLayerNet(4, 5, 3, seed=0)
    real = net.numerical_gradient
    seen = []

    def spy(xb, tb):
        seen.append(np.rint(np.asarray(xb)[:, 0] * 100).astype(int))
        return real(xb, tb)

    net.numerical_gradient = spy
    nnnum.train(net, x, t, iters=5, batch_size=10, lr=0.1, progress=False)
    assert len(seen) == 5
    assert all(len(set(b.tolist())) == 10 for b in seen)  # no repeats within a batch
    touched = set(np.concatenate(seen).tolist())
    # expected 100 * (1 - 0.9**5) = 41 distinct samples; batches taken from the first
    # batch_size (or a fixed few) samples touch 10
    assert len(touched) >= 30, sorted(touched)
    assert max(touched) >= 50 and min(touched) < 50


@pytest.mark.jit_only
def test_history_ends_with_the_final_accuracy(digits):
    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 10, 10, weight_init_std=0.1, seed=0)
    # 1437 samples / 100 = 14 iterations per epoch; 37 is not an epoch boundary
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=37, lr=1.0, progress=False)
    assert hist.eval_iters == [0, 14, 28, 36]
    assert hist.train_acc[-1] == net.accuracy(xtr, ttr)
    assert hist.test_acc[-1] == net.accuracy(xte, tte)
    # an epoch boundary as the last iteration is measured once
    hist = nnnum.train(net, xtr, ttr, iters=29, lr=1.0, progress=False)
    assert hist.eval_iters == [0, 14, 28]
    assert hist.train_acc[-1] == net.accuracy(xtr, ttr) and hist.test_acc == []


def test_batch_size_is_clamped_to_the_training_set():
    x, t = _identified(n=30)
    net = nnnum.TwoLayerNet(4, 5, 3, seed=0)
    hist = nnnum.train(net, x, t, iters=3, batch_size=500, lr=0.1, progress=False)
    assert hist.batch_size == 30
    assert hist.eval_iters == [0, 1, 2]  # one iteration per epoch


def test_numerical_divergence_is_reported_with_its_iteration(digits):
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    # iteration 0 makes W1 ~1e296: below the step h of the numerical gradient at iteration 1
    with pytest.raises(TrainingDivergedError) as info:
        nnnum.train(net, xtr, ttr, iters=10, lr=1e300, progress=False)
    exc = info.value
    assert isinstance(exc, FloatingPointError)  # what train raised before
    assert exc.iteration == 1
    assert str(exc).startswith("training diverged at iteration 1: W1 reaches ")
    assert "h=0.0001" in str(exc) and "lower lr" in str(exc)
    assert len(exc.history.train_loss) == 2 and exc.history.eval_iters == [0]


def test_overflowing_update_is_divergence(digits):
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    real = net.gradient
    calls = {"n": 0}
    snapshot = {}

    def huge(x, t):
        calls["n"] += 1
        g = real(x, t)
        if calls["n"] == 2:
            snapshot.update({k: v.copy() for k, v in net.params.items()})
            g["W2"] = g["W2"] + 1e307  # a finite gradient, an overflowing update
        return g

    net.gradient = huge
    with pytest.raises(TrainingDivergedError, match="iteration 1: the update of W2 overflows"):
        nnnum.train(net, xtr, ttr, iters=10, lr=100.0, gradient="backprop", progress=False)
    for k in net.params:
        np.testing.assert_array_equal(net.params[k], snapshot[k])


def test_non_finite_loss_is_divergence(digits):
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    real = net.loss
    calls = {"n": 0}

    def loss(x, t):
        calls["n"] += 1
        return real(x, t) if calls["n"] != 4 else float("nan")

    net.loss = loss
    with pytest.raises(TrainingDivergedError, match="diverged at iteration 3: the loss is nan"):
        nnnum.train(net, xtr, ttr, iters=10, lr=1.0, progress=False)
    assert calls["n"] == 4


def test_unrelated_gradient_errors_are_not_called_divergence(digits):
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)

    def broken(x, t):
        raise ValueError("a bug in the gradient")

    net.numerical_gradient = broken
    with pytest.raises(ValueError, match="a bug in the gradient"):
        nnnum.train(net, xtr, ttr, iters=3, progress=False)


@pytest.mark.jit_only
def test_verbose_prints_the_books_line_per_epoch(digits, capsys):
    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=30, lr=1.0, progress=False)
    assert capsys.readouterr().out == ""  # quiet by default
    calls = []
    hist = nnnum.train(
        net,
        xtr,
        ttr,
        xte,
        tte,
        iters=30,
        lr=1.0,
        progress=False,
        verbose=True,
        callback=lambda h: calls.append((h.eval_iters[-1], h.train_acc[-1])),
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "train acc, test acc | " + str(a) + ", " + str(b)
        for a, b in zip(hist.train_acc, hist.test_acc, strict=True)
    ]
    assert calls == list(zip(hist.eval_iters, hist.train_acc, strict=True))
    nnnum.train(net, xtr, ttr, iters=3, lr=1.0, progress=False, verbose=True)
    assert capsys.readouterr().out.startswith("train acc | 0.")


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
    net.params["b1"][3] = np.inf
    with pytest.raises(ValueError, match="b1.*before training"):
        nnnum.train(net, xtr, ttr, iters=1, progress=False)


def test_plot_history(tmp_path, digits):
    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    hist = nnnum.train(net, xtr, ttr, xte, tte, iters=30, lr=1.0, progress=False)
    png = nnnum.plot_history(hist, tmp_path / "sub" / "fig.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.jit_only
@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="../shared/data/mnist is absent")
def test_real_mnist_digits_train():
    from nnnum.data import load_mnist

    x, t = load_mnist(MNIST_DIR, split="test")
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


# ---- training: batches from the whole set, accuracy at the last iteration --------------------
def _train_data(n=60, d=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, d))
    x[:, 0] = np.arange(n) / n
    return x, rng.integers(0, 3, n)


def test_train_batches_cover_the_training_set():
    x, t = _train_data()
    net = TwoLayerNet(4, 3, 3, seed=0)
    real = net.gradient
    seen = []

    def spy(xb, tb):
        seen.append(np.rint(np.asarray(xb)[:, 0] * 60).astype(int))
        return real(xb, tb)

    net.gradient = spy
    nnnum.train(net, x, t, iters=6, batch_size=6, lr=0.1, gradient="backprop", progress=False)
    touched = set(np.concatenate(seen).tolist())
    assert max(touched) >= 30 and len(touched) > 12, sorted(touched)


@pytest.mark.parametrize(
    ("iters", "evals"),
    [(1, [0]), (2, [0, 1]), (11, [0, 10]), (21, [0, 10, 20]), (23, [0, 10, 20, 22])],
)
def test_train_accuracy_recorded_at_the_last_iteration(iters, evals):
    x, t = _train_data(n=60)
    xt, tt = _train_data(n=20, seed=1)
    net = TwoLayerNet(4, 3, 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hist = nnnum.train(
            net,
            x,
            t,
            xt,
            tt,
            iters=iters,
            batch_size=6,
            lr=0.1,
            gradient="backprop",
            progress=False,
        )
    assert hist.eval_iters == evals
    assert len(hist.train_acc) == len(hist.test_acc) == len(evals)
    assert hist.train_acc[-1] == net.accuracy(x, t) and hist.test_acc[-1] == net.accuracy(xt, tt)


class _RecordingBar:
    """tqdm's interface as train() uses it, recording every call."""

    made: list[_RecordingBar] = []

    def __init__(self, **kwargs):
        self.kwargs, self.updates, self.postfixes, self.lines = kwargs, 0, [], []
        self.closed = False
        _RecordingBar.made.append(self)

    def update(self, n):
        self.updates += n

    def set_postfix(self, **kwargs):
        self.postfixes.append(kwargs)

    def write(self, line, file=None):
        self.lines.append((line, file))

    def close(self):
        self.closed = True


@pytest.fixture
def recording_bar(monkeypatch):
    import tqdm.auto

    _RecordingBar.made = []
    monkeypatch.setattr(tqdm.auto, "tqdm", _RecordingBar)
    return _RecordingBar.made


def test_progress_bar_counts_iterations_and_shows_loss_and_accuracy(digits, recording_bar):
    """progress=True: one bar of `iters` steps, loss/accuracy per epoch, epoch lines through it."""
    import sys

    (xtr, ttr), (xte, tte) = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    hist = nnnum.train(
        net, xtr[:100], ttr[:100], xte, tte, iters=7, batch_size=50, lr=1.0,
        gradient="backprop", progress=True, verbose=True,
    )  # fmt: skip
    (bar,) = recording_bar
    assert bar.kwargs["total"] == 7 and bar.kwargs["disable"] is False
    assert bar.kwargs["desc"] == "train (backprop)"
    assert bar.updates == 7 and bar.closed
    assert hist.eval_iters == [0, 2, 4, 6]
    assert bar.postfixes == [
        {"loss": f"{hist.train_loss[i]:.3f}", "test_acc": f"{a:.3f}"}
        for i, a in zip(hist.eval_iters, hist.test_acc, strict=True)
    ]
    assert bar.lines == [
        (f"train acc, test acc | {a}, {b}", sys.stdout)
        for a, b in zip(hist.train_acc, hist.test_acc, strict=True)
    ]


def test_progress_bar_without_test_data_and_on_divergence(digits, recording_bar):
    """No test set: '-' for the test accuracy; a diverging run still closes its bar."""
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    nnnum.train(net, xtr, ttr, iters=1, gradient="backprop", progress=True, verbose=True)
    assert recording_bar[0].postfixes[0]["test_acc"] == "-"
    assert recording_bar[0].lines[0][0].startswith("train acc | 0.")

    def overflowing(x, t):
        raise FloatingPointError("overflow")

    net.gradient = overflowing
    with pytest.raises(TrainingDivergedError, match="iteration 0"):
        nnnum.train(net, xtr, ttr, iters=3, gradient="backprop", progress=True)
    assert recording_bar[1].closed and recording_bar[1].updates == 0


@pytest.mark.parametrize("batch_size", [0, -5, 2.5, True])
def test_batch_size_must_be_a_positive_integer(digits, batch_size):
    """batch_size of 0, negative, fractional or a bool is refused before any step."""
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got"):
        nnnum.train(net, xtr, ttr, iters=1, batch_size=batch_size, progress=False)
    for k, v in before.items():
        np.testing.assert_array_equal(net.params[k], v)


def test_floating_point_error_in_the_gradient_is_divergence(digits):
    """A FloatingPointError from the gradient at finite params is reported as divergence."""
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)

    def overflowing(x, t):
        raise FloatingPointError("overflow encountered in exp")

    net.gradient = overflowing
    with pytest.raises(
        TrainingDivergedError,
        match=r"iteration 0: the backprop gradient failed \(overflow encountered in exp\)",
    ):
        nnnum.train(net, xtr, ttr, iters=3, gradient="backprop", progress=False)


def test_param_trouble_names_a_non_finite_parameter():
    """The divergence diagnosis names the first parameter holding NaN or inf."""
    from nnnum.learn.train import _param_trouble

    params = {"W1": np.ones(3), "b1": np.array([0.0, np.nan]), "W2": np.array([np.inf])}
    assert _param_trouble(params) == "b1 is not finite"
    assert _param_trouble({"W1": np.ones(3)}) is None


def test_plot_history_without_test_accuracy(tmp_path, digits):
    """A run without test data plots its loss and training accuracy alone."""
    (xtr, ttr), _ = digits
    net = nnnum.TwoLayerNet(64, 10, 10, seed=0)
    hist = nnnum.train(net, xtr, ttr, iters=3, gradient="backprop", progress=False)
    assert hist.test_acc == []
    png = nnnum.plot_history(hist, tmp_path / "fig.png")
    assert png == tmp_path / "fig.png" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
