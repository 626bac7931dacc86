"""
2. Derivatives, gradients and gradient descent
==============================================

The loss's derivative with respect to each weight says which way to move it. This
part computes derivatives numerically, as the chapter does: the rounding error of a
too-small step, the central difference, partial derivatives, the gradient and its
field (figure 4-9), and gradient descent with three learning rates (figure 4-10).
"""

# %%
# The derivative and rounding error
# ---------------------------------
# .. math:: \frac{df}{dx} = \lim_{h \to 0} \frac{f(x + h) - f(x)}{h}
#
# A computer cannot take the limit. With a tiny ``h`` the rounding of floating-point
# numbers wins: the book's ``10e-50`` is 0 in float32, and the chapter notes'
# ``h = 1e-30`` is lost when added to 5 in float64, so ``x + h == x``:
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
# The naive formula returns 0 where the derivative is 0.2. nnnum refuses such a step
# with an error that says why, instead of returning the 0:
try:
    nnnum.numerical_diff(function_1, 5.0, h=1e-30)
except nnnum.StepResolutionError as exc:
    print(f"{type(exc).__name__}: {exc}")

# %%
# The central difference
# ----------------------
# The forward difference :math:`(f(x+h) - f(x))/h` has an error of order :math:`h`;
# the **central difference** :math:`(f(x+h) - f(x-h))/(2h)` has one of order
# :math:`h^2`. The book takes it with :math:`h = 10^{-4}`; so does
# ``numerical_diff``. The true derivatives of :math:`0.01x^2 + 0.1x` at 5 and 10 are
# 0.2 and 0.3:
print(nnnum.numerical_diff(function_1, 5))
print(nnnum.numerical_diff(function_1, 10))


# %%
# The book prints 0.1999999999990898 and 0.2999999999986347: nnnum divides by the
# step actually taken, ``(x+h) - (x-h)``, not by ``2h``, which is closer to the
# true values. The tangent line at 5 (figure 4-7):
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
# Partial derivatives
# -------------------
# :math:`f(x_0, x_1) = x_0^2 + x_1^2` has two partial derivatives; each fixes the
# other variable and differentiates in one. At :math:`(3, 4)`:
print(nnnum.numerical_diff(lambda x0: x0**2 + 4.0**2, 3.0))  # df/dx0 = 6
print(nnnum.numerical_diff(lambda x1: 3.0**2 + x1**2, 4.0))  # df/dx1 = 8


# %%
# The gradient
# ------------
# The vector of all partial derivatives is the **gradient**. ``numerical_gradient``
# takes it element by element, perturbing ``x`` in place as the book's function does
# (and putting every element back bit for bit):
def function_2(x):
    return x[0] ** 2 + x[1] ** 2


for p in ([3.0, 4.0], [0.0, 2.0], [3.0, 0.0]):
    print(p, nnnum.numerical_gradient(function_2, np.array(p)))


# %%
# Figure 4-9: the negative gradient at every point of a grid points towards the
# minimum at the origin, and is longer farther from it. The book's ``gradient_2d.py``
# differentiates each row of a ``(324, 2)`` array; that row-wise function is nnnum's
# ``numerical_gradient_2d``:
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
# Gradient descent and the learning rate
# --------------------------------------
# **Gradient descent** steps against the gradient, :math:`x \leftarrow x - \eta
# \nabla f(x)`, with a **learning rate** :math:`\eta`, a *hyperparameter* chosen by
# hand. From :math:`(-3, 4)` with :math:`\eta = 0.1` and 100 steps it reaches the
# minimum, as in the chapter (about 6e-10, 8e-10); ``init_x`` is not modified:
init_x = np.array([-3.0, 4.0])
print(nnnum.gradient_descent(function_2, init_x, lr=0.1, step_num=100))
print(init_x)

# %%
# Too small a rate barely moves; too large a one diverges. The book's loop runs on
# with ``lr=10`` and returns a huge point (``[-2.58983747e+13, -1.29524862e+12]``);
# nnnum stops when the steps diverge, warns with ``DivergenceWarning`` and returns
# the last point it could take a gradient at:
print(nnnum.gradient_descent(function_2, init_x, lr=1e-10, step_num=100))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    x_big = nnnum.gradient_descent(function_2, init_x, lr=10.0, step_num=100)
print(x_big)
print(caught[0].category.__name__, str(caught[0].message)[:120], "...")

# %%
# Figure 4-10 is the path of 20 steps (``history=True`` returns the points, as the
# book's ``gradient_method.py`` plots them); here with the three rates:
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
# With ``lr=10`` the first step jumps to :math:`(57, -76)`, the next ones out of the
# picture (the path stops at the divergence); with ``lr=1e-10`` all 20 points
# lie on top of each other at the start.
