"""nnnum: learning by numerical differentiation, fast.

The loss functions, numerical derivatives and gradient descent of the
"learning" chapter of *Deep Learning from Scratch*, under the book's names, as
Numba kernels (default), a NumPy reference, or a CuPy GPU backend, chosen by
``NNNUM_BACKEND`` or :func:`use_backend`.

Importing nnnum compiles nothing and never imports CuPy.
"""

from __future__ import annotations

from ._core import threads as _threading

_threading.configure()  # before any parallel kernel: a fork- and thread-safe layer (TBB)

from ._core.jit import jit  # noqa: E402
from .backends import (  # noqa: E402
    BACKENDS,
    BackendUnavailableError,
    get_backend,
    set_backend,
    use_backend,
)
from .data import DataError, load_mnist  # noqa: E402
from .diff import (  # noqa: E402
    DiffResult,
    EstimateWarning,
    GradCheck,
    JacobianPlan,
    NonFiniteError,
    StepResolutionError,
    StepRoundingWarning,
    UnseenPerturbationWarning,
    assert_grad,
    batched_numerical_gradient,
    check_grad,
    directional_derivative,
    hessian_vector_product,
    jacobian_plan,
    numerical_diff,
    numerical_gradient,
    numerical_gradient_1,
    numerical_gradient_2,
    numerical_gradient_2d,
    numerical_hessian,
    numerical_hessian_diag,
    numerical_jacobian,
)
from .functions import (  # noqa: E402
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
)
from .learn import (  # noqa: E402
    DescentHistory,
    DivergenceWarning,
    GradCheckResult,
    TrainHistory,
    TrainingDivergedError,
    gradcheck,
    gradient_descent,
    plot_history,
    train,
)
from .losses import (  # noqa: E402
    cross_entropy_error,
    mean_squared_error,
    softmax_cross_entropy,
    softmax_loss,
    sum_squared_error,
)
from .nets import SimpleNet, TwoLayerNet, simpleNet  # noqa: E402

__version__ = "0.2.0"

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "DataError",
    "DiffResult",
    "DescentHistory",
    "DivergenceWarning",
    "EstimateWarning",
    "GradCheck",
    "GradCheckResult",
    "JacobianPlan",
    "NonFiniteError",
    "UnseenPerturbationWarning",
    "Workers",
    "SimpleNet",
    "TrainHistory",
    "TrainingDivergedError",
    "TwoLayerNet",
    "gradcheck",
    "plot_history",
    "train",
    "StepResolutionError",
    "StepRoundingWarning",
    "__version__",
    "assert_grad",
    "batched_numerical_gradient",
    "check_grad",
    "cross_entropy_error",
    "directional_derivative",
    "get_backend",
    "gradient_descent",
    "hessian_vector_product",
    "identity_function",
    "jacobian_plan",
    "jit",
    "load_mnist",
    "mean_squared_error",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
    "numerical_hessian",
    "numerical_hessian_diag",
    "numerical_jacobian",
    "relu",
    "relu_grad",
    "set_backend",
    "sigmoid",
    "sigmoid_grad",
    "simpleNet",
    "softmax",
    "softmax_cross_entropy",
    "softmax_loss",
    "step_function",
    "sum_squared_error",
    "use_backend",
]


def __getattr__(name: str) -> object:
    """``Workers`` on first use (see :mod:`nnnum.diff`): importing nnnum stays light."""
    if name == "Workers":
        from .diff import Workers

        return Workers
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
