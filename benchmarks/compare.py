"""Side-by-side comparison: nnnum against what a user would pick instead, in one run.

    python -m benchmarks.compare            # full run (~2 minutes on 2 cores)
    python -m benchmarks.compare --quick    # smaller sizes

Every figure is measured here, now, against a reference timed in the same
process; ratios are ``reference time / nnnum time``. Optional packages (SciPy,
numdifftools) are skipped with a note when missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

import nnnum

from .common import (
    Table,
    best_time,
    book_net_gradient_sampled,
    book_numerical_gradient,
    book_softmax_cross_entropy,
    dense_batch,
    logits,
    max_threads,
    mnist_batch,
    rosenbrock_grad,
    rosenbrock_jit,
    rosenbrock_np,
    threads,
)


def optional(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        print(f"note: {name} is not installed; its rows are skipped (pip install nnnum[bench])")
        return None


def ms(t: float) -> str:
    return f"{t * 1e3:.3g} ms" if t < 10 else f"{t:.3g} s"


def gradients(sizes: list[int]) -> None:
    scipy_opt = optional("scipy.optimize")
    nd = optional("numdifftools")
    tab = Table(
        "Numerical gradient of the n-dimensional Rosenbrock function",
        ["n", "method", "time", "ratio vs nnnum (jitted f)", "max abs error vs analytic"],
    )
    for n in sizes:
        x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
        exact = rosenbrock_grad(x)
        nnnum.numerical_gradient(rosenbrock_jit, x)
        rows: list[tuple[str, Callable[[], np.ndarray], int]] = [
            (
                "nnnum, jitted f (prange kernel)",
                lambda: nnnum.numerical_gradient(rosenbrock_jit, x),
                5,
            ),
            (
                "nnnum, jitted f, order 8, h='auto'",
                lambda: nnnum.numerical_gradient(rosenbrock_jit, x, order=8, h="auto"),
                3,
            ),
            (
                "nnnum, jitted f, complex step",
                lambda: nnnum.numerical_gradient(rosenbrock_jit, x, method="complex"),
                3,
            ),
            ("nnnum, NumPy f (Python loop)", lambda: nnnum.numerical_gradient(rosenbrock_np, x), 2),
            (
                "book-style loop, NumPy f",
                lambda: book_numerical_gradient(rosenbrock_np, x.copy()),
                2,
            ),
        ]
        if scipy_opt is not None:
            rows.append(
                (
                    "scipy.optimize.approx_fprime (forward diff.)",
                    lambda: scipy_opt.approx_fprime(x, rosenbrock_np),
                    2,
                )
            )
        if nd is not None and n <= 1000:
            rows.append(
                ("numdifftools.Gradient (Richardson)", lambda: nd.Gradient(rosenbrock_np)(x), 1)
            )
        base = None
        for name, fn, rep in rows:
            t = best_time(fn, repeat=rep)
            base = base or t
            err = float(np.abs(fn() - exact).max())
            tab.add(str(n), name, ms(t), f"{t / base:.3g}", err)
    tab.show()

    if max_threads() >= 2:
        sc = Table(
            "Thread scaling of the jitted prange kernel", ["n", "1 thread", "2 threads", "speed-up"]
        )
        for n in sizes:
            x = np.random.default_rng(0).uniform(-1.5, 1.5, n)
            with threads(1):
                t1 = best_time(lambda: nnnum.numerical_gradient(rosenbrock_jit, x), repeat=5)
            with threads(2):
                t2 = best_time(lambda: nnnum.numerical_gradient(rosenbrock_jit, x), repeat=5)
            sc.add(str(n), ms(t1), ms(t2), f"{t1 / t2:.2f}x")
        sc.show()


def losses(rows_n: int) -> None:
    special = optional("scipy.special")
    z, t = logits(rows_n)
    ref = nnnum.softmax_cross_entropy(z, t)
    tab = Table(
        f"Softmax cross-entropy on {rows_n:,} x 10 float64 logits",
        ["method", "time", "ratio vs nnnum fused", "|loss - nnnum|"],
    )
    rows: list[tuple[str, Callable[[], Any]]] = [
        ("nnnum.softmax_cross_entropy (fused, numba)", lambda: nnnum.softmax_cross_entropy(z, t)),
        ("np.sum over the same array (memory floor)", lambda: np.sum(z)),
        ("book: softmax, then cross_entropy_error", lambda: book_softmax_cross_entropy(z, t)),
    ]
    with nnnum.use_backend("numpy"):
        nnnum.softmax_cross_entropy(z[:10], t[:10])
    rows.append(
        ("nnnum numpy backend", lambda: _with_numpy(lambda: nnnum.softmax_cross_entropy(z, t)))
    )
    if special is not None:
        rows.append(
            (
                "scipy.special.log_softmax, then pick",
                lambda: -special.log_softmax(z, axis=1)[np.arange(len(t)), t].mean(),
            )
        )
    base = None
    for name, fn in rows:
        tm = best_time(fn, repeat=5)
        base = base or tm
        val = fn()
        diff = "-" if "floor" in name else f"{abs(float(val) - float(ref)):.1e}"
        tab.add(name, ms(tm), f"{tm / base:.3g}", diff)
    tab.show()
    print("\n(the book's loss adds delta = 1e-7 inside the log, hence its difference)")


def _with_numpy(fn: Callable[[], Any]) -> Any:
    with nnnum.use_backend("numpy"):
        return fn()


def network(samples: int) -> None:
    tab = Table(
        "TwoLayerNet(784, 50, 10) numerical gradient, batch 100",
        ["inputs", "method", "time", "ratio vs structured"],
    )
    cases = [("dense random", *dense_batch())]
    xm, tm_, src = mnist_batch()
    cases.append((src, xm, tm_))
    for label, x, t in cases:
        net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        net.numerical_gradient(x, t)
        ts = best_time(lambda: net.numerical_gradient(x, t), repeat=5)
        tb = book_net_gradient_sampled(net, x, t, samples=samples)
        tbp = best_time(lambda: net.gradient(x, t), repeat=10)
        tab.add(label, "nnnum structured (numba)", ms(ts), "1")
        tab.add(
            label,
            f"book loop (timed on {samples} sampled params, scaled to 39,760)",
            ms(tb),
            f"{tb / ts:.0f}",
        )
        tab.add(label, "backprop (for reference)", ms(tbp), f"{tbp / ts:.2g}")
    tab.show()


def training(iters: int) -> None:
    x, t, src = mnist_batch(2000)
    tab = Table(
        f"Training iteration, TwoLayerNet(784, 50, 10), batch 100, {src}",
        ["gradient", "ms / iteration", "ratio vs backprop"],
    )
    res = {}
    for g in ("backprop", "numerical"):
        net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
        nnnum.train(net, x, t, iters=3, gradient=g, progress=False)
        hist = nnnum.train(net, x, t, iters=iters, gradient=g, progress=False)
        res[g] = hist.seconds / iters
    for g in ("backprop", "numerical"):
        tab.add(g, f"{res[g] * 1e3:.2f}", f"{res[g] / res['backprop']:.2f}")
    tab.show()


def machine_rows() -> list[tuple[str, str]]:
    """CPU model, vector extensions, Numba's target (asv imports this module at old commits too)."""
    try:
        from nnnum._core.cpuinfo import info_rows
    except ImportError:  # pragma: no cover - commits before nnnum._core.cpuinfo
        return []
    return info_rows()


