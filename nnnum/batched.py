"""Compatibility: :func:`batched_numerical_gradient` at its 0.1 location (see :mod:`nnnum.diff`)."""

from .diff.api import batched_numerical_gradient

__all__ = ["batched_numerical_gradient"]
