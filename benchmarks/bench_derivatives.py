"""asv: Jacobian (dense, sparse plan), Hessian and check_grad."""

from __future__ import annotations

import numpy as np

from .common import nnnum
from .derivatives import broyden, broyden_jac, broyden_jit, rosen


class Jacobian:
    params = (["dense", "dense_order4", "dense_jitted", "sparse", "sparse_complex"],)
    param_names = ["config"]

    def setup(self, config: str) -> None:
        self.x = np.random.default_rng(0).uniform(-1, 1, 1000)
        self.JT = broyden_jac(self.x)
        self.kw: dict = dict(batched=True)
        self.f = broyden
        if config == "dense_jitted":  # the prange engine (compiled here, in setup)
            self.f, self.kw = broyden_jit(), {}
        if config == "dense_order4":
            self.kw.update(order=4, richardson=1)
        if config.startswith("sparse"):
            self.kw["sparsity"] = nnnum.jacobian_plan(self.JT != 0)
        if config.endswith("complex"):
            self.kw["method"] = "complex"
        nnnum.numerical_jacobian(self.f, self.x, **self.kw)

    def time_jacobian(self, config: str) -> None:
        nnnum.numerical_jacobian(self.f, self.x, **self.kw)

    def track_max_error(self, config: str) -> float:
        J = nnnum.numerical_jacobian(self.f, self.x, **self.kw)
        return float(np.abs(J - self.JT).max())


class Hessian:
    params = (["central", "richardson", "complex"],)
    param_names = ["config"]

    def setup(self, config: str) -> None:
        self.x = np.random.default_rng(2).uniform(0, 1.2, 100)
        self.kw: dict = dict(batched=True)
        if config == "richardson":
            self.kw["richardson"] = 1
        if config == "complex":
            self.kw["method"] = "complex"

    def time_hessian(self, config: str) -> None:
        nnnum.numerical_hessian(rosen, self.x, **self.kw)


class CheckGrad:
    def setup(self) -> None:
        self.x = np.random.default_rng(3).normal(size=10_000)

    def time_random(self) -> None:
        nnnum.check_grad(
            lambda z: np.sum(np.sin(z) * z),
            lambda z: np.sin(z) + z * np.cos(z),
            self.x,
            mode="random",
        )
