"""Learning: gradient descent, mini-batch training, gradient checks."""

from .descent import DescentHistory, DivergenceWarning, gradient_descent
from .gradcheck import GradCheckResult, ParamDiff, gradcheck
from .train import TrainHistory, TrainingDivergedError, plot_history, train

__all__ = [
    "DescentHistory",
    "DivergenceWarning",
    "GradCheckResult",
    "ParamDiff",
    "TrainHistory",
    "TrainingDivergedError",
    "gradcheck",
    "gradient_descent",
    "plot_history",
    "train",
]
