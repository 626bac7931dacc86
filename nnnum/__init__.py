"""nnnum: learning by numerical differentiation, fast.

The loss functions, numerical derivatives and gradient descent of the
"learning" chapter of *Deep Learning from Scratch*, under the book's names, as
Numba kernels (default), a NumPy reference, or a CuPy GPU backend, chosen by
``NNNUM_BACKEND`` or :func:`use_backend`.

Importing nnnum compiles nothing and never imports CuPy.
"""

from __future__ import annotations

from ._config import BACKENDS, get_backend, set_backend, use_backend
from ._jit import jit
from ._kernels_gpu import BackendUnavailableError
from .batched import batched_numerical_gradient
from .datasets import DataError
from .functions import relu, sigmoid, softmax, step_function
from .gradcheck import GradCheckResult, gradcheck
from .gradient import (
    StepResolutionError,
    StepRoundingWarning,
    numerical_diff,
    numerical_gradient,
)
from .losses import cross_entropy_error, mean_squared_error, softmax_cross_entropy
from .network import SimpleNet, TwoLayerNet, simpleNet
from .optimize import DescentHistory, DivergenceWarning, gradient_descent
from .train import TrainHistory, plot_history, train

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "DataError",
    "DescentHistory",
    "DivergenceWarning",
    "GradCheckResult",
    "SimpleNet",
    "TrainHistory",
    "TwoLayerNet",
    "gradcheck",
    "plot_history",
    "train",
    "StepResolutionError",
    "StepRoundingWarning",
    "__version__",
    "batched_numerical_gradient",
    "cross_entropy_error",
    "get_backend",
    "gradient_descent",
    "jit",
    "mean_squared_error",
    "numerical_diff",
    "numerical_gradient",
    "relu",
    "set_backend",
    "sigmoid",
    "simpleNet",
    "softmax",
    "softmax_cross_entropy",
    "step_function",
    "use_backend",
]
