"""Accuracy and speed of the differentiation engine, side by side with numdifftools and SciPy.

    python -m benchmarks.accuracy            # Rosenbrock n = 100, 1000, 10000 and the analytic set
    python -m benchmarks.accuracy --quick    # n = 100, 1000 only
    python -m benchmarks.accuracy --estimates  # the error estimates only, with the hostile set

For each test function: the max error against the analytic gradient, the
wall time (best of several runs, measured here, now) and the ratio of the
faster competitor's time to nnnum's. numdifftools' ``Gradient`` (Richardson
over many steps) and ``scipy.differentiate.jacobian`` (order 8 with
iterated step reduction) are run with their defaults. Then the quality of
nnnum's error estimate over the analytic set: the fraction of elements whose
true error it bounds, and the median ratio of estimate to true error; and
over a hostile set (oscillating f, large and tiny |x|, float32 or cancellation
inside f, noise, aliasing) the share bounded, the share flagged by
``status`` and the elements unflagged yet under-estimated by more than 10x.
"""

from __future__ import annotations

import argparse
import importlib
import time
from collections.abc import Callable
from typing import Any

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


def _finish(f: Callable[[np.ndarray], Any], x: np.ndarray, scalar: bool, **opts: Any) -> Any:
    """The finish with its ``status``, driven as numerical_gradient (scalar f) or numerical_diff.

    Until nnnum.diff.api passes ``Outcome.status`` on to ``DiffResult``, the
    status is read here from the finish itself, with the same evaluations.
    """
    from nnnum.diff.finish import differentiate
    from nnnum.diff.options import check_options as _options

    x = np.atleast_1d(np.asarray(x, dtype=np.float64))
    hv, st, levels, _ = _options(
        opts.get("h"), opts.get("order", 2), opts.get("method", "central"), opts["richardson"]
    )

    def evaluate(points: np.ndarray, labels: list[str]) -> np.ndarray:
        if not scalar:
            return np.stack([np.asarray(f(p), dtype=np.float64) for p in points])
        out = np.empty(points.shape)
        for r in range(points.shape[0]):
            for i in range(points.shape[1]):
                xc = x.copy()
                xc[i] = points[r, i]
                out[r, i] = f(xc)
        return out

    return differentiate(x, x.shape, hv, st, levels, evaluate, lambda: np.asarray(f(x), float))


