"""Scale-out: numerical_gradient(..., workers=...) against the serial loop, Dask and SciPy.

    python -m benchmarks.scaleout            # everything (~3 minutes on 2 cores)
    python -m benchmarks.scaleout --quick    # fewer repeats, a smaller serial reference in (2)
    python -m benchmarks.scaleout --no-dask  # local pools only

(1) A CPU-bound ``f`` of about 20 ms (LAPACK solves on a fixed matrix: NumPy
    work that Numba cannot compile), ``n = 32`` (64 evaluations): serial vs 2
    local processes vs a 2-worker Dask ``LocalCluster``; then the overheads,
    measured with a trivial ``f``.
(2) Orchestration at scale: an I/O-like ``f`` that waits 0.2 s, ``n = 64``, 16
    Dask workers (single-thread processes; ``--dask-threads`` for one process
    of 16 threads).
(3) SciPy's own parallel finite differences on the same pool and ``f``:
    ``approx_derivative(f, x, method='3-point', workers=pool.map)`` against
    ``numerical_gradient(f, x, h='auto', workers=pool)``, same stencil, same
    evaluations, errors against the exact gradient.

BLAS runs single-threaded here (``OPENBLAS_NUM_THREADS=1`` etc. unless set),
in this process and in every worker, so that two processes get two cores.
Every figure is measured in this run; nothing is assumed.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before NumPy loads BLAS: here and in every worker

import argparse  # noqa: E402
import functools  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import nnnum  # noqa: E402
from nnnum.diff.engines.executors import Workers, mp_context  # noqa: E402

from .common import Table  # noqa: E402

_rng = np.random.default_rng(0)
_A = _rng.standard_normal((160, 160)) + 160 * np.eye(160)
_B = _rng.standard_normal((160, 8))


def cpu_f(w: np.ndarray, reps: int) -> float:
    """``sum(exp(w) cos(w))`` after ``reps`` LAPACK solves (the cost; constant in ``w``)."""
    s = 0.0
    for _ in range(reps):
        s += float(np.linalg.solve(_A, _B).sum())
    return float(np.sum(np.exp(w) * np.cos(w))) + 1e-12 * s


def cpu_grad(w: np.ndarray) -> np.ndarray:
    return np.exp(w) * (np.cos(w) - np.sin(w))


def trivial_f(w: np.ndarray) -> float:
    return float(np.dot(w, w))


def sleepy_f(w: np.ndarray) -> float:
    time.sleep(0.2)
    return float(np.sum(w**2))


def _spin(seconds: float) -> float:
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        pass
    return time.process_time() - c0


def cores_available(n: int = 2, seconds: float = 2.0) -> float:
    """CPU seconds per second that ``n`` spinning processes get now (others share the cores)."""
    with ProcessPoolExecutor(n, mp_context=mp_context()) as pool:
        list(pool.map(_spin, [0.05] * n))  # start the workers
        return sum(pool.map(_spin, [seconds] * n)) / seconds


def calibrate(target: float = 0.020) -> int:
    """Solves per call for ``target`` seconds (the fastest of 20 timings: robust to load)."""
    w = np.zeros(32)
    cpu_f(w, 10)
    per = min(timed(lambda: cpu_f(w, 10), 1) for _ in range(20)) / 10
    return max(1, round(target / per))


def timed(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def local_cluster(n: int, processes: bool = True) -> Any:
    from distributed import LocalCluster

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Port 8787 is already in use")
        if processes:
            return LocalCluster(
                n_workers=n,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            )
        return LocalCluster(
            n_workers=1, threads_per_worker=n, processes=False, dashboard_address=None
        )


def quiet_dask() -> None:
    import logging

    for name in ("distributed", "distributed.worker", "distributed.scheduler", "distributed.nanny"):
        logging.getLogger(name).setLevel(logging.ERROR)


def no_malloc_trim() -> None:
    """Keep Dask's nanny from setting ``MALLOC_TRIM_THRESHOLD_=65536`` (in this process too).

    Dask's default ``distributed.nanny.pre-spawn-environ`` sets it in the
    environment of the process that starts a ``LocalCluster``, where every
    process started later inherits it (nnnum's forkserver, so its pools): glibc
    then hands freed memory back to the OS at once, and an ``f`` whose LAPACK
    calls allocate temporaries ran 1.6x slower in every worker, local or Dask.
    This benchmark measures orchestration, not that setting (see SCALEOUT.md).
    """
    import dask

    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {})
    if env.pop("MALLOC_TRIM_THRESHOLD_", None) is not None:
        dask.config.set({"distributed.nanny.pre-spawn-environ": env})
        print("note: Dask's MALLOC_TRIM_THRESHOLD_=65536 left unset (see benchmarks/SCALEOUT.md)")


# --------------------------------------------------------------------- (1)
def interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, float]:
    """Best time of each, measured in turns (a shared machine's load hits all of them alike)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    return best


def section_cpu(args: argparse.Namespace, client: Any) -> None:
    reps = args.reps
    f = functools.partial(cpu_f, reps=reps)
    x = np.linspace(-1.0, 1.0, 32)
    t_f = timed(lambda: f(x), 5)
    evals = 2 * x.size
    rep = args.repeat or (2 if args.quick else 3)
    ref = nnnum.numerical_gradient(f, x)
    cores = cores_available()
    tab = Table(
        f"(1) CPU-bound f: {t_f * 1e3:.1f} ms per evaluation ({reps} LAPACK solves "
        f"160x160), n = {x.size}, {evals} evaluations; 2 cores, of which two busy processes "
        f"got {cores:.2f} just before",
        ["engine", "workers", "time (s)", "speedup", "overhead / evaluation (ms)"],
    )
    t_cold = timed(lambda: nnnum.numerical_gradient(f, x, workers=2, progress=False), 1)
    ctx = mp_context()
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        fns: dict[str, Callable[[], Any]] = {"serial loop": lambda: nnnum.numerical_gradient(f, x)}
        cases: dict[str, Any] = {
            "workers=2 (a pool per call)": 2,
            "workers=ProcessPoolExecutor(2), reused": pool,
        }
        if client is not None:
            cases["workers=Client(LocalCluster(2 x 1 thread))"] = client
        for name, w in cases.items():
            got = nnnum.numerical_gradient(f, x, workers=w, progress=False)  # warm
            assert np.array_equal(got, ref), name
            fns[name] = functools.partial(nnnum.numerical_gradient, f, x, workers=w, progress=False)
        best = interleaved(fns, rep)
    t_serial = best.pop("serial loop")
    tab.add("serial loop", "1", t_serial, "1.00", "-")

    def add(name: str, t: float) -> None:
        over = (t - t_serial / 2) / evals * 1e3
        tab.add(name, "2", t, f"{t_serial / t:.2f}", f"{over:.2f}")

    add("workers=2, first call (starts the forkserver)", t_cold)
    for name, t in best.items():
        add(name, t)
    tab.show()


def section_overhead(args: argparse.Namespace, client: Any) -> None:
    tab = Table(
        "(1b) Overheads, trivial f (np.dot(w, w), about 2 us): the cost model's terms",
        ["engine", "case", "time (s)", "per evaluation (us)", "per task (ms)"],
    )
    rep = args.repeat or (2 if args.quick else 3)
    x = np.linspace(-1.0, 1.0, 4000)
    evals = 2 * x.size
    t_serial = timed(lambda: nnnum.numerical_gradient(trivial_f, x), rep)
    tab.add("serial loop", f"n = {x.size}", t_serial, f"{t_serial / evals * 1e6:.1f}", "-")
    small = np.ones(2)
    t_start = timed(
        lambda: nnnum.numerical_gradient(trivial_f, small, workers=2, progress=False), rep
    )
    tab.add("workers=2", "n = 2: start + stop a pool", t_start, "-", "-")
    t = timed(lambda: nnnum.numerical_gradient(trivial_f, x, workers=2, progress=False), rep)
    tab.add(
        "workers=2", f"n = {x.size}, 8 tasks", t, f"{(t - t_serial / 2) / evals * 1e6:.1f}", "-"
    )
    ctx = mp_context()
    xt = np.linspace(-1.0, 1.0, 400)
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        nnnum.numerical_gradient(trivial_f, x, workers=pool, progress=False)
        t = timed(lambda: nnnum.numerical_gradient(trivial_f, x, workers=pool, progress=False), rep)
        tab.add(
            "ProcessPoolExecutor(2)",
            f"n = {x.size}, 8 tasks",
            t,
            f"{(t - t_serial / 2) / evals * 1e6:.1f}",
            "-",
        )
        w = Workers(pool, chunk=1)
        t = timed(lambda: nnnum.numerical_gradient(trivial_f, xt, workers=w, progress=False), rep)
        tab.add(
            "ProcessPoolExecutor(2)",
            f"n = {xt.size}, chunk=1: {xt.size} tasks",
            t,
            "-",
            f"{t * 2 / xt.size * 1e3:.2f}",
        )
    if client is not None:
        nnnum.numerical_gradient(trivial_f, x, workers=client, progress=False)
        t = timed(
            lambda: nnnum.numerical_gradient(trivial_f, x, workers=client, progress=False), rep
        )
        tab.add(
            "Dask 2 x 1",
            f"n = {x.size}, 8 tasks",
            t,
            f"{(t - t_serial / 2) / evals * 1e6:.1f}",
            "-",
        )
        w = Workers(client, chunk=1)
        xd = xt[:200]
        t = timed(lambda: nnnum.numerical_gradient(trivial_f, xd, workers=w, progress=False), rep)
        tab.add(
            "Dask 2 x 1",
            f"n = {xd.size}, chunk=1: {xd.size} tasks",
            t,
            "-",
            f"{t * 2 / xd.size * 1e3:.2f}",
        )
    tab.show()


# --------------------------------------------------------------------- (2)
def section_many(args: argparse.Namespace) -> None:
    from distributed import Client

    x = np.linspace(-1.0, 1.0, 64)
    evals = 2 * x.size
    out: list[np.ndarray] = []
    if args.quick:  # sleep is deterministic: time 1/8 of the serial run and scale
        t_serial = 8 * timed(lambda: out.append(nnnum.numerical_gradient(sleepy_f, x[:8])), 1)
        serial_note = "serial loop (n = 8, x 8)"
        ref = None
    else:
        t_serial = timed(lambda: out.append(nnnum.numerical_gradient(sleepy_f, x)), 1)
        serial_note = "serial loop"
        ref = out[0]
    tab = Table(
        f"(2) f waits 0.2 s (I/O-like), n = {x.size}, {evals} evaluations, 16 Dask workers "
        "(LocalCluster; its start is not counted)",
        ["engine", "workers", "time (s)", "speedup", "ideal"],
    )
    tab.add(serial_note, "1", t_serial, "1.00", "-")
    # 16 single-thread processes (the default), then one process of 16 threads
    kinds = [True] if args.dask_threads else [False] if args.quick else [False, True]
    for threads in kinds:
        t0 = time.perf_counter()
        cluster = local_cluster(16, processes=not threads)
        client = Client(cluster)
        try:
            client.wait_for_workers(1 if threads else 16, timeout=300)
            t_up = time.perf_counter() - t0
            nnnum.numerical_gradient(sleepy_f, x[:16], workers=client, progress=False)  # warm
            t = timed(
                lambda: out.append(
                    nnnum.numerical_gradient(sleepy_f, x, workers=client, progress=False)
                ),
                args.repeat or (1 if args.quick else 3),
            )
            assert ref is None or np.array_equal(out[-1], ref)
        finally:
            client.close()
            cluster.close()
        kind = "1 process x 16 threads" if threads else "16 single-thread processes"
        tab.add(
            f"Dask, {kind} (started in {t_up:.1f} s); 64 tasks of 2 evaluations",
            "16",
            t,
            f"{t_serial / t:.1f}",
            "16",
        )
    tab.show()


# --------------------------------------------------------------------- (3)
def section_scipy(args: argparse.Namespace) -> None:
    try:
        from scipy.optimize._numdiff import approx_derivative
    except ImportError:
        print("\nnote: SciPy is not installed; section (3) skipped")
        return
    reps = args.reps
    f = functools.partial(cpu_f, reps=reps)
    x = np.linspace(-1.0, 1.0, 32)
    exact = cpu_grad(x)
    rep = args.repeat or (2 if args.quick else 3)
    ctx = mp_context()
    tab = Table(
        f"(3) Same pool (ProcessPoolExecutor(2)), same f (about 20 ms), n = {x.size}: SciPy "
        "approx_derivative vs nnnum, central differences with a relative step",
        ["call", "time (s)", "max abs error", "evaluations"],
    )
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        g = approx_derivative(f, x, method="3-point", workers=pool.map)  # also warms the workers
        fns: dict[str, Callable[[], Any]] = {
            "scipy": lambda: approx_derivative(f, x, method="3-point", workers=pool.map)
        }
        results = {}
        for name, w in (("pool", pool), ("pool.map", pool.map)):
            results[name] = nnnum.numerical_gradient(
                f, x, h="auto", workers=w, progress=False, full_output=True
            )
            fns[name] = functools.partial(
                nnnum.numerical_gradient, f, x, h="auto", workers=w, progress=False
            )
        best = interleaved(fns, rep)
    tab.add(
        "scipy approx_derivative(f, x, '3-point', workers=pool.map)",
        best["scipy"],
        f"{np.abs(g - exact).max():.1e}",
        f"{2 * x.size + 1}",
    )
    for name, r in results.items():
        tab.add(
            f"nnnum numerical_gradient(f, x, h='auto', workers={name})",
            best[name],
            f"{np.abs(r.df - exact).max():.1e}",
            f"{r.nfev}",
        )
    tab.show()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-dask", action="store_true")
    p.add_argument(
        "--dask-threads", action="store_true", help="(2) only on one process of 16 threads"
    )
    p.add_argument("--sections", default="1,2,3", help="which sections, e.g. 1,3")
    p.add_argument("--repeat", type=int, default=None, help="timings per case (best is kept)")
    args = p.parse_args(argv)
    sections = set(args.sections.split(","))
    args.reps = calibrate()
    print(
        f"nnnum {nnnum.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs, OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
        f"load average {load()}"
    )
    client = cluster = None
    if not args.no_dask and sections & {"1", "2"}:
        try:
            from distributed import Client

            quiet_dask()
            no_malloc_trim()
            cluster = local_cluster(2)
            client = Client(cluster)
            client.wait_for_workers(2, timeout=120)
        except ImportError:
            print("note: dask.distributed is not installed; Dask rows skipped")
    try:
        if "1" in sections:
            section_cpu(args, client)
            section_overhead(args, client)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    if client is not None and "2" in sections:
        section_many(args)
    if "3" in sections:
        section_scipy(args)
    print(f"\nload average at the end: {load()} (other processes share these cores)")


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover
        return "n/a"


if __name__ == "__main__":
    main()
