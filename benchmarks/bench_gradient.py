"""Generic numerical_gradient: jitted prange kernel vs the book's loop, 1 vs 2 threads."""

from __future__ import annotations

import numpy as np

from .common import (
    best_time,
    book_numerical_gradient,
    max_threads,
    nnnum,
    rosenbrock_jit,
    rosenbrock_np,
    threads,
)


class RosenbrockGradient:
    params = ([100, 1_000, 10_000], [1, 2])
    param_names = ["n", "threads"]
    timeout = 300

    def setup(self, n: int, nthreads: int) -> None:
        if nthreads > max_threads():
            raise NotImplementedError("not enough threads")
        self.x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
        self.th = threads(nthreads)
        self.th.__enter__()
        nnnum.numerical_gradient(rosenbrock_jit, self.x)

    def teardown(self, n: int, nthreads: int) -> None:
        self.th.__exit__()

    def time_jitted(self, n: int, nthreads: int) -> None:
        nnnum.numerical_gradient(rosenbrock_jit, self.x)

    def time_serial_kernel(self, n: int, nthreads: int) -> None:
        nnnum.numerical_gradient(rosenbrock_jit, self.x, parallel=False)


class RosenbrockRatios:
    """Ratios measured side by side: the point of the generic kernel."""

    params = [100, 10_000]
    param_names = ["n"]
    timeout = 600
    repeat = 1
    number = 1

    def setup(self, n: int) -> None:
        self.x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
        nnnum.numerical_gradient(rosenbrock_jit, self.x)

    def _jit(self, nthreads: int) -> float:
        # tens of microseconds at n=100: many repeats, or one scheduler hiccup sets the ratio
        rep = 50 if self.x.size <= 1000 else 3
        with threads(nthreads):
            return best_time(lambda: nnnum.numerical_gradient(rosenbrock_jit, self.x), repeat=rep)

    def track_book_loop_over_jitted(self, n: int) -> float:
        """Book-style loop (NumPy f) / nnnum (jitted f). Targets: 20x at n=100, 1.5x at 10^4."""
        xx = self.x.copy()
        rep = 10 if n <= 1000 else 1
        book = best_time(lambda: book_numerical_gradient(rosenbrock_np, xx), repeat=rep)
        return book / self._jit(max_threads())

    track_book_loop_over_jitted.unit = "ratio"

    def track_second_thread_speedup(self, n: int) -> float:
        """1-thread time / 2-thread time of the prange kernel (target: 1.8 at n=10^4)."""
        if max_threads() < 2:
            raise NotImplementedError("one thread only")
        return self._jit(1) / self._jit(2)

    track_second_thread_speedup.unit = "ratio"
