"""Host side of the structured numerical gradient: kernel inputs, dispatch by backend."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as _wait
from typing import Any

import numba
import numpy as np

from .. import backends as _backend
from ..diff.stencils import stencil
from ..losses import CE_DELTA
from . import _kernels as _kernels_net
from . import _warm
from ._batched import actual_steps, batched_structured_gradient

#: A class probability below this (a logit gap over ~667) is too small for the kernels' exact
#: recomputation, which works with log q: such a batch takes the batched path's full logits.
Q_TINY = 1e-290


def structured_gradient(params: dict[str, Any], x: Any, labels: Any, h: float) -> dict[str, Any]:
    """Central differences of the book's loss for every parameter of a TwoLayerNet."""
    if _backend.current().JIT:
        return _structured_numba(params, x, labels, h)
    return batched_structured_gradient(params, x, labels, h)


def _unit_bounds(hdim: int) -> np.ndarray:
    """Hidden units per task of ``grad_hidden``: one run per thread, in multiples of 8."""
    tasks = max(1, min(numba.get_num_threads(), hdim // 8))
    bounds = [(c * hdim // tasks) // 8 * 8 for c in range(tasks)] + [hdim]
    return np.array(bounds, dtype=np.int64)


def _row_ranges(rows: int) -> list[tuple[int, int]]:
    """Contiguous row ranges, one per thread (``numba.get_num_threads()``), none empty."""
    tasks = max(1, min(numba.get_num_threads(), rows))
    return [(c * rows // tasks, (c + 1) * rows // tasks) for c in range(tasks)]


_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_pid = 0


def _executor(workers: int) -> ThreadPoolExecutor:
    """The module's thread pool, created on first use, grown to ``workers`` when it is smaller.

    A pool from before ``os.fork`` is not used in the child (its threads did not
    survive); a replaced pool is dropped, not shut down (a caller that holds it
    may still submit), and its idle threads exit when it is collected.
    """
    global _pool, _pool_size, _pool_pid
    with _pool_lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_size < workers:
            _pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nnnum-net")
            _pool_size, _pool_pid = workers, os.getpid()
        return _pool


def _run_tasks(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> None:
    """Run kernel calls ``fn(*args)`` concurrently: the caller runs the first, the pool the rest.

    The kernels release the GIL (``nogil``) and each writes only its own outputs;
    every call has returned before this does (also when one raised).
    """
    if len(calls) == 1:
        fn, args = calls[0]
        fn(*args)
        return
    futures = [_executor(len(calls) - 1).submit(fn, *args) for fn, args in calls[1:]]
    try:
        fn, args = calls[0]
        fn(*args)
    finally:
        _wait(futures)
    for fut in futures:
        fut.result()


def _forward(indptr, indices, values, w1, b1, w2, b2, labels):
    """``forward_cache``, its rows split over the threads (:func:`_kernels.forward_rows`)."""
    n = indptr.size - 1
    hdim, k = w1.shape[1], w2.shape[1]
    z, zm = np.empty((n, hdim)), np.empty((n, hdim))
    q, p = np.empty((n, k)), np.empty(n)
    coef = np.empty((13, n, hdim))
    rest = (indptr, indices, values, w1, b1, w2, b2, labels, z, zm, q, p, coef)
    kern = _warm.kernel("_kernels", "forward_rows")  # waits while the helper compiles it
    _run_tasks([(kern, (lo, hi, *rest)) for lo, hi in _row_ranges(n)])
    return z, zm, q, p, coef


def _grad_hidden(
    kern, indptr, indices, values, coef, q, p, w2, dp, dm, st, delta, bounds, g, status
):
    """``kern`` (``grad_hidden`` or its exact variant): its tasks, one per thread."""
    tail = (indptr, indices, values, coef, q, p, w2, dp, dm, st, delta, bounds, g, status)
    _run_tasks([(kern, (c, *tail)) for c in range(bounds.size - 1)])


def _grad_output(kern, zt, qt, p, labels, dp, dm, st, delta, g, status):
    """``kern`` (``grad_output`` or its exact variant), each thread on its own rows."""
    _run_tasks(
        [
            (kern, (zt[a:b], qt, p, labels, dp[a:b], dm[a:b], st[a:b], delta, g[a:b], status[a:b]))
            for a, b in _row_ranges(g.shape[0])
        ]
    )


def _cache_line_rows(rows: int, cols: int) -> np.ndarray:
    """An empty (rows, >= cols) array, 64-byte aligned, rows a multiple of 64 bytes long."""
    width = -(-cols // 8) * 8
    buf = np.empty(rows * width + 8)
    skip = (-buf.ctypes.data % 64) // 8
    return buf[skip : skip + rows * width].reshape(rows, width)


def _steps(a: np.ndarray, b: np.ndarray, h: float, name: str):
    """``actual_steps`` of ``[a; b]`` in one pass; its error where a check fails."""
    dp, dm, st, ok = _warm.kernel("_kernels", "actual_steps_stacked")(a, b, float(h))
    if not ok:
        actual_steps(np.vstack([a, b[None, :]]), h, name)  # raises the error
    return dp, dm, st


def _structured_numba(params: dict[str, Any], x: np.ndarray, labels: np.ndarray, h: float):
    w1 = np.ascontiguousarray(params["W1"], dtype=np.float64)
    b1 = np.ascontiguousarray(params["b1"], dtype=np.float64)
    w2 = np.ascontiguousarray(params["W2"], dtype=np.float64)
    b2 = np.ascontiguousarray(params["b2"], dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    n, d = x.shape
    hdim = w1.shape[1]
    _warm.start()  # once per process; only on a cold cache
    # the nonzeros of [x, 1] per sample (CSR): the trailing 1 carries the bias b1
    indptr, indices, values = _warm.kernel("_kernels", "sparse_rows")(x)
    z, zm, q, p, coef = _forward(indptr, indices, values, w1, b1, w2, b2, labels)
    if not q.min() >= Q_TINY:  # never on a sane net; NaN logits (inf weights x) land here too
        return batched_structured_gradient(params, x, labels, h)

    dp1, dm1, st1 = _steps(w1, b1, h, "W1/b1")  # the parameters' errors in the usual order
    # the output layer first (independent of the hidden one: the same bits in either order),
    # so that on a cold start the helper has compiled grad_hidden by then (see _warm)
    # output layer: [W2; b2] as one (H+1, K) block; z gets a row of ones (transposed)
    dp2, dm2, st2 = _steps(w2, b2, h, "W2/b2")
    zt = np.empty((hdim + 1, n))  # C order: the kernel's loops run along samples
    zt[:hdim] = z.T
    zt[hdim] = 1.0
    g2 = np.empty(dp2.shape)
    args2 = (zt, np.ascontiguousarray(q.T), p, labels, dp2, dm2, st2, CE_DELTA, g2)
    status = np.zeros(g2.shape[0], np.uint8)
    _grad_output(_warm.kernel("_kernels", "grad_output"), *args2, status)
    if status.any():
        _grad_output(_kernels_net.grad_output_exact, *args2, status)

    # hidden layer: [W1; b1] as one (D+1, H) block
    g1 = _cache_line_rows(d + 1, hdim)
    bounds = _unit_bounds(hdim)
    args = (indptr, indices, values, coef, q, p, w2, dp1, dm1, st1, CE_DELTA, bounds, g1)
    # the polynomials first; a batch with a unit outside their range (raw pixels, a large h)
    # is done again by the exact variant, compiled only then (see _kernels._fast_and_exact)
    status = np.zeros(bounds.size - 1, np.uint8)
    _grad_hidden(_warm.kernel("_kernels", "grad_hidden"), *args, status)
    if status.any():
        _grad_hidden(_kernels_net.grad_hidden_exact, *args, status)
    g1 = g1[:, :hdim]
    return {
        "W1": np.ascontiguousarray(g1[:d]),
        "b1": g1[d].copy(),
        "W2": g2[:hdim],
        "b2": g2[hdim].copy(),
    }


def structured_with_stencil(
    central: Callable[[float], dict[str, Any]], h: float, order: int
) -> dict[str, Any]:
    """A central stencil of ``order`` from the structured two-point differences at ``t h``.

    With ``D_t`` the two-point central difference over the step actually taken
    at ``t h``, the stencil is ``sum_t 2 t w_t D_t`` (``w_t`` its weight at
    offset ``+t``): order 2 is ``D_1`` itself, bit for bit.
    """
    st = stencil(order, "central")
    if order == 2:
        return central(h)
    total: dict[str, Any] = {}
    for t in range(1, order // 2 + 1):
        c = 2.0 * t * st.weights[st.offsets.index(t)]
        for key, g in central(t * h).items():
            total[key] = total[key] + c * g if key in total else c * g
    return total