def hostile_set() -> list[tuple[str, Callable[[], Any], np.ndarray]]:
    """(name, run, true derivative): the cases of the issue on estimates that did not bound."""
    x = np.linspace(-2, 2, 2001)
    xs = np.random.default_rng(1).uniform(0.5, 3.0, 50)
    big = np.random.default_rng(2).uniform(1e3, 1e9, 50)
    tiny = np.random.default_rng(3).uniform(1e-8, 1e-6, 50)
    noise = np.random.default_rng(4)
    x32 = np.random.default_rng(5).uniform(0.5, 3.0, 50).astype(np.float32)
    return [
        (
            "sin(20x), order 4 + R1",
            lambda: _finish(lambda v: np.sin(20 * v), x, False, order=4, richardson=1),
            20 * np.cos(20 * x),
        ),
        (
            "sin(5x), order 4 + R1",
            lambda: _finish(lambda v: np.sin(5 * v), x, False, order=4, richardson=1),
            5 * np.cos(5 * x),
        ),
        (
            "x^3 - 2x, order 6 + R1",
            lambda: _finish(lambda v: v**3 - 2 * v, x, False, order=6, richardson=1),
            3 * x**2 - 2,
        ),
        (
            "sin, |x| 1e3..1e9, auto + R1",
            lambda: _finish(np.sin, big, False, h="auto", richardson=1),
            np.cos(big),
        ),
        (
            "sin, |x| 1e3..1e9, auto, order 8 + R1",
            lambda: _finish(np.sin, big, False, h="auto", order=8, richardson=1),
            np.cos(big),
        ),
        (
            "log, x 1e-8..1e-6, h=1e-10, order 4 + R1",
            lambda: _finish(np.log, tiny, False, h=1e-10, order=4, richardson=1),
            1 / tiny,
        ),
        (
            "sin(100x) at 2.5, auto, order 8 + R1",
            lambda: _finish(
                lambda v: np.sin(100 * v), np.array([2.5]), False, h="auto", order=8, richardson=1
            ),
            np.array([100 * np.cos(250.0)]),
        ),
        (
            "float32 inside f, gradient, R1",
            lambda: _finish(
                lambda v: float(np.sum(np.exp(v.astype(np.float32)))) + 0.1, xs, True, richardson=1
            ),
            np.exp(xs),
        ),
        (
            "(1e8 + x) - 1e8, R1",
            lambda: _finish(lambda v: (1e8 + v) - 1e8, x, False, richardson=1),
            np.ones_like(x),
        ),
        (
            "sin + 1e-9 noise, R1",
            lambda: _finish(
                lambda v: np.sin(v) + 1e-9 * noise.standard_normal(v.shape), x, False, richardson=1
            ),
            np.cos(x),
        ),
        (
            "sum sin + 1e-9 noise, gradient, order 4 + R1",
            lambda: _finish(
                lambda v: float(np.sum(np.sin(v))) + 1e-9 * noise.standard_normal(),
                xs,
                True,
                order=4,
                richardson=1,
            ),
            np.cos(xs),
        ),
        (
            "f computed and returned in float32, gradient, auto, order 4 + R1",
            lambda: _finish(
                lambda v: float(np.sum(np.exp(v.astype(np.float32)))),
                x32.astype(np.float64),
                True,
                h="auto",
                order=4,
                richardson=1,
            ),
            np.exp(x32.astype(np.float64)),
        ),
    ]


def _public(run: Callable[[], Any]) -> Callable[[], Any]:
    """``run`` through the public functions, their EstimateWarning kept out of the report."""

    def call() -> Any:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nnnum.EstimateWarning)
            r = run()
        return r

    return call


def one_sided_set() -> list[tuple[str, Callable[[], Any], np.ndarray]]:
    """(name, run, true derivative): one-sided stencils and large steps, where the table's jump
    can vanish by a coincidence of two terms (forward order 2 at ``pi/2``) or the step does not
    resolve ``f`` at a lone element; every one-sided order 1-6 with Richardson 1-3 over grids
    of ``x`` and ``h`` for sin, tanh and exp; float32 and rounding inside ``f``."""
    diff, grad = nnnum.numerical_diff, nnnum.numerical_gradient
    g = np.linspace(-3, 3, 301)
    xs = np.random.default_rng(0).random(50)
    out: list[tuple[str, Callable[[], Any], np.ndarray]] = [
        (
            "sin at 1.562, h=0.01, forward + R1",
            _public(
                lambda: diff(
                    np.sin, 1.562, h=0.01, method="forward", richardson=1, full_output=True
                )
            ),
            np.array(np.cos(1.562)),
        ),
        (
            "sin at 0.15, h=0.2, backward + R3",
            _public(
                lambda: diff(np.sin, 0.15, h=0.2, method="backward", richardson=3, full_output=True)
            ),
            np.array(np.cos(0.15)),
        ),
        (
            "sin(20x) at 0.3, h=0.5, central + R1 (a lone element)",
            _public(
                lambda: diff(lambda v: np.sin(20 * v), 0.3, h=0.5, richardson=1, full_output=True)
            ),
            np.array(20 * np.cos(6.0)),
        ),
        (
            "float32 inside f, gradient, forward + R1",
            _public(
                lambda: grad(
                    lambda v: float(np.sum(np.exp(v.astype(np.float32)))) + 0.1,
                    xs,
                    method="forward",
                    richardson=1,
                    full_output=True,
                )
            ),
            np.exp(xs),
        ),
        (
            "round(x^2, 6) inside f, gradient, forward + R1",
            _public(
                lambda: grad(
                    lambda v: float(np.sum(np.round(v**2, 6))),
                    xs,
                    method="forward",
                    richardson=1,
                    full_output=True,
                )
            ),
            2 * xs,
        ),
        (
            "round(x^2, 6), elementwise, backward + R2",
            _public(
                lambda: diff(
                    lambda v: np.round(v**2, 6),
                    xs,
                    method="backward",
                    richardson=2,
                    full_output=True,
                )
            ),
            2 * xs,
        ),
        (
            "sin(100x) on [0, 3], auto, forward order 3 + R2",
            _public(
                lambda: diff(
                    lambda v: np.sin(100 * v),
                    np.linspace(0, 3, 301),
                    h="auto",
                    method="forward",
                    order=3,
                    richardson=2,
                    full_output=True,
                )
            ),
            100 * np.cos(100 * np.linspace(0, 3, 301)),
        ),
    ]
    fns = {
        "sin": (np.sin, np.cos),
        "tanh": (np.tanh, lambda v: 1 / np.cosh(v) ** 2),
        "exp": (np.exp, np.exp),
    }
    for name, (f, d) in fns.items():
        for method in ("forward", "backward"):
            for order in range(1, 7):
                for rich in (1, 2, 3):
                    for h in (0.01, 0.05, 0.1, 0.2, 0.5):
                        out.append(
                            (
                                f"grid: {name}, {method}, order {order} + R{rich}, h={h}",
                                _public(
                                    lambda f=f, m=method, o=order, r=rich, h=h: diff(
                                        f,
                                        g,
                                        h=h,
                                        method=m,
                                        order=o,
                                        richardson=r,
                                        full_output=True,
                                    )
                                ),
                                d(g),
                            )
                        )
    return out


