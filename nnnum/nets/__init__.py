"""The book's networks and their gradients.

* :mod:`.simple` - ``SimpleNet`` (``simpleNet``); :mod:`.two_layer` - ``TwoLayerNet``;
  :mod:`.network` - both, under the path they have always had;
* :mod:`._params`, :mod:`._inputs`, :mod:`._strategy` - the checks of a net's
  parameters, of its inputs and targets, and of ``numerical_gradient``'s ``strategy=``;
* :mod:`._fastpath` - the forward pass, loss, accuracy and backprop in one kernel per
  layer (:mod:`._forward_kernels`, Numba);
* :mod:`._structured` - the structured numerical gradient of ``TwoLayerNet``: host side,
  dispatching to :mod:`._kernels` (Numba) or :mod:`._batched` (array namespace, CPU or GPU).
"""

from .simple import SimpleNet, simpleNet
from .two_layer import TwoLayerNet

__all__ = ["SimpleNet", "TwoLayerNet", "simpleNet"]
