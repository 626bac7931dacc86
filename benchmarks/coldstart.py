"""Cold start: the first calls a reader makes, each in a fresh process with an empty Numba cache.

    python -m benchmarks.coldstart            # every figure (about a minute on 2 cores)
    python -m benchmarks.coldstart --no-train # without the Quickstart's training run
    python -m benchmarks.coldstart --pairs 8  # more cold/cached pairs of the training run

Every figure comes from a new interpreter (``python -c``) whose ``NUMBA_CACHE_DIR``
is an empty temporary folder ("cold": every kernel compiles), then from a second
interpreter on the folder the first one filled ("cached": the kernels load from
disk; this also checks that the cache is hit). "warm" is a second call in the
same process. The figures:

* ``import nnnum``;
* the first ``TwoLayerNet(784, 50, 10).numerical_gradient`` on a batch of 100
  (target: at most 4 s cold);
* the first ``numerical_gradient`` of a new ``@numba.njit`` ``f`` on 1000
  elements, beyond compiling ``f`` itself (target: at most 1 s more), and the
  same for a second new ``f`` in that process;
* the Quickstart's ``python -m nnnum train`` (wall time of the whole command;
  target: cold at most 1.5x cached), and the training time it prints itself
  ("done in"), as medians of ``--pairs`` cold-then-cached pairs (3 by default: one
  pair's ratio varies by +-0.1 on a shared machine).

The compile figures depend on the machine and on its load: compare them with
each other, measured in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Each snippet prints one JSON object: seconds.
_IMPORT = """
import json, time
t0 = time.perf_counter()
import nnnum
print(json.dumps({"import": time.perf_counter() - t0}))
"""

_NET = """
import json, time
t0 = time.perf_counter()
import numpy as np, nnnum
t1 = time.perf_counter()
rng = np.random.default_rng(0)
x, t = rng.random((100, 784)), rng.integers(0, 10, 100)
net = nnnum.TwoLayerNet(784, 50, 10, seed=0)
t2 = time.perf_counter()
net.numerical_gradient(x, t)
t3 = time.perf_counter()
net.numerical_gradient(x, t)
t4 = time.perf_counter()
out = {"import": t1 - t0, "first": t3 - t2, "warm": t4 - t3}
for name in ("loss", "accuracy", "gradient"):
    a = time.perf_counter(); getattr(net, name)(x, t); b = time.perf_counter()
    getattr(net, name)(x, t); c = time.perf_counter()
    out[name + "_first"], out[name + "_warm"] = b - a, c - b
print(json.dumps(out))
"""

_JIT = """
import json, time
import numba, numpy as np, nnnum
x = np.random.default_rng(0).random(1000)

@numba.njit
def f(x):
    return np.sum(x**2)

@numba.njit
def g(x):
    return np.sum(x**2)

t0 = time.perf_counter(); f(x); t1 = time.perf_counter()
nnnum.numerical_gradient(f, x); t2 = time.perf_counter()
nnnum.numerical_gradient(f, x); t3 = time.perf_counter()
g(x); t4 = time.perf_counter()
nnnum.numerical_gradient(g, x); t5 = time.perf_counter()
print(json.dumps({"compile_f": t1 - t0, "first_extra": t2 - t1, "warm": t3 - t2,
                  "compile_g": t4 - t3, "second_f_extra": t5 - t4}))
"""


def run_snippet(code: str, cache_dir: str) -> dict[str, float]:
    """The JSON a snippet prints, run in a fresh interpreter with ``NUMBA_CACHE_DIR=cache_dir``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=900,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def cold_and_cached(code: str) -> tuple[dict[str, float], dict[str, float]]:
    """A snippet's figures in an empty cache folder, then in a second process on that folder."""
    with tempfile.TemporaryDirectory(prefix="nnnum-coldstart-") as cache_dir:
        cold = run_snippet(code, cache_dir)
        cached = run_snippet(code, cache_dir)
    return cold, cached


