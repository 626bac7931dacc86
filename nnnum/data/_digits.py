"""scikit-learn's bundled 8x8 digits, which work anywhere, offline: :func:`load_digits`."""

from __future__ import annotations

import numpy as np

from ._split import Split

__all__ = ["load_digits"]


def load_digits(normalize: bool = True) -> Split:
    """scikit-learn's bundled 8x8 digits (1,797 real handwritten digits), offline.

    Returns
    -------
    x : ndarray, shape (1797, 64)
        Float32 in [0, 1] (pixel counts 0..16 divided by 16) when ``normalize``.
    t : ndarray, shape (1797,)
        Int64 labels 0..9.
    """
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError as exc:
        raise ImportError(
            "the digits data set needs scikit-learn: pip install nnnum[data]"
        ) from exc
    d = _sk_digits()
    x = d.data.astype(np.float32)
    return (x / 16.0 if normalize else x), d.target.astype(np.int64)
