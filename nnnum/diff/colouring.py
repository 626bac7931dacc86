"""Sparsity patterns and column colouring (Curtis, Powell and Reid 1974).

Two columns of a Jacobian may be perturbed together (one evaluation of ``f``
for both) when no row has a nonzero in both. :func:`colour_columns` groups the
columns greedily (each column takes the smallest colour none of its
neighbours holds) in several orders and keeps the order with the fewest
colours:

* the natural order, which on a banded pattern gives exactly as many colours
  as the widest row (the lower bound: optimal);
* the largest-first order (columns with the most neighbours first);
* SciPy's order (``scipy.optimize._numdiff.group_columns``'s default, a
  permutation drawn with ``numpy.random.RandomState(0)``), with which SciPy's
  sequential grouping is this very greedy rule: the result therefore never
  has more colours than SciPy's.

SciPy is not needed: a pattern is a boolean array or any object with
``tocsr()`` (a SciPy sparse array or matrix).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._core.jit import kernel

__all__ = ["Pattern", "as_pattern", "colour_columns"]


class Pattern:
    """A boolean ``(m, n)`` pattern in CSR form (``indptr``, ``indices``), its CSC twin.

    ``sparse``: whether it came as a SciPy sparse object (the result then is one).
    """

    def __init__(
        self, m: int, n: int, indptr: np.ndarray, indices: np.ndarray, sparse: bool
    ) -> None:
        self.m, self.n, self.sparse = int(m), int(n), bool(sparse)
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.indices = np.ascontiguousarray(indices, dtype=np.int64)
        rows = np.repeat(np.arange(self.m, dtype=np.int64), np.diff(self.indptr))
        order = np.argsort(self.indices, kind="stable")
        self.col_ptr = np.zeros(self.n + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.indices, minlength=self.n), out=self.col_ptr[1:])
        self.col_rows = rows[order]
        self.rows = rows

    @property
    def shape(self) -> tuple[int, int]:
        """``(m, n)``."""
        return (self.m, self.n)

    @property
    def nnz(self) -> int:
        """The number of nonzeros."""
        return int(self.indices.size)


def as_pattern(sparsity: Any, shape: tuple[int, int] | None = None) -> Pattern:
    """A :class:`Pattern` from a boolean array (nonzero = True) or a SciPy sparse object.

    ``shape``: the ``(m, n)`` it must have (``f(x).size``, ``x.size``), checked.
    Explicit zeros stored in a sparse matrix are not part of the pattern.
    """
    if hasattr(sparsity, "tocsr") and hasattr(sparsity, "shape"):
        csr = sparsity.tocsr(copy=True)
        csr.eliminate_zeros()
        csr.sum_duplicates()
        csr.sort_indices()
        m, n = csr.shape
        pat = Pattern(m, n, csr.indptr, csr.indices, True)
    else:
        a = np.asarray(sparsity)
        if a.dtype == object or not (a.dtype == np.bool_ or np.issubdtype(a.dtype, np.number)):
            raise TypeError(
                f"sparsity must be a boolean array or a SciPy sparse matrix, got {a.dtype}"
            )
        if a.ndim != 2:
            raise ValueError(
                f"sparsity must be 2-D, shape (f(x).size, x.size), got shape {a.shape}"
            )
        nz = a != 0
        m, n = nz.shape
        indptr = np.zeros(m + 1, dtype=np.int64)
        np.cumsum(nz.sum(axis=1), out=indptr[1:])
        pat = Pattern(m, n, indptr, np.nonzero(nz)[1], False)
    if shape is not None and pat.shape != tuple(shape):
        raise shape_error(pat.shape, tuple(shape))
    return pat


def shape_error(got: tuple[int, ...], want: tuple[int, ...]) -> ValueError:
    """The error of a sparsity pattern of shape ``got`` for a Jacobian of shape ``want``."""
    return ValueError(
        f"sparsity has shape {got}, but the Jacobian has shape {want} (f(x).size, x.size)"
    )


@kernel
def _greedy(col_ptr, col_rows, row_ptr, row_cols, order, colours):  # pragma: no cover (jit)
    n = col_ptr.size - 1
    stamp = np.full(n + 1, -1, dtype=np.int64)
    ncol = 0
    for c in order:
        for q in range(col_ptr[c], col_ptr[c + 1]):
            r = col_rows[q]
            for q2 in range(row_ptr[r], row_ptr[r + 1]):
                k = colours[row_cols[q2]]
                if k >= 0:
                    stamp[k] = c
        g = 0
        while stamp[g] == c:
            g += 1
        colours[c] = g
        if g + 1 > ncol:
            ncol = g + 1
    return ncol


def _degree(pat: Pattern) -> np.ndarray:
    """An upper bound of each column's neighbours: the sum of its rows' lengths."""
    rowlen = np.diff(pat.indptr)
    return np.bincount(pat.indices, weights=rowlen[pat.rows], minlength=pat.n)


def colour_columns(pattern: Any) -> tuple[int, np.ndarray]:
    """The number of colours and each column's colour (``-1`` for an empty column).

    Examples
    --------
    >>> import numpy as np
    >>> from nnnum.diff.colouring import colour_columns
    >>> band = np.abs(np.subtract.outer(np.arange(8), np.arange(8))) <= 1
    >>> colour_columns(band)[0]
    3
    """
    pat = pattern if isinstance(pattern, Pattern) else as_pattern(pattern)
    n = pat.n
    used = np.diff(pat.col_ptr) > 0
    orders = [
        np.arange(n, dtype=np.int64),
        np.argsort(-_degree(pat), kind="stable").astype(np.int64),
        np.random.RandomState(0).permutation(n).astype(np.int64),
    ]
    best: tuple[int, np.ndarray] | None = None
    for order in orders:
        colours = np.full(n, -1, dtype=np.int64)
        k = int(_greedy(pat.col_ptr, pat.col_rows, pat.indptr, pat.indices, order, colours))
        if best is None or k < best[0]:
            best = (k, colours)
    assert best is not None
    k, colours = best
    colours[~used] = -1
    # renumber densely in order of first appearance (an empty column took a colour of its own)
    present = np.unique(colours[used])
    remap = np.full(max(k, 1), -1, dtype=np.int64)
    remap[present] = np.arange(present.size)
    colours[used] = remap[colours[used]]
    return int(present.size), colours
