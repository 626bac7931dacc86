"""TwoLayerNet(784, 50, 10), batch 100: structured vs brute force vs the book's loop; training."""

from __future__ import annotations

import numpy as np

from .common import best_time, book_net_gradient_sampled, dense_batch, mnist_batch, nnnum


class NetGradient:
    params = (["mnist", "dense"],)
    param_names = ["inputs"]
    timeout = 600

    def setup(self, inputs: str) -> None:
        self.net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        if inputs == "mnist":
            self.x, self.t, _ = mnist_batch()
        else:
            self.x, self.t = dense_batch()
        self.net.numerical_gradient(self.x, self.t)
        self.net.gradient(self.x, self.t)

    def time_structured(self, inputs: str) -> None:
        self.net.numerical_gradient(self.x, self.t)

    def time_backprop(self, inputs: str) -> None:
        self.net.gradient(self.x, self.t)

    def time_loss(self, inputs: str) -> None:
        self.net.loss(self.x, self.t)

    def peakmem_structured(self, inputs: str) -> None:
        self.net.numerical_gradient(self.x, self.t)

    def track_book_loop_over_structured(self, inputs: str) -> float:
        """Book's per-element loop (timed on 400 sampled parameters, scaled) / structured.

        Targets: >= 100 on dense inputs, >= 300 on real MNIST digits.
        """
        book = book_net_gradient_sampled(self.net, self.x, self.t, samples=400)
        return book / best_time(lambda: self.net.numerical_gradient(self.x, self.t), repeat=5)

    track_book_loop_over_structured.unit = "ratio"

    def track_structured_over_backprop(self, inputs: str) -> float:
        """Structured numerical gradient / backprop on the same batch (target on MNIST: <= 10)."""
        structured = best_time(lambda: self.net.numerical_gradient(self.x, self.t), repeat=20)
        return structured / best_time(lambda: self.net.gradient(self.x, self.t), repeat=40)

    track_structured_over_backprop.unit = "ratio"

    def track_max_abs_diff_vs_brute(self, inputs: str) -> float:
        """Max |structured - brute force| on a 100-parameter sample of W1 (must be < 1e-9)."""
        g = self.net.numerical_gradient(self.x, self.t)
        rng = np.random.default_rng(1)
        w1 = self.net.params["W1"]
        worst = 0.0
        for flat in rng.choice(w1.size, 100, replace=False):
            idx = np.unravel_index(flat, w1.shape)
            tmp = w1[idx]
            w1[idx] = tmp + 1e-4
            lp = float(self.net.loss(self.x, self.t))
            w1[idx] = tmp - 1e-4
            lm = float(self.net.loss(self.x, self.t))
            w1[idx] = tmp
            step = (tmp + 1e-4) - (tmp - 1e-4)
            worst = max(worst, abs((lp - lm) / step - g["W1"][idx]))
        return worst


class SmallNetBrute:
    """The brute-force (book) path, on a net small enough to time whole."""

    def setup(self) -> None:
        self.net = nnnum.TwoLayerNet(64, 20, 10, seed=0)
        rng = np.random.default_rng(0)
        self.x, self.t = rng.random((50, 64)), rng.integers(0, 10, 50)
        self.net.numerical_gradient(self.x, self.t, strategy="brute")
        self.net.numerical_gradient(self.x, self.t)

    def time_brute(self) -> None:
        self.net.numerical_gradient(self.x, self.t, strategy="brute")

    def time_structured(self) -> None:
        self.net.numerical_gradient(self.x, self.t)


class TrainIteration:
    params = (["numerical", "backprop"],)
    param_names = ["gradient"]

    def setup(self, gradient: str) -> None:
        rng = np.random.default_rng(0)
        self.x, self.t, _ = mnist_batch(1000)
        self.net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        nnnum.train(self.net, self.x, self.t, iters=2, gradient=gradient, progress=False)
        del rng

    def time_ten_iterations(self, gradient: str) -> None:
        nnnum.train(self.net, self.x, self.t, iters=10, gradient=gradient, progress=False)

    def track_test_loss_after_50_steps(self, gradient: str) -> float:
        net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        hist = nnnum.train(
            net, self.x, self.t, iters=50, lr=1.0, gradient=gradient, seed=0, progress=False
        )
        return float(hist.train_loss[-10:].mean())
