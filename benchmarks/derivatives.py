"""Jacobian, sparse Jacobian, Hessian and check_grad side by side with SciPy and numdifftools.

Run ``python -m benchmarks.derivatives`` (``--quick`` skips the slow anchors and the
statistics). Timings are the best of several runs, in one process; the anchors are optional
(skipped when not installed). Besides the timings:

* the estimate check: over an analytic set, the share of the Jacobian's and the Hessian's
  elements whose error estimate bounds the true error (or whose ``status`` flags it), and
  the median of estimate / true error;
* the check_grad statistics (``--cases``, 10^4 by default): false failures over random
  correct gradients (float64 and float32, scales 1e-8..1e8), and the share of seeds at
  which random-direction mode catches a 1e-4 relative error in one element (and names it).

``measure()`` returns the rows (for ``python -m benchmarks.compare``); ``show()`` prints them.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import nnnum

Row = tuple[str, float, float, str]


def broyden(x: np.ndarray) -> np.ndarray:
    """Broyden's banded function (5 below, 1 above the diagonal), vectorised over rows."""
    q = x + 1.0
    q *= x
    out = x * -2.0
    out += 3.0
    out *= x
    out += 1.0
    for d in range(1, 6):
        np.subtract(out[..., d:], q[..., :-d], out=out[..., d:])
    np.subtract(out[..., :-1], q[..., 1:], out=out[..., :-1])
    return out


def broyden_jit() -> Callable[[np.ndarray], np.ndarray]:
    """Broyden's banded function of one vector, compiled by Numba (nnnum's ``prange`` engine)."""
    import numba

    @numba.njit(cache=True)
    def f(x: np.ndarray) -> np.ndarray:  # pragma: no cover (compiled)
        n = x.size
        out = np.empty(n)
        for k in range(n):
            out[k] = (3.0 - 2.0 * x[k]) * x[k] + 1.0
        for k in range(n):
            for j in range(max(0, k - 5), min(n, k + 2)):
                if j != k:
                    out[k] -= x[j] * (1.0 + x[j])
        return out

    return f


def broyden_jac(x: np.ndarray) -> np.ndarray:
    J = np.diag(3 - 4 * x)
    for d in range(1, 6):
        J -= np.diag(1 + 2 * x[:-d], -d)
    J -= np.diag(1 + 2 * x[1:], 1)
    return J


def rosen(x: np.ndarray) -> Any:
    return np.sum(100.0 * (x[..., 1:] - x[..., :-1] ** 2) ** 2 + (1 - x[..., :-1]) ** 2, axis=-1)


def expsin(x: np.ndarray) -> Any:
    """``sum(exp(sin(x_i) * x_{i+1}))`` (complex-safe, batched over leading axes)."""
    return np.sum(np.exp(np.sin(x[..., :-1]) * x[..., 1:]), axis=-1)


def expsin_hess(x: np.ndarray) -> np.ndarray:
    a, b = x[:-1], x[1:]
    e = np.exp(np.sin(a) * b)
    ua, ub = np.cos(a) * b, np.sin(a)
    n = x.size
    H = np.zeros((n, n))
    k = np.arange(n - 1)
    np.add.at(H, (k, k), e * (ua**2 - np.sin(a) * b))
    np.add.at(H, (k + 1, k + 1), e * ub**2)
    off = e * (ua * ub + np.cos(a))
    H[k, k + 1] += off
    H[k + 1, k] += off
    return H


def best(fn: Callable[[], Any], repeat: int = 5) -> tuple[float, Any]:
    out, t = None, np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - t0)
    return t, out


def _err(a: Any, b: np.ndarray) -> float:
    a = getattr(a, "df", a)
    a = a.toarray() if hasattr(a, "toarray") else np.asarray(a)
    return float(np.abs(a - b).max())


