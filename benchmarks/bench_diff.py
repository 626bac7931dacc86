"""The differentiation engine: stencils, Richardson and the complex step on Rosenbrock."""

from __future__ import annotations

import numpy as np

from .common import best_time, nnnum, rosenbrock_grad, rosenbrock_jit

CONFIGS = {
    "order2": {},
    "order4": {"order": 4, "h": "auto"},
    "order8": {"order": 8, "h": "auto"},
    "order4_richardson1": {"order": 4, "richardson": 1, "h": "auto"},
    "complex": {"method": "complex"},
}


class Stencils:
    params = ([100, 1_000], list(CONFIGS))
    param_names = ["n", "config"]

    def setup(self, n: int, config: str) -> None:
        self.x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
        self.opts = CONFIGS[config]
        nnnum.numerical_gradient(rosenbrock_jit, self.x, **self.opts)

    def time_jitted(self, n: int, config: str) -> None:
        nnnum.numerical_gradient(rosenbrock_jit, self.x, **self.opts)

    def track_max_error(self, n: int, config: str) -> float:
        g = nnnum.numerical_gradient(rosenbrock_jit, self.x, **self.opts)
        return float(np.abs(g - rosenbrock_grad(self.x)).max())

    track_max_error.unit = "abs error"


class ErrorEstimate:
    """Fraction of elements whose true error the Richardson estimate bounds (target >= 0.95)."""

    def setup(self) -> None:
        self.x = np.random.default_rng(1).uniform(0.5, 3.0, 500)

    def track_fraction_bounded(self) -> float:
        r = nnnum.numerical_gradient(
            lambda v: float(np.sum(np.exp(v) * np.sin(v))),
            self.x,
            h="auto",
            order=4,
            richardson=1,
            full_output=True,
        )
        true = np.exp(self.x) * (np.sin(self.x) + np.cos(self.x))
        return float(np.mean(np.abs(r.df - true) <= r.error))

    track_fraction_bounded.unit = "fraction"


class ComplexStepVsOrder8:
    """Time of order 8 (h="auto") / time of the complex step, jitted f, n=1000, side by side."""

    def setup(self) -> None:
        self.x = np.random.default_rng(0).uniform(-1.5, 1.5, 1000)
        nnnum.numerical_gradient(rosenbrock_jit, self.x, method="complex")
        nnnum.numerical_gradient(rosenbrock_jit, self.x, order=8, h="auto")

    def track_order8_over_complex(self) -> float:
        o8 = best_time(
            lambda: nnnum.numerical_gradient(rosenbrock_jit, self.x, order=8, h="auto"), repeat=7
        )
        cs = best_time(
            lambda: nnnum.numerical_gradient(rosenbrock_jit, self.x, method="complex"), repeat=7
        )
        return o8 / cs

    track_order8_over_complex.unit = "ratio"
