"""The first layer's products, ``x @ W1`` and ``x.T @ D``, skipping the input's zeros.

Most pixels of a digit are exactly zero (81% of MNIST's). On the Numba backend
an input with at most :data:`DENSE_MAX` non-zero entries is compressed once
(:class:`Compressed`, each row's non-zeros) and both products of a layer that
reads it sum only its non-zero terms, in a fixed order (:mod:`._input_kernels`),
instead of calling BLAS. Anything else (another backend, a denser input, NaN or
inf weights, whose ``0 * inf`` must stay NaN) takes NumPy's ``@``.

The same input always takes the same way, so every caller (the fast path and
the general path of :class:`~nnnum.TwoLayerNet`) gets the same bits; the sparse
way's bits are those of its arithmetic alone, on any CPU and thread count. They
differ from BLAS's by rounding (the order of the sum).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from .. import backends as _backend
from .._core.jit import PARALLEL_MIN_SIZE
from . import _warm

#: At most this fraction of non-zero entries: beyond it BLAS is faster (measured on
#: AVX-512 and AVX2 machines; the sparse products break even near 35%).
DENSE_MAX = 0.3
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class Compressed(NamedTuple):
    """The non-zeros of a 2-d ``x`` by row: row ``r``'s are ``idx[start[r]:start[r + 1]]``."""

    idx: np.ndarray  # int32 columns, increasing within a row
    val: np.ndarray  # float64 values
    start: np.ndarray  # int64 (n + 1,)
    shape: tuple[int, int]


def _kernel(name: str) -> Any:
    return _warm.kernel("_input_kernels", name)


def compress(x: Any) -> Compressed | None:
    """``x``'s non-zeros, or None: the products take BLAS (see the module).

    ``x`` is a real 2-d NumPy array (float32 and float64 are read as they are,
    other dtypes through float64).
    """
    be = _backend.current()
    if not be.JIT or be.DEVICE or type(x) is not np.ndarray or x.ndim != 2 or x.size == 0:
        return None
    if x.dtype not in _FLOATS:
        if x.dtype.kind not in "biuf":
            return None
        x = x.astype(np.float64)
    n, d = x.shape
    limit = int(DENSE_MAX * n * d)
    if x.dtype not in _ran and np.count_nonzero(x) > limit:
        return None  # the kernel's answer (it counts NaN too), without compiling it
    idx = np.empty(limit + d, dtype=np.int32)
    val = np.empty(limit + d)
    start = np.empty(n + 1, dtype=np.int64)
    if _kernel("_compress")(np.ascontiguousarray(x), limit, idx, val, start) < 0:
        return None
    _ran.add(x.dtype)
    return Compressed(idx, val, start, (n, d))


#: The dtypes for which ``_compress`` has run: until then a dense input is told by NumPy's
#: count, so that a run on dense inputs (the 8x8 digits: half non-zero) never compiles it.
_ran: set[np.dtype] = set()


class Unknown:
    """The type of :data:`UNKNOWN`: ``compress(x)`` not yet tried."""


UNKNOWN = Unknown()


def _usable(c: Compressed, m: np.ndarray) -> bool:
    """Whether the sparse way applies to ``c`` against the (rows, k) float64 matrix ``m``.

    ``m`` must be finite: a skipped ``0 * inf`` would turn BLAS's NaN into a number.
    """
    return (
        type(m) is np.ndarray
        and m.dtype == np.float64
        and m.ndim == 2
        and m.flags.c_contiguous
        and bool(_kernel("_finite")(m))
    )


def as_float64(x: Any) -> Any:
    """``x`` as float64 (itself when it is)."""
    return x if getattr(x, "dtype", None) == np.float64 else x.astype(np.float64)


def product(x: Any, w: Any, c: Compressed | None | Unknown = UNKNOWN) -> Any:
    """``x @ w`` (``c``: ``compress(x)`` if already at hand, None for a dense ``x``).

    A product that overflows (or meets NaN) is BLAS's, with NumPy's warning of it.
    """
    if isinstance(c, Unknown):
        c = compress(x)
    if c is None or not _usable(c, w) or w.shape[0] != c.shape[1]:
        return as_float64(x) @ w
    out = np.empty((c.shape[0], w.shape[1]))
    if _forward(c, w, np.zeros(0), out, False):
        return as_float64(x) @ w
    return out


def hidden(c: Compressed | None, w1: np.ndarray, b1: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``(sigmoid(x @ w1 + b1), bad rows)`` in one pass from ``c = compress(x)``, or None.

    None where the sparse way does not apply (then :func:`product` is BLAS's).
    Bad rows have a NaN or inf pre-activation (see ``_hidden_py``), and no
    warning is given; with none, the hidden layer is
    ``sigmoid(product(x, w1, c) + b1)`` bit for bit (with some, the caller
    computes that, warnings included).
    """
    if c is None or not _usable(c, w1) or w1.shape[0] != c.shape[1]:
        return None
    z1 = np.empty((c.shape[0], w1.shape[1]))
    return z1, _forward(c, w1, b1, z1, True)


def _forward(c: Compressed, w: np.ndarray, b: np.ndarray, out: np.ndarray, activate: bool) -> int:
    big = out.size >= PARALLEL_MIN_SIZE
    kern = _kernel("_forward_parallel" if big else "_forward_serial")
    return int(kern(c.idx, c.val, c.start, w, b, out, activate))


def product_t(x: Any, dmat: Any, c: Compressed | None | Unknown = UNKNOWN) -> Any:
    """``x.T @ dmat`` (``c`` as for :func:`product`; an overflow is BLAS's, as there)."""
    if isinstance(c, Unknown):
        c = compress(x)
    if c is None or not _usable(c, dmat) or dmat.shape[0] != c.shape[0]:
        return as_float64(x).T @ dmat
    n, d = c.shape
    nnz = int(c.start[n])
    cidx, cval = np.empty(nnz, dtype=np.int32), np.empty(nnz)
    cstart = np.empty(d + 1, dtype=np.int64)
    _kernel("_by_column")(c.idx, c.val, c.start, d, cidx, cval, cstart)
    g = np.empty((d, dmat.shape[1]))
    big = dmat.size >= PARALLEL_MIN_SIZE  # the work: each non-zero of x meets a row of dmat
    if _kernel("_backward_parallel" if big else "_backward_serial")(cidx, cval, cstart, dmat, g):
        return as_float64(x).T @ dmat
    return g
