"""
3. Learning: simpleNet, TwoLayerNet and the gradient check
==========================================================

The gradient of a network's loss with respect to its weights, by numerical
differentiation: ``simpleNet`` (one weight matrix), then the chapter's two-layer
network trained by mini-batch gradient descent (figures 4-11 and 4-12), and the
check of the numerical gradient against backpropagation (chapter 5).
"""

# %%
# simpleNet's gradient
# --------------------
# A 2x3 weight matrix ``W``, a softmax and the cross-entropy error. The book fixes
# ``W`` to print its numbers; the loss as a function of ``W`` is the closure
# ``lambda w: net.loss(x, t)``, which ignores its argument and reads ``net.W``,
# the very array that ``numerical_gradient`` perturbs in place:
import time

import matplotlib.pyplot as plt
import numpy as np

import nnnum

net = nnnum.simpleNet()
net.W = np.array([[0.47355232, 0.9977393, 0.84668094], [0.85557411, 0.03563661, 0.69422093]])
x = np.array([0.6, 0.9])
t = np.array([0, 0, 1])
print(net.predict(x))
print(np.argmax(net.predict(x)))
print(net.loss(x, t))

f = lambda w: net.loss(x, t)  # noqa: E731 (the book's idiom)
dW = nnnum.numerical_gradient(f, net.W)
print(dW)

# %%
# The book prints the loss 0.92806853663411326 and
# ``dW = [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]]``.
# Its printed run left out the cross-entropy's ``1e-7`` guard; the book's own code
# and nnnum include it, so the loss here is 2.5e-7 lower and ``dW`` up to 1.4e-7 away.
# ``dW[0, 0]`` of about 0.2 says: increasing ``w11`` by ``h`` increases the loss by
# about ``0.2 h``.
#
# TwoLayerNet and mini-batch training
# -----------------------------------
# The chapter's network: an affine layer, a sigmoid, an affine layer and a softmax,
# with its parameters in ``net.params`` (``W1``, ``b1``, ``W2``, ``b2``). On the
# 8x8 digits the input has 64 values (784 on MNIST's 28x28):
from nnnum.data import load_digits, train_test_split

(x_train, t_train), (x_test, t_test) = train_test_split(*load_digits(), seed=0)
print(x_train.shape, x_test.shape)
net = nnnum.TwoLayerNet(input_size=64, hidden_size=50, output_size=10, seed=0)
print({k: v.shape for k, v in net.params.items()})

# %%
# ``net.numerical_gradient(x, t)`` is the book's method, its central difference
# for every one of the 3,760 parameters. nnnum's class computes each perturbation's
# effect on the loss from the one hidden unit or logit it changes (the same central
# differences as the element-by-element loop, to 1e-9), which is what makes training
# by numerical gradients practical. The book's own class on nnnum's functions gets no
# such speed: it calls the whole loss twice per parameter.


class BookTwoLayerNet:
    """The book's ``numerical_gradient`` method on nnnum's functions."""

    def __init__(self, params):
        self.params = {k: v.copy() for k, v in params.items()}

    def loss(self, x, t):
        p = self.params
        z1 = nnnum.sigmoid(x @ p["W1"] + p["b1"])
        return nnnum.cross_entropy_error(nnnum.softmax(z1 @ p["W2"] + p["b2"]), t)

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731
        return {k: nnnum.numerical_gradient(loss_W, self.params[k]) for k in self.params}


book = BookTwoLayerNet(net.params)
xb, tb = x_train[:100], t_train[:100]
fast = net.numerical_gradient(xb, tb)  # first call: compiles
t0 = time.perf_counter()
fast = net.numerical_gradient(xb, tb)
t_fast = time.perf_counter() - t0
t0 = time.perf_counter()
slow = book.numerical_gradient(xb, tb)
t_slow = time.perf_counter() - t0
print(f"nnnum's TwoLayerNet {1e3 * t_fast:.1f} ms, the book's class {1e3 * t_slow:.0f} ms")
print("largest difference:", max(np.abs(fast[k] - slow[k]).max() for k in fast))

