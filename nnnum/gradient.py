"""Compatibility: the numerical-differentiation names at their 0.1 location.

Differentiation lives in :mod:`nnnum.diff`; this module re-exports it.
"""

from __future__ import annotations

from .diff.api import (
    DiffResult,
    numerical_diff,
    numerical_gradient,
    numerical_gradient_1,
    numerical_gradient_2,
    numerical_gradient_2d,
)
from .diff.checks import check_real_dtype as _check_real_dtype
from .diff.checks import check_x as _check_x
from .diff.checks import scalar_result as _scalar_result
from .diff.steps import StepResolutionError, StepRoundingWarning
from .diff.steps import check_h as _check_h_any


def _check_h(h: object) -> float:
    """A numeric ``h`` (no ``"auto"``), or a clear error."""
    return float(_check_h_any(h))


__all__ = [
    "DiffResult",
    "StepResolutionError",
    "StepRoundingWarning",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
    "_check_x",
    "_check_real_dtype",
    "_scalar_result",
    "_check_h",
]
