"""Import and first-call compile time, with a cold and a warm Numba cache (fresh interpreters)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

_FIRST_CALL = (
    "import time, numpy as np; t0 = time.perf_counter(); import nnnum; t1 = time.perf_counter(); "
    "z = np.random.default_rng(0).normal(size=(10, 5)); t = np.arange(10) % 5; "
    "nnnum.softmax_cross_entropy(z, t); nnnum.cross_entropy_error(nnnum.softmax(z), t); "
    "nnnum.sigmoid(z); nnnum.mean_squared_error(nnnum.softmax(z), t); "
    "print(t1 - t0, time.perf_counter() - t1)"
)


def _run(cache_dir: str) -> tuple[float, float]:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", _FIRST_CALL],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=600,
    )
    imp, first = out.stdout.split()
    return float(imp), float(first)


class FirstCall:
    params = (["cold", "warm"],)
    param_names = ["cache"]
    timeout = 600
    repeat = 1
    number = 1

    def setup(self, cache: str) -> None:
        self.dir = tempfile.mkdtemp(prefix="nnnum-numba-cache-")
        if cache == "warm":
            _run(self.dir)

    def track_first_call_seconds(self, cache: str) -> float:
        """Seconds for the first loss/activation calls in a fresh interpreter (compile or load)."""
        return _run(self.dir)[1]

    track_first_call_seconds.unit = "seconds"

    def track_import_seconds(self, cache: str) -> float:
        """Seconds for ``import nnnum`` (target: < 1)."""
        return _run(self.dir)[0]

    track_import_seconds.unit = "seconds"


class ColdStart:
    """The first calls of benchmarks/coldstart.py, fresh process and empty Numba cache each.

    Slow (tens of seconds a sample: everything compiles): not in CI's smoke list.
    """

    timeout = 900
    repeat = 1
    number = 1

    def setup(self) -> None:
        try:
            from . import coldstart
        except ImportError:  # an old commit without the script
            raise NotImplementedError from None
        self.cs = coldstart

    def track_net_numerical_gradient_cold_seconds(self) -> float:
        """The first ``TwoLayerNet(784, 50, 10).numerical_gradient``, batch 100 (target <= 4 s)."""
        return self.cs.cold_and_cached(self.cs._NET)[0]["first"]

    track_net_numerical_gradient_cold_seconds.unit = "seconds"

    def track_jitted_f_first_call_extra_seconds(self) -> float:
        """The first ``numerical_gradient`` of a new jitted f beyond compiling f (target <= 1 s)."""
        return self.cs.cold_and_cached(self.cs._JIT)[0]["first_extra"]

    track_jitted_f_first_call_extra_seconds.unit = "seconds"

    def track_train_cold_over_cached(self) -> float:
        """``python -m nnnum train`` with an empty cache over a cached run (target <= 1.5)."""
        (cold, _), (cached, _) = self.cs.train_cold_and_cached()[0]
        return cold / cached

    track_train_cold_over_cached.unit = "ratio"
