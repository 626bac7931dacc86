"""Compatibility: SimpleNet, TwoLayerNet, simpleNet at their 0.1 location (see :mod:`nnnum.nets`)."""

from .nets import SimpleNet, TwoLayerNet, simpleNet

__all__ = ["SimpleNet", "TwoLayerNet", "simpleNet"]
