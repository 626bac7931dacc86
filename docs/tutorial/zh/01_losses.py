"""
1. 损失函数与 mini-batch
========================

神经网络的"学习"，就是调整权重参数，使一个指标——**损失函数**——的值变小。本节说明为什么用损失函数而不用识别精度作指标，用本章的数值计算两种损失函数，并在 mini-batch
上求损失。
"""

# %%
# 为什么用损失函数，而不用识别精度
# --------------------------------
# 学习依靠指标对每个权重参数的导数。识别精度是"答对了几个"：权重的微小变化几乎不会改变它，所以它的导数几乎处处为 0（在跳变处没有定义）。交叉熵误差这样的损失函数则随每个权重连续变化。
#
# 下面一个只有一个权重的"网络"给 10 个样本打分，我们把权重改动一点点：
import numpy as np

import nnnum

rng = np.random.default_rng(0)
x = rng.normal(size=(10, 2))
t = (x[:, 0] + 0.3 * x[:, 1] > 0).astype(int)  # 标签 0/1


def scores(w):
    logits = np.stack([np.zeros(10), x[:, 0] + w * x[:, 1]], axis=1)
    return nnnum.softmax(logits)


for w in (0.50, 0.5001):
    y = scores(w)
    acc = np.mean(y.argmax(axis=1) == t)
    print(f"w={w}: accuracy {acc:.2f}, cross-entropy {nnnum.cross_entropy_error(y, t):.6f}")

# %%
# 识别精度没有变，损失函数变了，而且它的变化告诉我们该往哪个方向调整。
#
# 均方误差
# --------
# .. math:: E = \frac{1}{2} \sum_k (y_k - t_k)^2
#
# ``t`` 是 one-hot 表示的监督数据（正确答案是"2"），``y`` 是神经网络的 softmax 输出。本章的两个例子：``y`` 在"2"上为 0.6（答对）和在"7"上为 0.6（答错）。
t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
print(nnnum.mean_squared_error(np.array(y), np.array(t)))
y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
print(nnnum.mean_squared_error(np.array(y), np.array(t)))

# %%
# 0.0975 和 0.5975，与本章相同：第一个输出更接近监督数据。``sum_squared_error`` 是同一个函数，用的是书中 ``common/functions.py`` 的名字。
#
# 交叉熵误差
# ----------
# .. math:: E = -\sum_k t_k \log (y_k + \delta), \qquad \delta = 10^{-7}
#
# 只有正确解标签对应的概率起作用；微小的 ``delta`` 防止 ``log(0)`` 变成 ``-inf``\ 。
y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
print(nnnum.cross_entropy_error(np.array(y), np.array(t)))  # -log(0.6)
y = [0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0]
print(nnnum.cross_entropy_error(np.array(y), np.array(t)))  # -log(0.1)

# %%
# 0.5108 和 2.3026，即本章的数值。用标签代替 one-hot 向量，结果相同：
print(nnnum.cross_entropy_error(np.array(y), 2))

# %%
# mini-batch 学习
# ---------------
# 训练数据的损失函数是各个样本损失的平均，
# :math:`E = -\frac{1}{N}\sum_n \sum_k t_{nk} \log y_{nk}`\ 。MNIST 有 60,000 张图像，每一步只从中随机选出一批数据（**mini-batch**）来近似，本章用的是
# ``np.random.choice``\ 。这里使用 scikit-learn 自带的手写数字数据集（1,797 个真实的
# 8x8 手写数字，无需联网）；本章用 MNIST 的地方，这些页面都用它代替：
from nnnum.data import load_digits

x_all, t_all = load_digits()
print(x_all.shape, t_all.shape)
train_size, batch_size = x_all.shape[0], 10
np.random.seed(0)
batch_mask = np.random.choice(train_size, batch_size)
x_batch, t_batch = x_all[batch_mask], t_all[batch_mask]
print(batch_mask)

# %%
# 一批输出 ``y``\ （每个样本一行）和标签给出这批数据的平均损失；用 one-hot 行也一样：
y_batch = nnnum.softmax(rng.normal(size=(batch_size, 10)))
print(nnnum.cross_entropy_error(y_batch, t_batch))
print(nnnum.cross_entropy_error(y_batch, np.eye(10)[t_batch]))

# %%
# 在 MNIST 上，``load_mnist`` 读取书中的文件（``nnnum.load_mnist(normalize=True,
# one_hot_label=True)`` 返回 ``(x_train, t_train), (x_test, t_test)``；在能联网的地方，第一次会下载到 ``~/.cache/nnnum/mnist``）。下面的代码在构建这些页面时\ **不运行**：
#
# .. code-block:: python
#
#    # not run here: needs the MNIST files（此处不运行：需要 MNIST 文件）
#    (x_train, t_train), (x_test, t_test) = nnnum.load_mnist(normalize=True, one_hot_label=True)
#    print(x_train.shape, t_train.shape)  # (60000, 784) (60000, 10)
