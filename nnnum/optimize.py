"""Compatibility: gradient_descent and its history and warning where 0.1 had them.

See :mod:`nnnum.learn`.
"""

from .learn import DescentHistory, DivergenceWarning, gradient_descent

__all__ = ["DescentHistory", "DivergenceWarning", "gradient_descent"]
