r"""
3. 学习：simpleNet、TwoLayerNet 与梯度确认
==========================================

用数值微分求神经网络的损失函数关于权重的梯度：先是 ``simpleNet``\ （一个权重矩阵），再是本章的两层神经网络，用 mini-batch 梯度法训练（图 4-11、图 4-12），最后用误差反向传播法确认数值梯度（第 5 章的梯度确认）。
"""

# %%
# simpleNet 的梯度
# ----------------
# 一个 2x3 的权重矩阵 ``W``\ 、softmax 和交叉熵误差。书中固定了 ``W`` 以便输出结果；作为 ``W`` 的函数的损失函数是闭包 ``lambda w: net.loss(x, t)``：它忽略参数，读取
# ``net.W``，而 ``numerical_gradient`` 正是就地改动这个数组：
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
# 书中输出的损失是 0.92806853663411326，
# ``dW = [[0.21924763, 0.14356247, -0.36281009], [0.32887144, 0.2153437, -0.54421514]]``\ 。书中印出的结果没有加交叉熵误差的 ``1e-7`` 保护项；书的代码和 nnnum 都加了，所以这里的损失小 2.5e-7，``dW`` 最多相差 1.4e-7。``dW[0, 0]`` 约为 0.2，意思是：``w11`` 增加
# ``h``，损失函数大约增加 ``0.2 h``\ 。
#
# TwoLayerNet 与 mini-batch 学习
# ------------------------------
# 本章的网络：Affine 层、sigmoid、Affine 层和 softmax，参数保存在 ``net.params``
# （``W1``\ 、``b1``\ 、``W2``\ 、``b2``）中。8x8 手写数字的输入有 64 个值（MNIST 的 28x28
# 是 784 个）：
from nnnum.data import load_digits, train_test_split

(x_train, t_train), (x_test, t_test) = train_test_split(*load_digits(), seed=0)
print(x_train.shape, x_test.shape)
net = nnnum.TwoLayerNet(input_size=64, hidden_size=50, output_size=10, seed=0)
print({k: v.shape for k, v in net.params.items()})

# %%
# ``net.numerical_gradient(x, t)`` 就是书中的方法：对 3,760 个参数逐个做中心差分。
# nnnum 的类只根据每次扰动所改变的那一个隐藏单元或输出值计算它对损失的影响（与逐元素循环的中心差分相同，误差在 1e-9 以内），这使得用数值梯度训练变得可行。书中自己的类即使用 nnnum 的函数也得不到这种速度：它对每个参数计算两次完整的损失函数。


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
# （时间是构建这些页面时测得的；网络越大差距越大：在 MNIST 的 784-50-10 网络、
# batch 为 100 时，书中的循环要计算 79,520 次损失函数。）
#
# 训练：每次迭代随机选出 100 个样本的 mini-batch，求数值梯度，把每个参数移动
# ``-lr * grad``；每个 epoch 在全部训练数据和测试数据上测一次识别精度。
# ``nnnum.train`` 就是书中 ``train_neuralnet.py`` 的循环：
hist = nnnum.train(
    net, x_train, t_train, x_test, t_test, iters=1000, batch_size=100, lr=1.0, progress=False
)
print(f"{len(hist.train_loss)} iterations in {hist.seconds:.1f} s")
print(f"train acc {hist.train_acc[-1]:.4f}, test acc {hist.test_acc[-1]:.4f}")

# %%
# 图 4-11：mini-batch 的损失函数随迭代下降（有波动：每个点是另一批数据）；图 4-12：每个 epoch 的识别精度一起上升：测试数据的精度跟随训练数据的精度，没有发生过拟合。
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
# ``nnnum.plot_history(hist, "training.png")`` 把这两幅图画到文件里。误差反向传播法（``gradient="backprop"``，第 5 章）从相同的初始权重和相同的 mini-batch 出发，走的是同一条路：
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
# 在 MNIST 上
# -----------
# 在书中的数据（60,000 张 28x28 图像）上也一样（文件只下载一次，并校验 MD5）。构建这些页面时\ **不运行**\ （那里不能下载）；请自己运行：
#
# .. code-block:: python
#
#    # not run here: needs the MNIST files（此处不运行：需要 MNIST 文件）
#    (x_train, t_train), (x_test, t_test) = nnnum.load_mnist(normalize=True, one_hot_label=True)
#    net = nnnum.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, seed=0)
#    hist = nnnum.train(net, x_train, t_train, x_test, t_test, iters=4000, lr=1.0, verbose=True)
#    nnnum.plot_history(hist, "mnist.png")
#
# 或者在命令行中运行 ``python -m nnnum train --dataset mnist --iters 4000 --lr 1.0``\ 。
#
# 梯度确认
# --------
# 误差反向传播法快，但容易写错；数值微分慢，但简单。第 5 章的 ``gradient_check.py``
# 在 3 个样本上比较两者，取每个参数的绝对误差的平均值（书中输出 1e-13 到 1e-10）：
net = nnnum.TwoLayerNet(input_size=64, hidden_size=50, output_size=10, seed=1)
x_batch, t_batch = x_train[:3], t_train[:3]
grad_numerical = net.numerical_gradient(x_batch, t_batch)
grad_backprop = net.gradient(x_batch, t_batch)
for key in grad_numerical:
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(key + ":" + str(diff))

# %%
# ``nnnum.gradcheck`` 做同样的事，对每个元素使用相对容差，并给出报告：
result = nnnum.gradcheck(net, x_batch, t_batch)
print(bool(result))
print(result.report())
