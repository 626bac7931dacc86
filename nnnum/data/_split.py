"""A seeded train/test split of samples and their targets: :func:`train_test_split`."""

from __future__ import annotations

import math
import numbers
from typing import Any, Tuple  # noqa: UP035 (runtime aliases, 3.9)

import numpy as np

__all__ = ["train_test_split"]

Split = Tuple[np.ndarray, np.ndarray]  # noqa: UP006


def train_test_split(
    x: Any, t: Any, test_fraction: float = 0.2, seed: int = 0
) -> tuple[Split, Split]:
    """Shuffle with a seeded Generator and split into ``(train, test)``.

    Parameters
    ----------
    x, t : array_like
        Samples and their targets, the same number of each (at least one).
    test_fraction : float
        Share of the samples that go to the test part, ``0 <= test_fraction
        < 1``; the test part gets ``round(len(x) * test_fraction)`` samples
        (0 is allowed and gives an empty test part; the training part must
        keep at least one sample).
    seed : int
        Seed of the :func:`numpy.random.default_rng` shuffle.

    Returns
    -------
    tuple
        ``((x_train, t_train), (x_test, t_test))``.

    Raises
    ------
    ValueError
        ``test_fraction`` outside ``[0, 1)`` or not finite, ``x`` and ``t``
        of different lengths, no samples, or no training samples left.

    Examples
    --------
    >>> import numpy as np
    >>> from nnnum.data import train_test_split
    >>> (xtr, ttr), (xte, tte) = train_test_split(np.arange(10), np.arange(10), 0.3)
    >>> len(xtr), len(xte), sorted(xtr.tolist() + xte.tolist()) == list(range(10))
    (7, 3, True)
    """
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, numbers.Real):
        raise TypeError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    if not (math.isfinite(test_fraction) and 0 <= test_fraction < 1):
        raise ValueError(f"test_fraction must be a finite number in [0, 1), got {test_fraction!r}")
    x = x if hasattr(x, "shape") else np.asarray(x)
    t = t if hasattr(t, "shape") else np.asarray(t)
    n = len(x)
    if len(t) != n:
        raise ValueError(f"x has {n} samples but t has {len(t)}: give one target per sample")
    if n == 0:
        raise ValueError("x is empty: nothing to split")
    n_test = int(round(n * test_fraction))
    if n_test >= n:
        raise ValueError(
            f"test_fraction={test_fraction} of {n} samples puts all {n} in the test part and "
            "leaves no training samples: lower test_fraction or give more samples"
        )
    order = np.random.default_rng(seed).permutation(n)
    te, tr = order[:n_test], order[n_test:]
    return (x[tr], t[tr]), (x[te], t[te])
