"""Compatibility: SimpleNet, TwoLayerNet, simpleNet where 0.1 had them (see :mod:`nnnum.nets`)."""

from .nets import SimpleNet, TwoLayerNet, simpleNet

__all__ = ["SimpleNet", "TwoLayerNet", "simpleNet"]
