"""Everything about differentiating a black-box ``f``.

* :mod:`.steps` - checks of ``h`` and ``x``, the automatic step, the points actually taken;
* :mod:`.stencils` - stencils as data (offsets and weights), Richardson extrapolation;
* :mod:`.engines` - how a plan of perturbations is evaluated, one protocol (Python loop
  in place, ``prange`` kernel for a jitted ``f``, batched on an array namespace, workers);
* :mod:`.complex_step` - the complex step: its rule, checks and finish;
* :mod:`.api` - the public functions (:mod:`.book` the book's names for them,
  :mod:`.batched_gradient` the batched one).
"""

from .api import (
    DiffResult,
    UnseenPerturbationWarning,
    batched_numerical_gradient,
    numerical_diff,
    numerical_gradient,
)
from .book import numerical_gradient_1, numerical_gradient_2, numerical_gradient_2d
from .check import GradCheck, assert_grad, check_grad
from .checks import NonFiniteError
from .directional import directional_derivative, hessian_vector_product
from .finish import EstimateWarning
from .hessian import numerical_hessian, numerical_hessian_diag
from .jacobian import JacobianPlan, jacobian_plan, numerical_jacobian
from .stencils import Stencil, stencil
from .steps import StepResolutionError, StepRoundingWarning

__all__ = [
    "DiffResult",
    "EstimateWarning",
    "GradCheck",
    "JacobianPlan",
    "NonFiniteError",
    "UnseenPerturbationWarning",
    "Stencil",
    "Workers",
    "StepResolutionError",
    "StepRoundingWarning",
    "assert_grad",
    "batched_numerical_gradient",
    "check_grad",
    "directional_derivative",
    "hessian_vector_product",
    "jacobian_plan",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
    "numerical_hessian",
    "numerical_hessian_diag",
    "numerical_jacobian",
    "stencil",
]


def __getattr__(name: str) -> object:
    """``Workers`` on first use: the process-pool engine is imported only by who needs it."""
    if name == "Workers":
        from .engines.executors import Workers

        return Workers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
