"""numerical_gradient(..., workers=...): the orchestration overhead at small sizes.

The ratios that matter (a 20 ms ``f`` on 2 processes, 16 Dask workers, SciPy
on the same pool) are measured side by side by ``python -m benchmarks.scaleout``;
these track the fixed costs from commit to commit.
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .common import nnnum


def _f():
    # defined here, returned as a closure: cloudpickle sends it by value (workers need not
    # import the benchmark suite)
    def f(w):
        return float(np.dot(w, w) + np.sum(np.sin(w)))

    return f


def _context():
    # nnnum's own start method: forkserver with nnnum preloaded (a server started without it
    # makes every new worker import nnnum, about 0.4 s)
    try:
        from nnnum.diff.engines.executors import mp_context
    except ImportError as exc:  # pragma: no cover (commits before the public name)
        raise NotImplementedError("needs nnnum.diff.engines.executors.mp_context") from exc
    return mp_context()


class WorkersOverhead:
    """A cheap ``f``: the time is the engine's, not ``f``'s."""

    params = (["serial", "executor", "int"], [64, 1024])
    param_names = ["workers", "n"]
    timeout = 120

    def setup(self, kind: str, n: int) -> None:
        try:
            import cloudpickle  # noqa: F401
        except ImportError as exc:  # pragma: no cover
            raise NotImplementedError("needs cloudpickle (pip install nnnum[distributed])") from exc
        self.x = np.linspace(-1.0, 1.0, n)
        self.f = _f()
        self.pool = None
        if kind == "serial":
            self.workers = None
        elif kind == "executor":
            self.pool = ProcessPoolExecutor(2, mp_context=_context())
            self.workers = self.pool
        else:
            self.workers = 2
        nnnum.numerical_gradient(self.f, self.x, workers=self.workers, progress=False)  # warm

    def teardown(self, kind: str, n: int) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def time_gradient(self, kind: str, n: int) -> None:
        nnnum.numerical_gradient(self.f, self.x, workers=self.workers, progress=False)


class WorkersPayload:
    """The payload: pickling ``f`` with the net it closes over (the book's closure)."""

    def setup(self) -> None:
        try:
            import cloudpickle  # noqa: F401
        except ImportError as exc:  # pragma: no cover
            raise NotImplementedError("needs cloudpickle") from exc
        try:
            from nnnum.diff.engines.executors import make_payload
        except ImportError as exc:  # pragma: no cover (commits before the public name)
            raise NotImplementedError("needs nnnum.diff.engines.executors.make_payload") from exc
        self.make_payload = make_payload
        self.net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        rng = np.random.default_rng(0)
        self.xb = rng.random((100, 784))
        self.tb = rng.integers(0, 10, 100)

    def time_pickle_net_closure(self) -> None:
        net, xb, tb = self.net, self.xb, self.tb
        self.make_payload(lambda w: net.loss(xb, tb), net.params["W1"], net.params["W1"])

    def track_payload_bytes(self) -> int:
        net, xb, tb = self.net, self.xb, self.tb
        return len(
            self.make_payload(lambda w: net.loss(xb, tb), net.params["W1"], net.params["W1"])
        )

    track_payload_bytes.unit = "bytes"  # type: ignore[attr-defined]
