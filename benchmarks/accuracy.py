"""Accuracy and speed of the differentiation engine, side by side with numdifftools and SciPy.

    python -m benchmarks.accuracy            # Rosenbrock n = 100, 1000, 10000 and the analytic set
    python -m benchmarks.accuracy --quick    # n = 100, 1000 only

For each test function: the max error against the analytic gradient, the
wall time (best of several runs, measured here, now) and the ratio of the
faster competitor's time to nnnum's. numdifftools' ``Gradient`` (Richardson
over many steps) and ``scipy.differentiate.jacobian`` (order 8 with
iterated step reduction) are run with their defaults. Then the quality of
nnnum's error estimate over the analytic set: the fraction of elements whose
true error it bounds, and the median ratio of estimate to true error.
"""

from __future__ import annotations

import argparse
import importlib
import time
from typing import Any, Callable

import numpy as np

import nnnum

from .common import best_time, rosenbrock_grad, rosenbrock_jit, rosenbrock_np


def _optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"note: {name} is not installed; its columns are skipped (pip install nnnum[bench])")
        return None


def _rosen_vec(x: np.ndarray) -> np.ndarray:
    """Rosenbrock over the first axis, vectorised over the others (scipy.differentiate's form)."""
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2, axis=0)


#: nnnum configurations: the book's default, a higher-order stencil, extrapolation.
CONFIGS: dict[str, dict[str, Any]] = {
    "default (order 2, h=1e-4)": {},
    "order 8, h=auto": {"order": 8, "h": "auto"},
    "order 4 + Richardson 1, h=auto": {"order": 4, "richardson": 1, "h": "auto"},
    "order 4, h=2**-5": {"order": 4, "h": 2.0**-5},
    "complex step": {"method": "complex"},
}


def _rosen_rows(X: np.ndarray) -> np.ndarray:
    """Rosenbrock of each row of ``X`` (nnnum's batched form), complex-safe (no ``**``)."""
    a = X[:, 1:] - X[:, :-1] * X[:, :-1]
    b = 1.0 - X[:, :-1]
    return np.sum(100.0 * a * a + b * b, axis=1)


#: nnnum with a NumPy f vectorised over a batch of perturbed copies (batched=True).
BATCHED: dict[str, dict[str, Any]] = {
    "batched, order 4, h=2**-5": {"order": 4, "h": 2.0**-5},
    "batched, complex step": {"method": "complex"},
}