def jacobians(n: int, slow: bool) -> list[Row]:
    rows: list[Row] = []
    x = np.random.default_rng(0).uniform(-1, 1, n)
    JT = broyden_jac(x)
    for label, kw in (
        ("Jacobian dense batched", dict(batched=True)),
        ("Jacobian dense batched order=4 richardson=1", dict(order=4, richardson=1, h="auto")),
        ("Jacobian dense batched complex", dict(method="complex")),
        (
            "Jacobian dense batched order=4 richardson=1 full_output",
            dict(order=4, richardson=1, full_output=True),
        ),
    ):
        kw = {"batched": True, **kw}
        t, J = best(lambda kw=kw: nnnum.numerical_jacobian(broyden, x, **kw), 3)
        rows.append((label, t, _err(J, JT), ""))
    import numba

    fj = broyden_jit()
    nnnum.numerical_jacobian(fj, x[:8])  # compiles f and the engine's kernels: not timed
    for label, kw in (
        ("Jacobian dense jitted f", {}),
        ("Jacobian dense jitted f order=4 richardson=1", dict(order=4, richardson=1, h="auto")),
    ):
        t, J = best(lambda kw=kw: nnnum.numerical_jacobian(fj, x, **kw), 3)
        rows.append((label, t, _err(J, JT), f"{numba.get_num_threads()} threads"))
    pat = JT != 0
    try:
        import scipy.sparse as sp

        sparsity: Any = sp.csr_array(pat)
    except ImportError:  # pragma: no cover
        sp, sparsity = None, pat
    plan = nnnum.jacobian_plan(sparsity)
    for label, kw in (("central", {}), ("complex", dict(method="complex"))):
        t, J = best(  # sub-millisecond calls: enough repeats for a stable best
            lambda kw=kw: nnnum.numerical_jacobian(broyden, x, sparsity=plan, batched=True, **kw),
            300,
        )
        rows.append(
            (f"Jacobian sparse plan reused ({label})", t, _err(J, JT), f"{plan.ncolours} colours")
        )
    try:
        from scipy.optimize._numdiff import approx_derivative, group_columns

        t, J = best(lambda: approx_derivative(broyden, x), 3)
        rows.append(("scipy approx_derivative 3-point dense", t, _err(J, JT), ""))
        groups = group_columns(pat)
        t, J = best(lambda: approx_derivative(broyden, x, sparsity=(sparsity, groups)), 20)
        rows.append(
            (
                "scipy approx_derivative 3-point sparsity",
                t,
                _err(J, JT),
                f"{len(np.unique(groups))} colours",
            )
        )
        if slow:
            from scipy.differentiate import jacobian as sjac

            t, r = best(lambda: sjac(lambda z: broyden(np.moveaxis(z, 0, -1)).T, x), 1)
            rows.append(("scipy.differentiate.jacobian", t, _err(r.df, JT), ""))
    except ImportError:  # pragma: no cover
        pass
    if sp is not None:
        m = 100_000
        xt = np.random.default_rng(1).uniform(-1, 1, m)

        def tri(z: np.ndarray) -> np.ndarray:
            out = z**3
            out[..., 1:] += z[..., :-1]
            out[..., :-1] -= 2 * z[..., 1:]
            return out

        tpat = sp.diags([np.ones(m - 1), np.ones(m), np.ones(m - 1)], [-1, 0, 1]).tocsr()
        tplan = nnnum.jacobian_plan(tpat)
        t, J = best(lambda: nnnum.numerical_jacobian(tri, xt, sparsity=tplan, batched=True), 5)
        rows.append(
            (
                f"Jacobian sparse tridiagonal n = {m}",
                t,
                float(np.abs(J.diagonal() - 3 * xt**2).max()),
                "",
            )
        )
    return rows


def hessians(slow: bool) -> list[Row]:
    rows: list[Row] = []
    xr = np.random.default_rng(2).uniform(0, 1.2, 100)
    from scipy.optimize import rosen_hess

    xe = np.random.default_rng(4).uniform(-1, 1, 100)
    for fname, fn, xx, HT in (
        ("Rosenbrock", rosen, xr, rosen_hess(xr)),
        ("sum exp(sin(x_i) x_i+1)", expsin, xe, expsin_hess(xe)),
    ):
        for label, kw in (
            ("central", {}),
            ("central richardson=1", dict(richardson=1)),
            ("central richardson=2", dict(richardson=2)),
            ("complex", dict(method="complex")),
            ("complex richardson=1", dict(method="complex", richardson=1)),
        ):
            t, H = best(lambda kw=kw: nnnum.numerical_hessian(fn, xx, batched=True, **kw), 3)
            rows.append((f"Hessian {fname} n=100 {label}", t, _err(H, HT), ""))
        if slow:
            try:
                import numdifftools as nd

                t, H = best(lambda fn=fn, xx=xx: nd.Hessian(fn)(xx), 1)
                rows.append((f"numdifftools Hessian {fname}", t, _err(H, HT), ""))
            except ImportError:  # pragma: no cover
                pass
    return rows


