"""The book's networks, in one import: ``SimpleNet`` (``simpleNet``) and ``TwoLayerNet``.

Each lives in a module of its own (:mod:`.simple`, :mod:`.two_layer`); this module
keeps the path ``nnnum.nets.network`` and every name it has exported.
"""

from ._params import PARAM_NAMES as PARAM_NAMES
from ._strategy import STENCIL_WORDS as STENCIL_WORDS
from ._strategy import STRATEGIES as STRATEGIES
from ._strategy import GradStrategy as GradStrategy
from .simple import SimpleNet, simpleNet
from .two_layer import TwoLayerNet

__all__ = ["SimpleNet", "TwoLayerNet", "simpleNet"]
