"""Jacobian, sparse Jacobian, Hessian and check_grad side by side with SciPy and numdifftools.

Run ``python -m benchmarks.derivatives`` (``--quick`` skips the slow anchors). Best of
several runs, in one process; the anchors are optional (skipped when not installed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import nnnum


def broyden(x: np.ndarray) -> np.ndarray:
    """Broyden's banded function (5 below, 1 above the diagonal), vectorised over rows."""
    s = np.zeros_like(x)
    for d in range(1, 6):
        s[..., d:] += x[..., :-d] * (1 + x[..., :-d])
    s[..., :-1] += x[..., 1:] * (1 + x[..., 1:])
    return (3 - 2 * x) * x + 1 - s


def broyden_jac(x: np.ndarray) -> np.ndarray:
    J = np.diag(3 - 4 * x)
    for d in range(1, 6):
        J -= np.diag(1 + 2 * x[:-d], -d)
    J -= np.diag(1 + 2 * x[1:], 1)
    return J


def rosen(x: np.ndarray) -> Any:
    return np.sum(100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2, axis=-1)


def best(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    out, t = None, np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def row(name: str, t: float, err: float, extra: str = "") -> None:
    print(f"{name:58s} {t * 1e3:10.3f} ms   max err {err:9.2e}  {extra}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the slow anchors")
    ap.add_argument("-n", type=int, default=1000)
    args = ap.parse_args(argv)
    n = args.n
    x = np.random.default_rng(0).uniform(-1, 1, n)
    JT = broyden_jac(x)
    print(f"Jacobian, Broyden banded n = m = {n}")
    for label, kw in (
        ("nnnum dense batched", dict(batched=True)),
        ("nnnum dense batched order=4 richardson=1", dict(batched=True, order=4, richardson=1)),
        ("nnnum dense batched complex", dict(batched=True, method="complex")),
    ):
        t, J = best(lambda kw=kw: nnnum.numerical_jacobian(broyden, x, **kw), 3)
        row(label, t, float(np.abs(J - JT).max()))
    pat = JT != 0
    try:
        import scipy.sparse as sp

        sparsity: Any = sp.csr_array(pat)
    except ImportError:  # pragma: no cover
        sparsity = pat
    plan = nnnum.jacobian_plan(sparsity)
    for label, kw in (("central", {}), ("complex", dict(method="complex"))):
        t, J = best(
            lambda kw=kw: nnnum.numerical_jacobian(broyden, x, sparsity=plan, batched=True, **kw),
            20,
        )
        Jd = J.toarray() if hasattr(J, "toarray") else J
        row(
            f"nnnum sparse plan reused ({label})",
            t,
            float(np.abs(Jd - JT).max()),
            f"{plan.ncolours} colours",
        )
    try:
        from scipy.optimize._numdiff import approx_derivative, group_columns

        t, J = best(lambda: approx_derivative(broyden, x), 3)
        row("scipy approx_derivative 3-point dense", t, float(np.abs(J - JT).max()))
        groups = group_columns(pat)
        t, J = best(lambda: approx_derivative(broyden, x, sparsity=(sparsity, groups)), 20)
        row(
            "scipy approx_derivative 3-point sparsity",
            t,
            float(np.abs(J.toarray() - JT).max()),
            f"{len(np.unique(groups))} colours",
        )
    except ImportError:  # pragma: no cover
        print("scipy not installed: its rows skipped")
    m = 100_000
    xt = np.random.default_rng(1).uniform(-1, 1, m)

    def tri(z: np.ndarray) -> np.ndarray:
        out = z**3
        out[..., 1:] += z[..., :-1]
        out[..., :-1] -= 2 * z[..., 1:]
        return out

    import scipy.sparse as sp

    tpat = sp.diags([np.ones(m - 1), np.ones(m), np.ones(m - 1)], [-1, 0, 1]).tocsr()
    tplan = nnnum.jacobian_plan(tpat)
    t, J = best(lambda: nnnum.numerical_jacobian(tri, xt, sparsity=tplan, batched=True), 5)
    row(f"nnnum sparse tridiagonal n = {m}", t, float(np.abs(J.diagonal() - 3 * xt**2).max()))
    print("Hessian, Rosenbrock n = 100")
    xr = np.random.default_rng(2).uniform(0, 1.2, 100)
    from scipy.optimize import rosen_hess

    HT = rosen_hess(xr)
    for label, kw in (
        ("nnnum batched central", dict(batched=True)),
        ("nnnum batched central richardson=1", dict(batched=True, richardson=1)),
        ("nnnum batched complex", dict(batched=True, method="complex")),
    ):
        t, H = best(lambda kw=kw: nnnum.numerical_hessian(rosen, xr, **kw), 3)
        row(label, t, float(np.abs(H - HT).max()))
    if not args.quick:
        try:
            import numdifftools as nd

            t, H = best(lambda: nd.Hessian(rosen)(xr), 1)
            row("numdifftools Hessian", t, float(np.abs(H - HT).max()))
        except ImportError:  # pragma: no cover
            print("numdifftools not installed: its row skipped")
    print("check_grad, f = sum(sin(x) x), n = 10^4, random mode k=8")
    xg = np.random.default_rng(3).normal(size=10_000)
    t, r = best(
        lambda: nnnum.check_grad(
            lambda z: np.sum(np.sin(z) * z), lambda z: np.sin(z) + z * np.cos(z), xg, mode="random"
        ),
        3,
    )
    row("nnnum check_grad random", t, 0.0, f"passed={r.passed}, {r.nfev} evaluations")


if __name__ == "__main__":
    main()