def estimate_check() -> list[Row]:
    """The share of elements whose estimate bounds the true error (or is flagged), over a set."""
    rng = np.random.default_rng(5)
    n = 40
    sh = np.roll(np.arange(n), 1)
    jac_set: list[Callable[[np.ndarray], Any]] = [
        lambda x: np.exp(np.sin(x) * x[sh]),
        lambda x: np.log1p(x**2) * np.cos(x[sh]),
        lambda x: np.tanh(3 * x) + x[sh] ** 3,
    ]
    within, ratios = [], []
    for fn in jac_set:
        for _ in range(5):
            x = rng.uniform(-1.5, 1.5, n)
            # the analytic Jacobian by the complex step (exact to rounding on these f)
            true = nnnum.numerical_jacobian(fn, x, method="complex")
            for kw in (dict(richardson=1), dict(richardson=2), dict(order=4, richardson=1)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = nnnum.numerical_jacobian(fn, x, h="auto", full_output=True, **kw)
                err = np.abs(r.df - true)
                within.append(((err <= r.error) | (r.status != 0)).reshape(-1))
                big = err > 1e-14
                ratios.append((r.error[big] / err[big]).reshape(-1))
    jw, jr = np.concatenate(within), np.concatenate(ratios)
    hw, hr = [], []
    from scipy.optimize import rosen_hess

    for fn, hess in ((expsin, expsin_hess), (rosen, rosen_hess)):
        for _ in range(5):
            x = rng.uniform(-1, 1, 30)
            true = hess(x)
            for kw in (
                dict(richardson=1),
                dict(richardson=2),
                dict(method="complex", richardson=1),
            ):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    r = nnnum.numerical_hessian(fn, x, full_output=True, **kw)
                err = np.abs(r.df - true)
                hw.append(((err <= r.error) | (r.status != 0)).reshape(-1))
                big = err > 1e-14
                hr.append((r.error[big] / err[big]).reshape(-1))
    hw_, hr_ = np.concatenate(hw), np.concatenate(hr)
    return [
        (
            "estimate bounds the Jacobian's error (share)",
            0.0,
            0.0,
            f"{jw.mean():.4f} of {jw.size}, median est/true {np.median(jr):.3g}",
        ),
        (
            "estimate bounds the Hessian's error (share)",
            0.0,
            0.0,
            f"{hw_.mean():.4f} of {hw_.size}, median est/true {np.median(hr_):.3g}",
        ),
    ]


def check_grad_stats(cases: int) -> list[Row]:
    """False failures over ``cases`` random correct gradients; the catch rate of one bad element."""
    rng = np.random.default_rng(6)
    fams = (
        (lambda x: np.sum(np.sin(x) * x), lambda x: np.sin(x) + x * np.cos(x)),
        (lambda x: np.sum(np.exp(0.5 * x)), lambda x: 0.5 * np.exp(0.5 * x)),
        (lambda x: np.sum(x**3 - x), lambda x: 3 * x**2 - 1),
        (lambda x: np.log(np.sum(x**2) + 1.0), lambda x: 2 * x / (np.sum(x**2) + 1.0)),
    )
    fails = 0
    t0 = time.perf_counter()
    for c in range(cases):
        fi, gi = fams[c % len(fams)]
        n = int(rng.integers(1, 40))
        dtype = (np.float64, np.float32)[c % 2]
        scale = 10.0 ** rng.uniform(-8, 8)
        x = rng.uniform(-2, 2, n).astype(dtype)
        mode = ("full", "random")[(c // 2) % 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = nnnum.check_grad(
                lambda z, fi=fi, s=scale: s * fi(z),
                lambda z, gi=gi, s=scale: s * gi(z),
                x,
                mode=mode,
                seed=c,
            )
        fails += not r.passed
    t_cases = time.perf_counter() - t0
    seeds = max(100, cases // 100)
    caught = named = 0
    f0, g0 = fams[0]
    for s in range(seeds):
        n = int(np.random.default_rng(s).integers(100, 10_001))
        x = np.random.default_rng(s + 1).normal(size=n)
        bad_i = int(np.random.default_rng(s + 2).integers(n))
        mask = np.arange(n) == bad_i
        r = nnnum.check_grad(f0, lambda z, m=mask: g0(z) * (1 + 1e-4 * m), x, mode="random", seed=s)
        caught += not r.passed
        named += (not r.passed) and r.worst[0].index == (bad_i,)
    return [
        (f"check_grad false failures over {cases} correct cases", t_cases, 0.0, f"{fails} failed"),
        (
            f"check_grad random mode, 1e-4 in one element, {seeds} seeds",
            0.0,
            0.0,
            f"caught {caught / seeds:.1%}, named {named / seeds:.1%}",
        ),
    ]


def check_grad_time() -> list[Row]:
    xg = np.random.default_rng(3).normal(size=10_000)
    t, r = best(
        lambda: nnnum.check_grad(
            lambda z: np.sum(np.sin(z) * z), lambda z: np.sin(z) + z * np.cos(z), xg, mode="random"
        ),
        3,
    )
    return [("check_grad random k=8, n = 10^4", t, 0.0, f"passed={r.passed}, {r.nfev} evaluations")]


def measure(quick: bool = False, n: int = 1000, cases: int = 10_000) -> list[Row]:
    """Every row: (name, seconds (0: not a timing), max error, note)."""
    rows = jacobians(n, slow=not quick) + hessians(slow=not quick) + check_grad_time()
    if not quick:
        rows += estimate_check() + check_grad_stats(cases)
    return rows


def show(rows: list[Row]) -> None:
    for name, t, err, extra in rows:
        tt = f"{t * 1e3:10.3f} ms" if t else " " * 13
        ee = f"max err {err:9.2e}" if err else " " * 17
        print(f"{name:58s} {tt}   {ee}  {extra}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="skip the slow anchors and statistics")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--cases", type=int, default=10_000, help="check_grad's random correct cases")
    args = ap.parse_args(argv)
    print(f"Broyden banded n = m = {args.n}; Hessians n = 100")
    show(measure(args.quick, args.n, args.cases))


if __name__ == "__main__":
    main()
