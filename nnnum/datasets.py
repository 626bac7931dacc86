"""Compatibility: the data names at their 0.1 location (see :mod:`nnnum.data`)."""

from .data import *  # noqa: F403
from .data import __all__  # noqa: F401
