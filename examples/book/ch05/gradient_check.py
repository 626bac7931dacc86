# coding: utf-8
# Ported to nnnum from the book's ch05/gradient_check.py: load_mnist and TwoLayerNet
# come from nnnum (a sigmoid network; the book's chapter-5 one uses ReLU layers; see
# docs/porting.rst).
import numpy as np
from nnnum import load_mnist
from nnnum import TwoLayerNet

# データの読み込み
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)

x_batch = x_train[:3]
t_batch = t_train[:3]

grad_numerical = network.numerical_gradient(x_batch, t_batch)
grad_backprop = network.gradient(x_batch, t_batch)

for key in grad_numerical.keys():
    diff = np.average( np.abs(grad_backprop[key] - grad_numerical[key]) )
    print(key + ":" + str(diff))
