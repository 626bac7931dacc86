"""scikit-learn's bundled 8x8 digits, which work anywhere, offline: :func:`load_digits`."""

from __future__ import annotations

import gzip
import importlib.util
import warnings
from pathlib import Path

import numpy as np

from ._split import Split

__all__ = ["load_digits"]

#: The data set's shape in scikit-learn's file: 1,797 rows of 64 pixels and a label.
_SHAPE = (1797, 65)


def load_digits(normalize: bool = True) -> Split:
    """scikit-learn's bundled 8x8 digits (1,797 real handwritten digits), offline.

    The values of ``sklearn.datasets.load_digits()``, read from the file that
    scikit-learn installs (4 ms) rather than through ``sklearn.datasets``,
    whose import takes half a second (SciPy's statistics and more); through it
    where that file is not found.

    Returns
    -------
    x : ndarray, shape (1797, 64)
        Float32 in [0, 1] (pixel counts 0..16 divided by 16) when ``normalize``.
    t : ndarray, shape (1797,)
        Int64 labels 0..9.

    Examples
    --------
    >>> from nnnum.data import load_digits
    >>> x, t = load_digits()
    >>> x.shape, x.dtype, t[:5].tolist(), float(x.max())
    ((1797, 64), dtype('float32'), [0, 1, 2, 3, 4], 1.0)
    """
    table = _bundled_table()
    if table is None:
        data, target = _through_sklearn()
    else:
        data, target = table[:, :-1], table[:, -1]
    x = data.astype(np.float32)
    return (x / 16.0 if normalize else x), target.astype(np.int64)


def _bundled_file() -> Path | None:
    """scikit-learn's ``datasets/data/digits.csv.gz``, found without importing scikit-learn."""
    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(root, "datasets", "data", "digits.csv.gz")
        if path.is_file():
            return path
    return None


def _bundled_table() -> np.ndarray | None:
    """The file's table as scikit-learn reads it (``np.loadtxt``), or None: not found or odd."""
    path = _bundled_file()
    if path is None:
        return None
    try:
        with warnings.catch_warnings():  # an empty file: NumPy's "no data", then the fallback
            warnings.simplefilter("ignore", UserWarning)
            with gzip.open(path, "rt", encoding="utf-8") as f:
                table = np.loadtxt(f, delimiter=",", ndmin=2)
    except (OSError, ValueError, EOFError, UnicodeDecodeError):
        return None
    ok = table.shape == _SHAPE and np.isin(table[:, -1], np.arange(10)).all()
    return table if ok else None


def _through_sklearn() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits as _sk_digits
    except ImportError as exc:
        raise ImportError(
            "the digits data set needs scikit-learn: pip install nnnum[data]"
        ) from exc
    d = _sk_digits()
    return d.data, d.target
