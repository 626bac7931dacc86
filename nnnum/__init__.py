"""nnnum: learning by numerical differentiation, fast.

The loss functions, numerical derivatives and gradient descent of the
"learning" chapter of *Deep Learning from Scratch*, under the book's names, as
Numba kernels (default), a NumPy reference, or a CuPy GPU backend, chosen by
``NNNUM_BACKEND`` or :func:`use_backend`.

Importing nnnum compiles nothing and never imports CuPy.
"""

from __future__ import annotations

from . import _threading

_threading.configure()  # before any parallel kernel: a fork- and thread-safe layer (TBB)

from .backends import BACKENDS, get_backend, set_backend, use_backend  # noqa: E402
from ._jit import jit  # noqa: E402
from .backends import BackendUnavailableError  # noqa: E402
from .batched import batched_numerical_gradient  # noqa: E402
from .datasets import DataError, load_mnist  # noqa: E402
from .diff import DiffResult  # noqa: E402
from .functions import (  # noqa: E402
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    step_function,
)
from .gradcheck import GradCheckResult, gradcheck  # noqa: E402
from .gradient import (  # noqa: E402
    StepResolutionError,
    StepRoundingWarning,
    numerical_diff,
    numerical_gradient,
    numerical_gradient_1,
    numerical_gradient_2,
    numerical_gradient_2d,
)
from .losses import (  # noqa: E402
    cross_entropy_error,
    mean_squared_error,
    softmax_cross_entropy,
    softmax_loss,
    sum_squared_error,
)
from .network import SimpleNet, TwoLayerNet, simpleNet  # noqa: E402
from .optimize import DescentHistory, DivergenceWarning, gradient_descent  # noqa: E402
from .train import TrainHistory, TrainingDivergedError, plot_history, train  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "BACKENDS",
    "BackendUnavailableError",
    "DataError",
    "DiffResult",
    "DescentHistory",
    "DivergenceWarning",
    "GradCheckResult",
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
    "batched_numerical_gradient",
    "cross_entropy_error",
    "get_backend",
    "gradient_descent",
    "identity_function",
    "jit",
    "load_mnist",
    "mean_squared_error",
    "numerical_diff",
    "numerical_gradient",
    "numerical_gradient_1",
    "numerical_gradient_2",
    "numerical_gradient_2d",
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
