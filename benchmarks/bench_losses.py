"""Activations and losses: numba vs numpy backend; fused softmax-CE against the np.sum floor."""

from __future__ import annotations

import numpy as np

from .common import best_time, book_softmax_cross_entropy, logits, nnnum


class Losses:
    params = (["numba", "numpy"], [1, 1_000, 1_000_000])
    param_names = ["backend", "rows"]

    def setup(self, backend: str, rows: int) -> None:
        self.z, self.t = logits(rows)
        self.y = nnnum.softmax(self.z)
        self.ctx = nnnum.use_backend(backend)
        self.ctx.__enter__()
        # warm the JIT: compile time is tracked in bench_compile, not here
        nnnum.softmax_cross_entropy(self.z, self.t)
        nnnum.cross_entropy_error(self.y, self.t)
        nnnum.mean_squared_error(self.y, self.t)
        nnnum.softmax(self.z)
        nnnum.sigmoid(self.z)

    def teardown(self, backend: str, rows: int) -> None:
        self.ctx.__exit__(None, None, None)

    def time_softmax_cross_entropy(self, backend: str, rows: int) -> None:
        nnnum.softmax_cross_entropy(self.z, self.t)

    def time_cross_entropy_error(self, backend: str, rows: int) -> None:
        nnnum.cross_entropy_error(self.y, self.t)

    def time_mean_squared_error(self, backend: str, rows: int) -> None:
        nnnum.mean_squared_error(self.y, self.t)

    def time_softmax(self, backend: str, rows: int) -> None:
        nnnum.softmax(self.z)

    def time_sigmoid(self, backend: str, rows: int) -> None:
        nnnum.sigmoid(self.z)

    def peakmem_softmax_cross_entropy(self, backend: str, rows: int) -> None:
        nnnum.softmax_cross_entropy(self.z, self.t)


class FusedVsFloor:
    """Fused softmax-CE on 10^6 x 10 float64, as ratios measured side by side in one run."""

    params = [np.float64, np.float32]
    param_names = ["dtype"]
    unit = "ratio"

    def setup(self, dtype) -> None:
        self.z, self.t = logits(1_000_000, dtype=dtype)
        nnnum.softmax_cross_entropy(self.z, self.t)

    def _fused(self) -> float:
        return best_time(lambda: nnnum.softmax_cross_entropy(self.z, self.t), repeat=20)

    def track_fused_over_np_sum(self, dtype) -> float:
        """Fused time / one np.sum over the same array (target: <= 2)."""
        return self._fused() / best_time(lambda: np.sum(self.z), repeat=20)

    track_fused_over_np_sum.unit = "ratio"

    def track_book_composition_over_fused(self, dtype) -> float:
        """The book's softmax-then-CE time / fused time (speed-up)."""
        book = best_time(lambda: book_softmax_cross_entropy(self.z, self.t), repeat=3)
        return book / self._fused()

    track_book_composition_over_fused.unit = "ratio"
