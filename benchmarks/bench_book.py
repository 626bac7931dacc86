"""asv: the chapter's examples as ratios ``book-style time / nnnum time`` (> 1: nnnum faster).

The cases and the book-style references are ``benchmarks/book.py``'s (one home);
``python -m benchmarks.compare --only book`` prints the same table.
"""

from __future__ import annotations

import numpy as np

from .common import nnnum

try:
    from . import book
except ImportError:  # pragma: no cover - old commits
    book = None


class BookRatios:
    """One ``track_`` ratio per example of the chapter, measured side by side, one BLAS thread."""

    timeout = 900
    unit = "book time / nnnum time"

    def setup_cache(self) -> dict[str, float]:
        return {name: tb / tn for name, (tn, tb) in book.ratios(rounds=5).items()}

    def track_ratio(self, ratios: dict[str, float], case: str) -> float:
        return ratios[case]

    params = (
        [
            "numerical_diff at 5",
            "numerical_gradient(function_2, [3.0, 4.0])",
            "numerical_gradient(function_2, [0.0, 2.0])",
            "gradient field, 324 points (figure 4-9)",
            "gradient_descent lr=0.1, 100 steps",
            "gradient_descent lr=10, 100 steps",
            "gradient_descent lr=1e-10, 100 steps",
            "simpleNet gradient of W",
            "TwoLayerNet(784, 50, 10).loss, batch 100",
            "TwoLayerNet(784, 50, 10).accuracy, batch 100",
            "TwoLayerNet(784, 50, 10).gradient, batch 100",
            "TwoLayerNet.numerical_gradient, batch 3",
            "training loop, 200 backprop iterations",
        ],
    )
    param_names = ["case"]


class _FirstCall(Exception):
    """Raised by ``f`` on its first call: peak memory up to then is the loop's own."""


def _stop_at_first_call(x: np.ndarray) -> float:
    raise _FirstCall


@nnnum.jit
def _two_elements(x: np.ndarray) -> float:
    v = x.reshape(-1)
    return v[0] * v[0] + v[v.size - 1]


class NumericalGradientMemory:
    """Peak memory of ``numerical_gradient`` beyond ``x`` itself.

    A Python ``f`` (up to its first call) and a cheap jitted ``f`` (the whole call). ``x`` is
    10^6 or 10^7 float64 (7.6 or 76 MiB), contiguous or a strided view of twice as many;
    target: at most the gradient plus one copy of ``x``. The jitted default call holds the
    gradient and one copy of ``x`` per thread beyond the first, which perturbs a contiguous
    ``x`` in place (a strided ``x``: its C-ordered snapshot, one copy more).
    """

    params = ([10**6, 10**7], ["contiguous", "strided"])
    param_names = ["n", "layout"]
    timeout = 300

    def setup(self, n: int, layout: str) -> None:
        self.x = np.ones(n) if layout == "contiguous" else np.ones(2 * n)[::2]

    def peakmem_python_f(self, n: int, layout: str) -> None:
        try:
            nnnum.numerical_gradient(_stop_at_first_call, self.x)
        except _FirstCall:
            pass

    def peakmem_jitted_f(self, n: int, layout: str) -> None:
        """A jitted ``f`` reading two elements: the whole gradient, 2n cheap calls."""
        nnnum.numerical_gradient(_two_elements, self.x)