def rosenbrock_rows(sizes: list[int]) -> None:
    nd = _optional("numdifftools")
    sd = _optional("scipy.differentiate")
    print("\n### Rosenbrock, x ~ U(-1.5, 1.5) (seed 0), max |error| and time\n")
    print("| n | method | f | time (ms) | max error | faster competitor / nnnum |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
        g = rosenbrock_grad(x)
        ref_t = float("inf")
        rows: list[tuple[str, str, float, float]] = []
        if nd is not None and n <= 1000:
            grad = nd.Gradient(rosenbrock_np)
            t = best_time(lambda: grad(x), repeat=2)
            rows.append(("numdifftools Gradient (defaults)", "NumPy", t, _err(grad(x), g)))
            ref_t = min(ref_t, t)
        if sd is not None and n <= 1000:
            t = best_time(lambda: sd.jacobian(_rosen_vec, x), repeat=2)
            rows.append(
                (
                    "scipy.differentiate.jacobian",
                    "NumPy (vectorised)",
                    t,
                    _err(sd.jacobian(_rosen_vec, x).df, g),
                )
            )
            ref_t = min(ref_t, t)
        for name, opts in CONFIGS.items():
            t = best_time(lambda: nnnum.numerical_gradient(rosenbrock_jit, x, **opts), repeat=7)
            err = _err(nnnum.numerical_gradient(rosenbrock_jit, x, **opts), g)
            rows.append((f"nnnum {name}", "jitted", t, err))
            if n <= 1000 and opts.get("method") != "complex":  # rosenbrock_np calls float()
                t_np = best_time(
                    lambda: nnnum.numerical_gradient(rosenbrock_np, x, **opts), repeat=2
                )
                rows.append((f"nnnum {name}", "NumPy", t_np, err))
        for name, opts in BATCHED.items():
            if n > 1000:
                break
            run = lambda: nnnum.numerical_gradient(_rosen_rows, x, batched=True, **opts)  # noqa: E731
            rows.append(
                (f"nnnum {name}", "NumPy (vectorised)", best_time(run, repeat=3), _err(run(), g))
            )
        for name, kind, t, err in rows:
            ratio = f"{ref_t / t:.0f}x" if name.startswith("nnnum") and np.isfinite(ref_t) else "-"
            print(f"| {n} | {name} | {kind} | {1e3 * t:.3g} | {err:.2g} | {ratio} |")


def _err(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.max(np.abs(np.asarray(got, dtype=np.float64) - want)))


def analytic_set() -> list[tuple[str, Callable[[np.ndarray], float], np.ndarray, np.ndarray]]:
    """(name, f, x, true gradient): the classic pairs, float64 and float32."""
    rng = np.random.default_rng(7)
    out = []
    for dtype in (np.float64, np.float32):
        tag = np.dtype(dtype).name
        x = rng.uniform(0.5, 3.0, 200).astype(dtype)
        xf = x.astype(np.float64)
        out += [
            (f"exp {tag}", lambda v: float(np.sum(np.exp(v.astype(np.float64)))), x, np.exp(xf)),
            (f"log {tag}", lambda v: float(np.sum(np.log(v.astype(np.float64)))), x, 1 / xf),
            (
                f"sin(3x) {tag}",
                lambda v: float(np.sum(np.sin(3 * v.astype(np.float64)))),
                x,
                3 * np.cos(3 * xf),
            ),
        ]
        big = rng.uniform(1e3, 1e4, 100).astype(dtype)
        bf = big.astype(np.float64)
        out.append(
            (
                f"x^2 sin(x/1e3), |x| ~ 1e3..1e4 {tag}",
                lambda v: float(
                    np.sum(v.astype(np.float64) ** 2 * np.sin(v.astype(np.float64) / 1e3))
                ),
                big,
                2 * bf * np.sin(bf / 1e3) + bf**2 * np.cos(bf / 1e3) / 1e3,
            )
        )
        scale = np.logspace(-3, 3, 100)
        xs = rng.uniform(-1, 1, 100).astype(dtype)
        out.append(
            (
                f"badly scaled sum {tag}",
                lambda v, s=scale: float(np.sum(s * np.cos(v.astype(np.float64)))),
                xs,
                -scale * np.sin(xs.astype(np.float64)),
            )
        )
    near = rng.uniform(0.05, 0.1, 100)
    out.append(("1/x near its pole float64", lambda v: float(np.sum(1 / v)), near, -1 / near**2))
    return out


def complex_set() -> list[tuple[str, Callable[[np.ndarray], Any], np.ndarray, np.ndarray]]:
    """The analytic set written for a complex ``x``: the same functions, computed in complex128.

    As :func:`analytic_set` computes each ``f`` in float64 whatever ``x``'s
    dtype (float() of a float64 sum), these cast ``x`` to complex128: the
    comparison is of the methods, not of float32 arithmetic inside ``f``.
    """
    rng = np.random.default_rng(7)
    out: list[tuple[str, Callable[[np.ndarray], Any], np.ndarray, np.ndarray]] = []

    def c(v: np.ndarray) -> np.ndarray:
        return v.astype(np.complex128)

    for dtype in (np.float64, np.float32):
        tag = np.dtype(dtype).name
        x = rng.uniform(0.5, 3.0, 200).astype(dtype)
        xf = x.astype(np.float64)
        big = rng.uniform(1e3, 1e4, 100).astype(dtype)
        bf = big.astype(np.float64)
        scale = np.logspace(-3, 3, 100)
        xs = rng.uniform(-1, 1, 100).astype(dtype)
        out += [
            (f"exp {tag}", lambda v: np.sum(np.exp(c(v))), x, np.exp(xf)),
            (f"log {tag}", lambda v: np.sum(np.log(c(v))), x, 1 / xf),
            (f"sin(3x) {tag}", lambda v: np.sum(np.sin(3 * c(v))), x, 3 * np.cos(3 * xf)),
            (
                f"x^2 sin(x/1e3) {tag}",
                lambda v: np.sum(c(v) * c(v) * np.sin(c(v) / 1e3)),
                big,
                2 * bf * np.sin(bf / 1e3) + bf**2 * np.cos(bf / 1e3) / 1e3,
            ),
            (
                f"badly scaled sum {tag}",
                lambda v, s=scale: np.sum(s * np.cos(c(v))),
                xs,
                -scale * np.sin(xs.astype(np.float64)),
            ),
        ]
    near = rng.uniform(0.05, 0.1, 100)
    out.append(("1/x near its pole float64", lambda v: np.sum(1 / v), near, -1 / near**2))
    return out


def estimate_quality() -> None:
    print("\n### Error estimates (h='auto', full_output=True) over the analytic set\n")
    print("| options | max error | bounded by the estimate | median estimate / true error |")
    print("|---|---|---|---|")
    for opts in (
        {"order": 2, "richardson": 2},
        {"order": 4, "richardson": 1},
        {"order": 4, "richardson": 2},
    ):
        errs, ests = [], []
        for _name, f, x, true in analytic_set():
            r = nnnum.numerical_gradient(f, x, h="auto", full_output=True, **opts)
            errs.append(np.abs(r.df.astype(np.float64) - true))
            ests.append(r.error)
        e, est = np.concatenate(errs), np.concatenate(ests)
        ok = e > 0
        print(
            f"| {opts} | {e.max():.2g} | {np.mean(e <= est):.1%} | "
            f"{np.median(est[ok] / e[ok]):.1f} |"
        )
    errs, ests, rel = [], [], []
    for _name, f, x, true in complex_set():
        r = nnnum.numerical_gradient(f, x, method="complex", full_output=True)
        e = np.abs(r.df.astype(np.float64) - true)
        errs.append(e)
        ests.append(r.error)
        rel.append(e / np.abs(true))
    e, est = np.concatenate(errs), np.concatenate(ests)
    ok = e > 0
    print(
        f"| method='complex' (its own set, written for complex x) | {e.max():.2g} "
        f"(relative {np.concatenate(rel).max():.2g}) | {np.mean(e <= est):.1%} | "
        f"{np.median(est[ok] / e[ok]):.1f} |"
    )
    print("\n### Per function (order 4 + Richardson 1, h='auto')\n")
    print("| function | max error | bounded |")
    print("|---|---|---|")
    for name, f, x, true in analytic_set():
        r = nnnum.numerical_gradient(f, x, h="auto", order=4, richardson=1, full_output=True)
        e = np.abs(r.df.astype(np.float64) - true)
        print(f"| {name} | {e.max():.2g} | {np.mean(e <= r.error):.0%} |")


def default_is_unchanged() -> None:
    """The default call against the book's formula: bit for bit, and its speed."""
    x = np.random.default_rng(0).uniform(-1.5, 1.5, 1000)
    got = nnnum.numerical_gradient(rosenbrock_jit, x)
    want = np.empty_like(x)
    for i in range(x.size):
        xp, xm = x.copy(), x.copy()
        xp[i] += 1e-4
        xm[i] -= 1e-4
        want[i] = (rosenbrock_jit(xp) - rosenbrock_jit(xm)) / (xp[i] - xm[i])
    same = np.array_equal(got, want)
    t = best_time(lambda: nnnum.numerical_gradient(rosenbrock_jit, x), repeat=15)
    print(
        f"\ndefault call, Rosenbrock n=1000, jitted f: bit-identical to the book's formula: "
        f"{same}; {1e3 * t:.3g} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="n = 100 and 1000 only")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    rosenbrock_rows([100, 1000] if args.quick else [100, 1000, 10_000])
    estimate_quality()
    default_is_unchanged()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
