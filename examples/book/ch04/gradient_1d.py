# coding: utf-8
# Ported to nnnum from the book's ch04/gradient_1d.py: numerical_diff comes from nnnum,
# and the figure is saved instead of shown (see docs/porting.rst).
import numpy as np
import matplotlib.pylab as plt
from nnnum import numerical_diff


def function_1(x):
    return 0.01*x**2 + 0.1*x 


def tangent_line(f, x):
    d = numerical_diff(f, x)
    print(d)
    y = f(x) - d*x
    return lambda t: d*t + y
     
x = np.arange(0.0, 20.0, 0.1)
y = function_1(x)
plt.xlabel("x")
plt.ylabel("f(x)")

tf = tangent_line(function_1, 5)
y2 = tf(x)

plt.plot(x, y)
plt.plot(x, y2)
plt.savefig("gradient_1d.png")
