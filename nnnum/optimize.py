"""Compatibility: DescentHistory, DivergenceWarning, gradient_descent at their 0.1 location (see :mod:`nnnum.learn`)."""

from .learn import DescentHistory, DivergenceWarning, gradient_descent

__all__ = ["DescentHistory", "DivergenceWarning", "gradient_descent"]