# %%
# (Timed while these pages were built; the ratio grows with the network: on MNIST's
# 784-50-10 net and a batch of 100 the book's loop evaluates the loss 79,520 times.)
#
# Training: each iteration draws a mini-batch of 100, takes the numerical gradient
# and moves every parameter by ``-lr * grad``; once per epoch the accuracy on the
# whole training and test sets is measured. ``nnnum.train`` is the book's
# ``train_neuralnet.py`` loop:
hist = nnnum.train(
    net, x_train, t_train, x_test, t_test, iters=1000, batch_size=100, lr=1.0, progress=False
)
print(f"{len(hist.train_loss)} iterations in {hist.seconds:.1f} s")
print(f"train acc {hist.train_acc[-1]:.4f}, test acc {hist.test_acc[-1]:.4f}")

# %%
# Figure 4-11, the mini-batch loss, falls with the iterations (noisily: each point is
# another batch); figure 4-12, the accuracies per epoch, rise together: the test
# accuracy follows the training accuracy, so the net is not overfitting.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
ax1.plot(hist.train_loss, lw=0.8)
ax1.set_xlabel("iteration")
ax1.set_ylabel("loss")
epochs = np.arange(len(hist.train_acc))
ax2.plot(epochs, hist.train_acc, "o-", label="train acc")
ax2.plot(epochs, hist.test_acc, "s--", label="test acc")
ax2.set_xlabel("epochs")
ax2.set_ylabel("accuracy")
ax2.set_ylim(0, 1.0)
ax2.legend(loc="lower right")
plt.show()

# %%
# ``nnnum.plot_history(hist, "training.png")`` draws the same two panels to a file.
# Backpropagation (``gradient="backprop"``, chapter 5) from the same initial weights
# and batches follows the same path:
net_bp = nnnum.TwoLayerNet(64, 50, 10, seed=0)
hist_bp = nnnum.train(
    net_bp,
    x_train,
    t_train,
    x_test,
    t_test,
    iters=1000,
    lr=1.0,
    gradient="backprop",
    progress=False,
)
print("numerical:", np.round(hist.test_acc[::12], 3))
print("backprop: ", np.round(hist_bp.test_acc[::12], 3))
print("the same accuracy at every epoch:", hist.test_acc == hist_bp.test_acc)

# %%
# On MNIST
# --------
# The same on the book's data, 60,000 28x28 images (the files are downloaded once,
# MD5-checked). This is **not run** when the pages are built (no download there);
# run it yourself:
#
# .. code-block:: python
#
#    # not run here: needs the MNIST files
#    (x_train, t_train), (x_test, t_test) = nnnum.load_mnist(normalize=True, one_hot_label=True)
#    net = nnnum.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)
#    hist = nnnum.train(net, x_train, t_train, x_test, t_test, iters=4000, lr=1.0, verbose=True)
#    nnnum.plot_history(hist, "mnist.png")
#
# or, from a shell, ``python -m nnnum train --dataset mnist --iters 4000 --lr 1.0``.
#
# The gradient check
# ------------------
# Backpropagation is fast but easy to get wrong; the numerical gradient is slow but
# simple. Chapter 5's ``gradient_check.py`` compares the two on three samples, by
# the mean absolute difference per parameter (the book prints 1e-13 to 1e-10):
net = nnnum.TwoLayerNet(input_size=64, hidden_size=50, output_size=10, seed=1)
x_batch, t_batch = x_train[:3], t_train[:3]
grad_numerical = net.numerical_gradient(x_batch, t_batch)
grad_backprop = net.gradient(x_batch, t_batch)
for key in grad_numerical:
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(key + ":" + str(diff))

# %%
# ``nnnum.gradcheck`` does the same with a relative tolerance per element and a
# report:
result = nnnum.gradcheck(net, x_batch, t_batch)
print(bool(result))
print(result.report())