def hostile_quality() -> None:
    print("\n### Error estimates over the hostile set (full_output status)\n")
    print("| case | bounded | flagged | unflagged, under by >10x | median estimate / true error |")
    print("|---|---|---|---|---|")
    bounded, hidden, ratios, flagged = [], [], [], []
    grid: dict[str, list[np.ndarray]] = {}
    for name, run, true in hostile_set() + one_sided_set():
        out = run()
        e = np.atleast_1d(np.abs(np.asarray(out.df) - true))
        err, status = np.atleast_1d(out.error), np.atleast_1d(out.status)
        b = e <= err
        h = (status == 0) & (e > 10 * err)
        ok = e > 0
        med = float(np.median(err[ok] / e[ok])) if ok.any() else float("nan")
        bounded.append(b)
        hidden.append(h)
        flagged.append(status != 0)
        ratios.append(err[ok] / e[ok])
        if name.startswith("grid: "):  # one row per function and side, below
            key = name[6:].split(", order")[0]
            grid.setdefault(key, []).append(np.stack([b, status != 0, h]))
            continue
        print(f"| {name} | {b.mean():.1%} | {np.mean(status != 0):.1%} | {h.sum()} | {med:.3g} |")
    for key, parts in grid.items():
        b, fl, h = np.concatenate(parts, axis=1)
        print(
            f"| grid: {key}, orders 1-6 + R1-3, h 0.01-0.5 ({b.size} elements) | {b.mean():.1%} "
            f"| {fl.mean():.1%} | {int(h.sum())} | - |"
        )
    b, h, fl = np.concatenate(bounded), np.concatenate(hidden), np.concatenate(flagged)
    print(
        f"| all ({b.size} elements) | {b.mean():.1%} | {fl.mean():.1%} | {h.sum()} | "
        f"{np.median(np.concatenate(ratios)):.3g} |"
    )
    print(f"\nbounded or flagged: {np.mean(b | fl):.2%} of {b.size} elements")


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
    parser.add_argument(
        "--estimates", action="store_true", help="the error estimates only (no timings)"
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.estimates:
        estimate_quality()
        hostile_quality()
        return 0
    rosenbrock_rows([100, 1000] if args.quick else [100, 1000, 10_000])
    estimate_quality()
    hostile_quality()
    default_is_unchanged()
    print(f"\n(total {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
