"""
1. Losses and mini-batches
==========================

A network *learns* by adjusting its weights so that a number, the **loss**, goes
down. This part shows why that number is a loss and not the accuracy, computes the
chapter's two losses with its own numbers, and takes them over a mini-batch.
"""

# %%
# Why a loss and not the accuracy
# -------------------------------
# Learning follows the derivative of the measure with respect to each weight. The
# accuracy is a count of right answers: a tiny change of one weight almost never
# changes it, so its derivative is 0 almost everywhere (and undefined where it
# jumps). A loss such as the cross-entropy changes smoothly with every weight.
#
# Here a one-weight "network" scores 10 samples; we change its weight a little.
import numpy as np

import nnnum

rng = np.random.default_rng(0)
x = rng.normal(size=(10, 2))
t = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)  # labels 0/1


def scores(w):
    logits = np.stack([np.zeros(10), x[:, 0] + w * x[:, 1]], axis=1)
    return nnnum.softmax(logits)


for w in (0.50, 0.5001):
    y = scores(w)
    acc = np.mean(y.argmax(axis=1) == t)
    print(f"w={w}: accuracy {acc:.2f}, cross-entropy {nnnum.cross_entropy_error(y, t):.6f}")

# %%
# The accuracy did not move; the loss did, and its change tells which way to go.
#
# Mean squared error
# ------------------
# .. math:: E = \frac{1}{2} \sum_k (y_k - t_k)^2
#
# ``t`` is the one-hot label (the answer is "2"), ``y`` the softmax output of a
# network. The chapter's two examples: ``y`` with 0.6 on "2" (right) and on "7" (wrong).
t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
print(nnnum.mean_squared_error(np.array(y), np.array(t)))
y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
print(nnnum.mean_squared_error(np.array(y), np.array(t)))

# %%
# 0.0975 and 0.5975, as in the chapter: the first output is closer to the label.
# ``sum_squared_error`` is the same function under the name the book's
# ``common/functions.py`` uses.
#
# Cross-entropy error
# -------------------
# .. math:: E = -\sum_k t_k \log (y_k + \delta), \qquad \delta = 10^{-7}
#
# Only the probability of the right class counts; the small ``delta`` keeps
# ``log(0)`` from becoming ``-inf``.
y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
print(nnnum.cross_entropy_error(np.array(y), np.array(t)))  # -log(0.6)
y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
print(nnnum.cross_entropy_error(np.array(y), np.array(t)))  # -log(0.1)

# %%
# 0.5108 and 2.3026, the chapter's numbers. A label instead of the one-hot vector
# gives the same value:
print(nnnum.cross_entropy_error(np.array(y), 2))

# %%
# Mini-batches
# ------------
# The loss of a training set is the mean of the per-sample losses,
# :math:`E = -\frac{1}{N}\sum_n \sum_k t_{nk} \log y_{nk}`. With 60,000 MNIST images,
# each step estimates it from a random **mini-batch**, as the chapter does with
# ``np.random.choice``. Here on scikit-learn's bundled digits (1,797 real 8x8
# handwritten digits, offline), which these pages use wherever the chapter uses MNIST:
from nnnum.data import load_digits

x_all, t_all = load_digits()
print(x_all.shape, t_all.shape)
train_size, batch_size = x_all.shape[0], 10
np.random.seed(0)
batch_mask = np.random.choice(train_size, batch_size)
x_batch, t_batch = x_all[batch_mask], t_all[batch_mask]
print(batch_mask)

# %%
# A batch of outputs ``y`` (one row per sample) and labels gives the batch's mean
# loss; one-hot rows give the same number:
y_batch = nnnum.softmax(rng.normal(size=(batch_size, 10)))
print(nnnum.cross_entropy_error(y_batch, t_batch))
print(nnnum.cross_entropy_error(y_batch, np.eye(10)[t_batch]))

# %%
# On MNIST, ``load_mnist`` reads the book's files (``nnnum.load_mnist(normalize=True,
# one_hot_label=True)`` returns ``(x_train, t_train), (x_test, t_test)``, downloading
# them once to ``~/.cache/nnnum/mnist`` where the internet can be reached). The code
# below is **not run** when these pages are built:
#
# .. code-block:: python
#
#    # not run here: needs the MNIST files
#    (x_train, t_train), (x_test, t_test) = nnnum.load_mnist(normalize=True, one_hot_label=True)
#    print(x_train.shape, t_train.shape)  # (60000, 784) (60000, 10)
