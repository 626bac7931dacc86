"""Everything about differentiating a black-box ``f``.

* :mod:`.steps` - checks of ``h`` and ``x``, the automatic step, the points actually taken;
* :mod:`.stencils` - stencils as data (offsets and weights), Richardson extrapolation;
* :mod:`.engines` - how a plan of perturbations is evaluated (Python loop in place,
  ``prange`` kernel for a jitted ``f``, batched on an array namespace);
* :mod:`.api` - the public functions.
"""

from .api import (
    DiffResult,
    UnseenPerturbationWarning,
    batched_numerical_gradient,
    numerical_diff,
    numerical_gradient,
    numerical_gradient_1,
    numerical_gradient_2,
    numerical_gradient_2d,
)
from .checks import NonFiniteError
from .finish import EstimateWarning
from .stencils import Stencil, stencil
from .steps import StepResolutionError, StepRoundingWarning

__all__ = [
    "DiffResult",
    "EstimateWarning",
    "NonFiniteError",
    "UnseenPerturbationWarning",
    "Stencil",
    "StepResolutionError",
    "StepRoundingWarning",
    "batched_numerical_gradient",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
    "stencil",
]