def train_seconds(cache_dir: str, workdir: str) -> tuple[float, float]:
    """Wall time of the Quickstart's ``python -m nnnum train`` (quiet, output in ``workdir``),
    and the training time it prints ("done in X s")."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    cmd = [sys.executable, "-m", "nnnum", "train", "--quiet", "--output-dir", workdir]
    t0 = time.perf_counter()
    proc = subprocess.run(
        cmd, capture_output=True, text=True, env=env, check=True, cwd=workdir, timeout=900
    )
    wall = time.perf_counter() - t0
    done = re.search(r"done in ([0-9.]+) s", proc.stdout)
    return wall, float(done.group(1)) if done else float("nan")


def train_cold_and_cached(pairs: int = 1) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """``pairs`` times: (wall, printed) of a run on an empty cache, then of a run on its cache."""
    out = []
    for _ in range(pairs):
        with tempfile.TemporaryDirectory(prefix="nnnum-coldstart-") as tmp:
            cache_dir = str(Path(tmp) / "cache")
            cold = train_seconds(cache_dir, tmp)
            cached = train_seconds(cache_dir, tmp)
        out.append((cold, cached))
    return out


def _row(label: str, cold: float, cached: float | None, warm: float | None = None) -> str:
    def cell(v: float | None) -> str:
        return "-" if v is None else f"{v:.3f} s"

    return f"| {label} | {cell(cold)} | {cell(cached)} | {cell(warm)} |"


def report(train: bool = True, pairs: int = 3) -> list[str]:
    """The cold-start table (Markdown), every figure measured now."""
    lines = [
        "| first call | cold (empty cache) | cached (2nd process) | warm (2nd call) |",
        "|---|---|---|---|",
    ]
    imp_cold, imp_cached = cold_and_cached(_IMPORT)
    lines.append(_row("`import nnnum`", imp_cold["import"], imp_cached["import"]))
    net_cold, net_cached = cold_and_cached(_NET)
    lines.append(
        _row(
            "`TwoLayerNet(784, 50, 10).numerical_gradient`, batch 100",
            net_cold["first"],
            net_cached["first"],
            net_cold["warm"],
        )
    )
    for name in ("loss", "accuracy", "gradient"):
        lines.append(
            _row(
                f"`.{name}` after it",
                net_cold[name + "_first"],
                net_cached[name + "_first"],
                net_cold[name + "_warm"],
            )
        )
    jit_cold, jit_cached = cold_and_cached(_JIT)
    lines.append(_row("compiling a new `@numba.njit` f alone", jit_cold["compile_f"], None))
    lines.append(
        _row(
            "first `numerical_gradient(f, x)`, n=1000, beyond compiling f",
            jit_cold["first_extra"],
            jit_cached["first_extra"],
            jit_cold["warm"],
        )
    )
    lines.append(
        _row(
            "the same for a second new f in that process",
            jit_cold["second_f_extra"],
            jit_cached["second_f_extra"],
        )
    )
    if train:
        runs = train_cold_and_cached(pairs)
        wall = [(c[0], w[0]) for c, w in runs]
        printed = [(c[1], w[1]) for c, w in runs]
        median = statistics.median
        lines.append(
            _row(
                f"`python -m nnnum train` (whole command), median of {pairs}",
                median(c for c, _ in wall),
                median(w for _, w in wall),
            )
        )
        lines.append(
            _row(
                f'its training ("done in ... s", as printed), median of {pairs}',
                median(c for c, _ in printed),
                median(w for _, w in printed),
            )
        )
        ratios = sorted(c / w for c, w in wall)
        shown = ", ".join(f"{r:.2f}" for r in ratios)
        lines.append(
            f"\ntrain cold / cached, whole command: {median(ratios):.2f}x median"
            f" ({shown}; target <= 1.5x)"
        )
        lines.append(
            f'train cold / cached, "done in": {median(c / w for c, w in printed):.2f}x median'
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-train", action="store_true", help="skip `nnnum train`")
    parser.add_argument(
        "--pairs", type=int, default=3, help="cold/cached pairs of `nnnum train` (default 3)"
    )
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    for line in report(train=not args.no_train, pairs=args.pairs):
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
