"""The book's networks and their gradients.

* :mod:`.network` - ``SimpleNet`` (``simpleNet``) and ``TwoLayerNet``;
* :mod:`._structured` - the structured numerical gradient of ``TwoLayerNet``: host side,
  dispatching to :mod:`._kernels` (Numba) or :mod:`._batched` (array namespace, CPU or GPU).
"""

from .network import SimpleNet, TwoLayerNet, simpleNet

__all__ = ["SimpleNet", "TwoLayerNet", "simpleNet"]
