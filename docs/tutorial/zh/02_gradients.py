"""
2. 数值微分、梯度与梯度法
=========================

损失函数对每个权重的导数指出该往哪个方向调整它。本节像本章一样用数值微分求导数：步长过小带来的舍入误差、中心差分、偏导数、梯度及其向量场（图 4-9），以及三种学习率下的梯度法（图 4-10）。
"""

# %%
# 导数与舍入误差
# --------------
# .. math:: \frac{df}{dx} = \lim_{h \to 0} \frac{f(x + h) - f(x)}{h}
#
# 计算机无法真正取极限。``h`` 太小时，浮点数的舍入误差占了上风：书中的 ``10e-50``
# 在 float32 中是 0，本章笔记中的 ``h = 1e-30`` 加到 5 上（float64）就被舍掉了，即 ``x + h == x``：
import warnings

import matplotlib.pyplot as plt
import numpy as np

import nnnum


def function_1(x):
    return 0.01 * x**2 + 0.1 * x


print(np.float32(10e-50))
h = 1e-30
print(5.0 + h == 5.0, (function_1(5.0 + h) - function_1(5.0)) / h)

# %%
# 真正的导数是 0.2，朴素的公式却得到 0。nnnum 不返回这个 0，而是拒绝这样的步长，并用错误信息说明原因：
try:
    nnnum.numerical_diff(function_1, 5.0, h=1e-30)
except nnnum.StepResolutionError as exc:
    print(f"{type(exc).__name__}: {exc}")

# %%
# 中心差分
# --------
# 前向差分 :math:`(f(x+h) - f(x))/h` 的误差是 :math:`h` 阶的；**中心差分**
# :math:`(f(x+h) - f(x-h))/(2h)` 的误差是 :math:`h^2` 阶的。书中取
# :math:`h = 10^{-4}`，``numerical_diff`` 也是如此。:math:`0.01x^2 + 0.1x` 在 5 和 10
# 处的真实导数是 0.2 和 0.3：
print(nnnum.numerical_diff(function_1, 5))
print(nnnum.numerical_diff(function_1, 10))


# %%
# 书中输出 0.1999999999990898 和 0.2999999999986347：nnnum 除以实际取到的步长
# ``(x+h) - (x-h)``，而不是 ``2h``，因此更接近真实值。x = 5 处的切线（图 4-7）：
def tangent_line(f, x):
    d = nnnum.numerical_diff(f, x)
    y = f(x) - d * x
    return lambda t: d * t + y


x = np.arange(0.0, 20.0, 0.1)
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.plot(x, function_1(x), label="f(x)")
ax.plot(x, tangent_line(function_1, 5)(x), "--", label="tangent at x = 5")
ax.set_xlabel("x")
ax.set_ylabel("f(x)")
ax.legend()
plt.show()

# %%
# 偏导数
# ------
# :math:`f(x_0, x_1) = x_0^2 + x_1^2` 有两个偏导数：固定另一个变量，对其中一个变量求导。在 :math:`(3, 4)` 处：
print(nnnum.numerical_diff(lambda x0: x0**2 + 4.0**2, 3.0))  # df/dx0 = 6
print(nnnum.numerical_diff(lambda x1: 3.0**2 + x1**2, 4.0))  # df/dx1 = 8


# %%
# 梯度
# ----
# 由全部变量的偏导数汇总而成的向量称为\ **梯度**\ 。``numerical_gradient`` 像书中的函数一样逐个元素求它，就地改动 ``x``\ （并把每个元素逐位恢复原值）：
def function_2(x):
    return x[0] ** 2 + x[1] ** 2


for p in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    print(p, nnnum.numerical_gradient(function_2, np.array(p)))


# %%
# 图 4-9：网格上每一点的负梯度都指向原点处的最小值，离得越远箭头越长。书中的
# ``gradient_2d.py`` 对 ``(324, 2)`` 数组的每一行求梯度；这个按行计算的函数就是
# nnnum 的 ``numerical_gradient_2d``：
def function_2_rows(x):
    return np.sum(x**2) if x.ndim == 1 else np.sum(x**2, axis=1)


x0 = np.arange(-2, 2.5, 0.25)
x1 = np.arange(-2, 2.5, 0.25)
X, Y = np.meshgrid(x0, x1)
X, Y = X.flatten(), Y.flatten()
grad = nnnum.numerical_gradient_2d(function_2_rows, np.array([X, Y]).T).T

fig, ax = plt.subplots(figsize=(4.5, 4.5))
ax.quiver(X, Y, -grad[0], -grad[1], angles="xy", color="#666666")
ax.set_xlim(-2, 2)
ax.set_ylim(-2, 2)
ax.set_xlabel("x0")
ax.set_ylabel("x1")
ax.grid()
plt.show()

# %%
# 梯度法与学习率
# --------------
# **梯度法**\ 沿梯度的反方向前进：:math:`x \leftarrow x - \eta \nabla f(x)`，其中
# **学习率** :math:`\eta` 是人工设定的\ **超参数**\ 。从 :math:`(-3, 4)` 出发，
# :math:`\eta = 0.1`，100 步后到达最小值附近，与本章相同（约 6e-10、8e-10）；
# ``init_x`` 不会被修改：
init_x = np.array([-3.0, 4.0])
print(nnnum.gradient_descent(function_2, init_x, lr=0.1, step_num=100))
print(init_x)

# %%
# 学习率太小几乎不动；太大则发散。书中的循环在 ``lr=10`` 时继续运行，返回一个巨大的点（``[-2.58983747e+13, -1.29524862e+12]``）；nnnum 在发散时停止，发出
# ``DivergenceWarning`` 警告，并返回最后一个还能求梯度的点：
print(nnnum.gradient_descent(function_2, init_x, lr=1e-10, step_num=100))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    x_big = nnnum.gradient_descent(function_2, init_x, lr=10.0, step_num=100)
print(x_big)
print(caught[0].category.__name__, str(caught[0].message)[:120], "...")

# %%
# 图 4-10 是 20 步的路径（``history=True`` 返回这些点，就像书中
# ``gradient_method.py`` 画的那样）；这里画出三种学习率：
fig, axes = plt.subplots(1, 3, figsize=(10, 3.6), sharey=True)
for ax, lr in zip(axes, (0.1, 10.0, 1e-10)):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nnnum.DivergenceWarning)
        x, x_history = nnnum.gradient_descent(function_2, init_x, lr=lr, step_num=20, history=True)
    ax.plot([-5, 5], [0, 0], "--b", lw=0.8)
    ax.plot([0, 0], [-5, 5], "--b", lw=0.8)
    ax.plot(x_history[:, 0], x_history[:, 1], "o")
    ax.set_xlim(-3.5, 3.5)
    ax.set_ylim(-4.5, 4.5)
    ax.set_xlabel("x0")
    ax.set_title(f"lr = {lr:g}: {len(x_history)} points")
axes[0].set_ylabel("x1")
plt.show()

# %%
# ``lr=10`` 时第一步就跳到 :math:`(57, -76)`，之后跳出图外（路径在发散处停止）；
# ``lr=1e-10`` 时 20 个点全部叠在起点上。
