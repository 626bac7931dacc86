# coding: utf-8
# Ported to nnnum from the book's ch04/gradient_simplenet.py: the functions come from
# nnnum instead of the book's common package (see docs/porting.rst).
import numpy as np
from nnnum import softmax, cross_entropy_error
from nnnum import numerical_gradient


class simpleNet:
    def __init__(self):
        self.W = np.random.randn(2,3)

    def predict(self, x):
        return np.dot(x, self.W)

    def loss(self, x, t):
        z = self.predict(x)
        y = softmax(z)
        loss = cross_entropy_error(y, t)

        return loss

x = np.array([0.6, 0.9])
t = np.array([0, 0, 1])

net = simpleNet()

f = lambda w: net.loss(x, t)
dW = numerical_gradient(f, net.W)

print(dW)
