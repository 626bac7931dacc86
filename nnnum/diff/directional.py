r"""Directional derivatives (a JVP for a vector-valued ``f``) and Hessian-vector products.

:math:`J v = \frac{d}{dt} f(x + t v) \big|_{t=0}`: the derivative of a function of
one variable, taken by :func:`.finish.differentiate` at ``t = 0`` with every
output of ``f`` one column, so the stencils, Richardson, the estimate and
``status`` are the gradient's. Two evaluations of ``f`` for the book's stencil.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .finish import DiffResult, differentiate
from .jacobian import _x_of
from .options import check_flag, check_options
from .perturb import values_of
from .steps import auto_step

__all__ = ["directional_derivative", "hessian_vector_product"]


def directional_derivative(
    f: Callable[[Any], Any],
    x: Any,
    v: Any,
    *,
    h: float | Literal["auto"] | None = None,
    order: int = 2,
    method: Literal["central", "forward", "backward", "complex"] = "central",
    richardson: int = 0,
    full_output: bool = False,
    batched: bool = False,
) -> Any:
    r"""The derivative of ``f`` at ``x`` in the direction ``v``: ``J v`` (``grad . v``).

    Parameters
    ----------
    f : callable
        ``f(x)`` of any shape (``batched=True``: ``(B, *x.shape) -> (B, ...)``,
        all points in one call).
    x, v : array_like
        The point and the direction (same shape); neither is modified.
    h : float or "auto", keyword-only
        The step ``t`` along ``v`` (default the book's ``1e-4``). ``"auto"``:
        the gradient's automatic step for ``max |x_i|`` over ``v``'s nonzeros,
        divided by ``max |v_i|``.
    order, method, richardson, full_output
        As for :func:`numerical_gradient`.

    Returns
    -------
    float, ndarray or DiffResult
        Shaped like ``f(x)``.

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> f = lambda x: np.array([np.sum(x**2), x[0] * x[1]])
    >>> d = nnnum.directional_derivative(f, np.array([1.0, 2.0]), np.array([1.0, -1.0]))
    >>> bool(np.allclose(d, [2 - 4, 2 - 1]))
    True
    """
    hv, st, levels, is_complex = check_options(h, order, method, richardson)
    full_output, batched = check_flag(full_output, "full_output"), check_flag(batched, "batched")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    xa = _x_of(x, "directional_derivative")
    va = np.asarray(v)
    if va.shape != xa.shape:
        raise ValueError(f"v must have the shape of x {xa.shape}, got {va.shape}")
    va = _x_of(va, "directional_derivative (v)").astype(np.float64)
    nz = va != 0
    vmax = float(np.abs(va).max()) if va.size else 0.0
    if vmax == 0.0:
        raise ValueError("v is zero: a direction needs a nonzero element")
    if hv == "auto":
        xs = np.array([float(np.abs(xa[nz]).max())], dtype=xa.dtype)
        if is_complex:
            from . import complex_step as cs

            hv = float(cs.steps(xs, "auto")[0]) / vmax
        else:
            hv = float(auto_step(xs, st, levels - 1, 2.0)[0]) / vmax
    cache: dict[Any, np.ndarray] = {}
    box: dict[str, tuple[int, ...]] = {}
    calls = [0]

    def at(ts: np.ndarray, cplx: bool) -> np.ndarray:
        """``f(x + t v)`` for each ``t``, flattened rows (one batched call)."""
        pts = (
            xa.astype(np.complex128 if cplx else xa.dtype)[None]
            + ts.reshape((-1,) + (1,) * xa.ndim) * va[None]
        )
        if not cplx:
            pts = pts.astype(xa.dtype)
        calls[0] += ts.size
        if batched:
            out = np.asarray(f(pts))
            if out.shape[:1] != (ts.size,):
                raise ValueError(
                    f"a batched f must return one value per point: shape ({ts.size}, ...), "
                    f"got {out.shape}"
                )
            vals = list(out)
        else:
            vals = [f(p) for p in pts]
        rows = []
        for o, t in zip(vals, ts, strict=True):
            o = np.asarray(o)
            if "shape" not in box:
                box["shape"] = o.shape
            rows.append(values_of(o, box["shape"], f"x + {t!r} v", cplx))
        return np.stack(rows)

    if is_complex:
        from . import complex_step as cs

        hv = float(hv)
        f0 = at(np.array([0.0], dtype=np.complex128), True)
        cs.check_real_at_x(f0[0], ())
        m = f0.shape[1]
        vals = at(np.array([1j * hv, 2j * hv]), True).imag
        im = np.full((3, m), np.nan)
        im[:2] = vals
        hs = np.full(m, hv)
        sus = cs.suspects(im, hs, np.dtype(np.float64))
        if sus.size:
            im[2, sus] = at(np.array([4j * hv]), True).imag[0, sus]
        df, err = cs.finish(im, hs, (m,), np.dtype(np.float64))
        shape = box["shape"]
        cres = df.reshape(shape)
        if not full_output:
            return float(cres) if cres.ndim == 0 else cres
        return DiffResult(cres, err.reshape(shape), calls[0], np.array([hv]), 2, "complex")
    first_t = float(st.offsets[0]) * float(hv)
    v_first = at(np.array([first_t]), False)
    cache[first_t] = v_first[0]
    m = v_first.shape[1]

    def evaluate(points: np.ndarray, labels: list[str]) -> np.ndarray:
        ts = points[:, 0].astype(np.float64)
        out = np.empty((ts.size, m))
        todo = [r for r, t in enumerate(ts) if float(t) not in cache]
        if todo:
            new = at(ts[todo], False)
            for r, row in zip(todo, new, strict=True):
                cache[float(ts[r])] = row
        for r, t in enumerate(ts):
            out[r] = cache[float(t)]
        return out

    def f_at_x() -> Any:  # one value per output column
        return at(np.array([0.0]), False)[0]

    res = differentiate(np.zeros(m), (m,), hv, st, levels, evaluate, f_at_x, estimate=full_output)
    shape = box["shape"]
    df = res.df.reshape(shape)
    out = float(df) if df.ndim == 0 else df
    if not full_output:
        return out
    return DiffResult(
        out,
        res.error.reshape(shape),
        calls[0],
        np.asarray(res.step),
        res.order,
        st.kind,
        np.reshape(res.status, shape),
    )


def hessian_vector_product(
    f: Callable[[Any], Any],
    x: Any,
    v: Any,
    *,
    grad: Callable[[Any], Any] | None = None,
    h: float | Literal["auto"] | None = None,
    order: int = 2,
    richardson: int = 0,
    full_output: bool = False,
    batched: bool = False,
) -> Any:
    r"""``H v`` without forming ``H``.

    With ``grad`` (the analytic gradient): the directional derivative of
    ``grad`` along ``v``, two evaluations of ``grad`` for the book's stencil.
    From ``f`` alone: the gradient of :math:`g(x) = \nabla f(x) \cdot v`, taken
    by :func:`numerical_gradient` of the directional derivative of ``f``
    (``4 n`` evaluations of ``f`` for the central stencils).

    Examples
    --------
    >>> import numpy as np, nnnum
    >>> f = lambda x: x[0] ** 2 * x[1]
    >>> g = lambda x: np.array([2 * x[0] * x[1], x[0] ** 2])
    >>> hv = nnnum.hessian_vector_product(f, np.array([1.0, 2.0]), np.array([1.0, 0.0]), grad=g)
    >>> bool(np.allclose(hv, [4.0, 2.0]))
    True
    """
    if grad is not None:
        return directional_derivative(
            grad,
            x,
            v,
            h=h,
            order=order,
            richardson=richardson,
            full_output=full_output,
            batched=batched,
        )
    from .api import numerical_gradient

    xa = _x_of(x, "hessian_vector_product")
    hin = 1e-4 if h is None else h
    if hin == "auto":
        hin = float(np.finfo(xa.dtype).eps) ** (1.0 / 4.0)

    def gv(z: np.ndarray) -> float:
        return float(directional_derivative(f, z, v, h=hin, order=order, batched=batched))

    return numerical_gradient(
        gv, xa, h=hin, order=order, richardson=richardson, full_output=full_output
    )