def layer() -> str:
    try:
        from nnnum._core.cpuinfo import threading_layer
    except ImportError:  # pragma: no cover
        import numba

        return str(numba.threading_layer())
    return threading_layer()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument(
        "--only",
        choices=["book"],
        help="one section: 'book' = the chapter's examples against book-style code",
    )
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    print(f"nnnum {nnnum.__version__}, backend {nnnum.get_backend()}, {max_threads()} threads")
    for key, value in machine_rows():  # where every figure below was measured
        print(f"{key}: {value}")
    if args.only == "book":
        from .book import show

        show(rounds=3 if args.quick else 7, train_iters=20 if args.quick else 200)
    elif args.quick:
        gradients([100])
        losses(100_000)
        network(samples=50)
        training(iters=20)
    else:
        gradients([100, 1_000, 10_000])
        losses(1_000_000)
        network(samples=400)
        training(iters=200)
    if args.only is None:
        from .derivatives import measure
        from .derivatives import show as show_derivatives

        print("\nJacobian, Hessian, check_grad (python -m benchmarks.derivatives)")
        show_derivatives(measure(quick=args.quick))
        from .book import show

        show(rounds=3 if args.quick else 7, train_iters=20 if args.quick else 200)
    print(f"\nthreading layer: {layer()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
