"""The plan of a Jacobian: its sparsity pattern, the colouring of its columns, where values go.

:class:`JacobianPlan` is made once (:func:`jacobian_plan`) and reused by every
:func:`~nnnum.diff.jacobian.numerical_jacobian` call with ``sparsity=plan``: it
holds O(nnz) integers, the layouts of each row count of perturbations, and the
template of the sparse result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .colouring import Pattern, as_pattern, colour_columns, shape_error
from .steps import where

__all__ = ["JacobianPlan", "jacobian_plan", "dense_plan", "gather"]


#: The state of a ``scipy.sparse.csr_array`` that :meth:`JacobianPlan.csr` may copy: the
#: arrays it replaces and immutable attributes (SciPy 1.17 keeps no other; a SciPy that keeps
#: more gets its constructor).
_CSR_STATE = frozenset(
    {
        "_shape",
        "maxprint",
        "indptr",
        "indices",
        "data",
        "_has_sorted_indices",
        "_has_canonical_format",
    }
)


class JacobianPlan:
    """A sparsity pattern with its colouring, for repeated :func:`numerical_jacobian` calls.

    Made once by :func:`jacobian_plan` (as FiniteDiff.jl's caches); passed as
    ``sparsity=``. Holds O(nnz) integers: the pattern, each column's colour, and
    where each nonzero's value is read from ``f``'s values.

    Attributes
    ----------
    shape : tuple of int
        ``(m, n)``: ``f(x).size`` and ``x.size``.
    ncolours : int
        Evaluations of ``f`` per stencil point (instead of ``n``).
    colours : ndarray of int64
        Each column's colour, ``-1`` for a column without nonzeros.
    """

    def __init__(self, pattern: Pattern | None, dense_shape: tuple[int, int] | None = None) -> None:
        self.pattern = pattern
        self.dense = pattern is None
        if pattern is None:  # every element its own colour, the nonzeros row by row
            assert dense_shape is not None
            m, n = dense_shape
            self.shape = (m, n)
            self.ncolours, self.colours = n, np.arange(n, dtype=np.int64)
            self.rep = np.arange(n, dtype=np.int64)
            self.members = np.arange(n, dtype=np.int64)
            self.member_ptr = np.arange(n + 1, dtype=np.int64)
            self._nnz = m * n
            return
        m, n = pattern.shape
        self.shape = (m, n)
        self._nnz = pattern.nnz
        self.ncolours, self.colours = colour_columns(pattern)
        used = self.colours >= 0
        # one of the flat nonzeros per element (its points are the element's points)
        rep = np.full(n, -1, dtype=np.int64)
        order = np.argsort(pattern.indices, kind="stable")
        rep[used] = order[pattern.col_ptr[:-1][used]]
        self.rep = rep
        members = np.argsort(self.colours, kind="stable")[np.count_nonzero(~used) :]
        self.members = members.astype(np.int64)
        self.member_ptr = np.zeros(self.ncolours + 1, dtype=np.int64)
        counts = np.bincount(self.colours[members], minlength=self.ncolours)
        np.cumsum(counts, out=self.member_ptr[1:])
        self._elem = pattern.indices  # the element of each nonzero (CSR order)
        self._out = pattern.rows  # its output
        self.gather = self.colours[self._elem] * m + self._out

    def layout(self, rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Where ``rows`` points per colour go, and where their values are read back.

        ``ptr``, ``idx`` and ``scatter`` of :class:`.perturb.Perturbations`;
        ``gather``, the flat positions in ``f``'s values ``(rows * colours, m)``
        of each row's nonzeros (``None`` for a dense plan, whose values are read
        as they are). None of them depends on ``x``: made once per ``rows`` and
        kept (read-only).
        """
        cache = self.__dict__.setdefault("_layouts", {})
        hit = cache.get(rows)
        if hit is None:
            size = self.members.size
            m, n = self.shape
            ptr = (np.arange(rows)[:, None] * size + self.member_ptr[None, :-1]).reshape(-1)
            ptr = np.append(ptr, rows * size).astype(np.int64)
            idx = np.tile(self.members, rows)
            scatter = np.repeat(np.arange(rows * self.ncolours, dtype=np.int64), np.diff(ptr)) * n
            scatter += idx
            gather = None
            if not self.dense:
                span = self.ncolours * m
                gather = (np.arange(rows)[:, None] * span + self.gather[None, :]).reshape(-1)
            for a in (ptr, idx, scatter, gather):
                if a is not None:
                    a.flags.writeable = False
            hit = cache[rows] = (ptr, idx, scatter, gather)
        return hit

    def csr(self, data: np.ndarray) -> Any:
        """A new ``scipy.sparse.csr_array`` of the pattern with the nonzeros ``data``.

        Its index arrays are its own copies. SciPy's constructor checks the
        pattern's indices on every call (~30 us at nnz = 7000, a tenth of a
        reused plan's call); the pattern is the plan's, checked once: a new
        array is made from that checked one, its state copied and its arrays
        replaced, wherever that state holds nothing else (else, the constructor).
        """
        from scipy import sparse

        template = self.__dict__.get("_csr")
        if template is None:
            assert self.pattern is not None and self.pattern.sparse
            template = sparse.csr_array(
                (np.zeros(self._nnz), self.pattern.indices, self.pattern.indptr),
                shape=self.shape,
            )
            self.__dict__["_csr"] = template
        state = getattr(template, "__dict__", None)
        if state is None or not set(state) <= _CSR_STATE:  # a SciPy that keeps more: build it
            return sparse.csr_array(
                (data, template.indices.copy(), template.indptr.copy()), shape=self.shape
            )
        out = object.__new__(type(template))
        out.__dict__.update(state)
        out.data, out.indices, out.indptr = data, template.indices.copy(), template.indptr.copy()
        return out

    def read(self, F: np.ndarray, rows: int) -> np.ndarray:
        """The nonzeros' values ``(rows, nnz)`` from ``f``'s values ``(rows * colours, m)``."""
        gather = self.layout(rows)[3]
        assert gather is not None, "a dense plan's values are read as they are"
        return F.reshape(-1).take(gather).reshape(rows, -1)

    def check_shape(self, m: int, n: int, given: Any) -> None:
        """ValueError unless the plan is ``(m, n)``, worded for what the caller gave."""
        if self.shape == (m, n):
            return
        if isinstance(given, JacobianPlan):
            raise ValueError(
                f"the plan has shape {self.shape}, the Jacobian (f(x).size, x.size) = {(m, n)}"
            )
        raise shape_error(self.shape, (m, n))

    def colour_name(self, c: int, shape: tuple[int, ...], what: str) -> str:
        """Colour ``c`` stepped by ``what``, in words: its first element (and how many more)."""
        el = self.members[self.member_ptr[c] : self.member_ptr[c + 1]]
        more = f" (and {el.size - 1} more of colour {c})" if el.size > 1 else ""
        return f"{where(shape, int(el[0]))} {what}{more}"

    def colour_of(self, nonzeros: np.ndarray) -> np.ndarray:
        """The colour of each of the ``nonzeros`` (their positions in CSR order)."""
        if self.dense:
            return np.asarray(nonzeros, dtype=np.int64) % self.shape[1]
        return self.colours[self._elem[nonzeros]]

    def read_imag(self, F: np.ndarray, rows: int) -> np.ndarray:
        """The imaginary parts of the nonzeros' values ``(rows, nnz)`` from complex128 ``F``."""
        cache = self.__dict__.setdefault("_layouts", {})
        at = cache.get(("imag", rows))
        if at is None:
            gather = self.layout(rows)[3]
            assert gather is not None, "a dense plan's values are read as they are"
            at = cache[("imag", rows)] = 2 * gather + 1  # in the float64 view of F
            at.flags.writeable = False
        Fc = np.ascontiguousarray(F, dtype=np.complex128)
        return Fc.reshape(-1).view(np.float64).take(at).reshape(rows, -1)

    @property
    def elem(self) -> np.ndarray:
        """The element (column) of each nonzero, in CSR order."""
        if self.dense:
            m, n = self.shape
            return np.tile(np.arange(n, dtype=np.int64), m)
        return self._elem

    @property
    def out(self) -> np.ndarray:
        """The output (row) of each nonzero, in CSR order."""
        if self.dense:
            m, n = self.shape
            return np.repeat(np.arange(m, dtype=np.int64), n)
        return self._out

    @property
    def nnz(self) -> int:
        """The number of nonzeros evaluated."""
        return self._nnz

    def __repr__(self) -> str:
        return (
            f"JacobianPlan(shape={self.shape}, nnz={self.nnz}, ncolours={self.ncolours}"
            f"{', dense' if self.dense else ''})"
        )


def jacobian_plan(sparsity: Any) -> JacobianPlan:
    """Colour a sparsity pattern once, for repeated calls of :func:`numerical_jacobian`.

    Parameters
    ----------
    sparsity : array_like of bool or SciPy sparse, shape (m, n)
        Where the Jacobian may be nonzero (``m = f(x).size``, ``n = x.size``).

    Returns
    -------
    JacobianPlan

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> band = np.abs(np.subtract.outer(np.arange(50), np.arange(50))) <= 1
    >>> plan = nnnum.jacobian_plan(band)
    >>> plan.ncolours
    3
    >>> lo, hi = np.arange(50) > 0, np.arange(50) < 49
    >>> f = lambda x: x**2 + np.roll(x, 1) * lo + np.roll(x, -1) * hi
    >>> J = nnnum.numerical_jacobian(f, np.ones(50), sparsity=plan, h="auto")
    >>> bool(np.allclose(J, np.where(np.eye(50, dtype=bool), 2.0, band.astype(float))))
    True
    """
    if isinstance(sparsity, JacobianPlan):
        return sparsity
    return JacobianPlan(as_pattern(sparsity))


def dense_plan(m: int, n: int) -> JacobianPlan:
    """The plan of a dense ``(m, n)`` Jacobian: every element its own colour."""
    return JacobianPlan(None, (m, n))


def gather(plan: JacobianPlan, F: np.ndarray, rows: int) -> np.ndarray:
    """``values[r, col]`` of every nonzero ``col`` from ``F`` (rows * colours, m)."""
    m, n = plan.shape
    if plan.dense:
        return F.reshape(rows, n, m).transpose(0, 2, 1).reshape(rows, m * n)
    return plan.read(F, rows)
