"""GPU check: the whole ``gpu`` test set on the device, then the throughput table (< 5 minutes).

    python -m pip install -e ".[gpu,test]"      # once, on the GPU machine
    python -m benchmarks.gpu_check              # tests on the device, then the table
    python -m benchmarks.gpu_check --no-tests   # the table only
    python -m benchmarks.gpu_check --cpu-only   # the CPU part: xp path under NumPy vs Numba

On a device it runs, in this order:
  * ``python -m pytest -m gpu`` without the simulator: the Numba CUDA kernels on the device
    (``tests/backends/test_cuda_kernels.py``) and the CuPy backend
    (``tests/backends/test_cupy.py``);
  * one table: the fused softmax cross-entropy on 10^7 x 10 float32 (and float64) logits as a
    fraction of the device's copy bandwidth measured in the same run (target >= 70% for
    float32), and the TwoLayerNet(784, 50, 10) numerical gradient step at batch 100 (target
    < 5 ms) and 1000 on the device against the Numba CPU path in the same run, with the
    largest difference between the two.
Exit status 0 when every test passes and every parity holds (the speed targets are reported,
not enforced).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import nnnum
from nnnum.nets import TwoLayerNet

from .common import best_time, mnist_batch


def _device_time(cp, fn, repeat: int = 10) -> float:
    """Median seconds of ``fn`` on the device, timed with CUDA events after a warm-up."""
    fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop) / 1e3)
    return float(np.median(times))


def cpu_parity() -> bool:
    """The batched xp algorithm under NumPy against the Numba kernels (what CI also runs)."""
    from nnnum.nets._batched import batched_structured_gradient

    x, t, src = mnist_batch(50)
    net = TwoLayerNet(784, 50, 10, seed=0)
    ref = net.numerical_gradient(x, t)
    with nnnum.use_backend("numpy"):
        t0 = time.perf_counter()
        got = batched_structured_gradient(net.params, x, t, 1e-4)
        dt = time.perf_counter() - t0
    worst = max(float(np.abs(got[k] - ref[k]).max()) for k in ref)
    ok = worst < 1e-9
    print(
        f"[cpu] batched xp path (NumPy) vs Numba structured gradient, {src} batch 50: "
        f"max |diff| {worst:.2e} ({'OK' if ok else 'FAIL'}), {dt:.2f} s"
    )
    return ok


ROOT = Path(__file__).resolve().parents[1]
#: the test set's time limit on the device (it takes well under a minute on an H200)
TEST_TIMEOUT_S = 180


def device_tests() -> bool:
    """``pytest -m gpu`` on the device (the simulator switched off), streamed to stdout."""
    try:
        import pytest  # noqa: F401
    except ImportError:
        print('[gpu] tests: pytest missing; install with `python -m pip install -e ".[gpu,test]"`')
        return False
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    print("[gpu] tests:", " ".join(cmd[1:]), flush=True)
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, timeout=TEST_TIMEOUT_S).returncode
    except subprocess.TimeoutExpired:
        print(f"[gpu] tests: FAIL, still running after {TEST_TIMEOUT_S} s")
        return False
    verdict = "OK" if rc == 0 else f"FAIL (exit {rc})"
    print(f"[gpu] tests: {verdict} in {time.perf_counter() - t0:.0f} s")
    return rc == 0


def _fused_row(cp, n: int, k: int, dtype) -> tuple[str, str, str, str]:
    from nnnum.backends import cupy as gpu_backend

    rng = np.random.default_rng(0)
    lab = cp.asarray(rng.integers(0, k, n))
    zz = cp.random.standard_normal((n, k), dtype=dtype)
    out = cp.empty_like(zz)
    t_copy = _device_time(cp, lambda: cp.copyto(out, zz))
    bw = 2 * zz.nbytes / t_copy  # read + write
    t_sce = _device_time(cp, lambda: gpu_backend.fused_rows(zz, lab, None, 0.0))
    moved = zz.nbytes + lab.nbytes + n * 8  # logits and labels read, rows written
    frac = moved / t_sce / bw
    # parity on a slice against the Numba CPU kernel
    m = 100_000
    got = cp.asnumpy(gpu_backend.fused_rows(zz[:m], lab[:m], None, 0.0))
    with nnnum.use_backend("numba"):
        ref = nnnum.softmax_cross_entropy(cp.asnumpy(zz[:m]), cp.asnumpy(lab[:m]), reduction="none")
    diff = float(np.abs(got - ref).max())
    target = ">= 70%" if np.dtype(dtype) == np.float32 else "-"
    return (
        f"fused softmax-CE {n:.0e} x {k} {np.dtype(dtype).name}",
        f"{t_sce * 1e3:.2f} ms, {moved / t_sce / 1e9:.0f} GB/s = {100 * frac:.0f}% of copy "
        f"{bw / 1e9:.0f} GB/s",
        target,
        f"{diff:.1e}" + ("" if diff < 1e-12 else " FAIL"),
    )


def _net_row(cp, batch: int) -> tuple[str, str, str, str]:
    x, t, src = mnist_batch(batch)
    with nnnum.use_backend("numba"):
        net_cpu = TwoLayerNet(784, 50, 10, seed=0)
        ref = net_cpu.numerical_gradient(x, t)
        t_cpu = best_time(lambda: net_cpu.numerical_gradient(x, t), repeat=3)
    with nnnum.use_backend("cupy"):
        net = TwoLayerNet(784, 50, 10, seed=0)
        xd, td = cp.asarray(x), cp.asarray(t)
        got = net.numerical_gradient(xd, td)
        worst = max(float(np.abs(cp.asnumpy(got[key]) - ref[key]).max()) for key in ref)
        t_gpu = _device_time(cp, lambda: net.numerical_gradient(xd, td), repeat=10)
    return (
        f"TwoLayerNet(784, 50, 10) gradient, {src} batch {batch}",
        f"device {t_gpu * 1e3:.2f} ms, Numba CPU {t_cpu * 1e3:.1f} ms ({t_cpu / t_gpu:.1f}x)",
        "< 5 ms" if batch == 100 else "-",
        f"{worst:.1e}" + ("" if worst < 1e-9 else " FAIL"),
    )


def throughput_table(cp) -> bool:
    """The figures of the issue, measured in this run, as one table."""
    name = cp.cuda.runtime.getDeviceProperties(0)["name"]
    name = name.decode() if isinstance(name, bytes) else name
    rows = []
    for dtype in (cp.float32, cp.float64):
        rows.append(_fused_row(cp, 10_000_000, 10, dtype))
        cp.get_default_memory_pool().free_all_blocks()  # the 10^7-row buffers
    rows += [
        _net_row(cp, 100),
        _net_row(cp, 1000),
    ]
    head = ("measure", f"result on {name}", "target", "max |diff| vs CPU")
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(4)]
    line = "  ".join("-" * w for w in widths)
    print(line)
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)))
    print(line)
    return not any(r[3].endswith("FAIL") for r in rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cpu-only", action="store_true", help="skip the GPU part even if available")
    ap.add_argument("--no-tests", action="store_true", help="the table only, not the gpu tests")
    args = ap.parse_args(argv)
    ok = cpu_parity()
    if args.cpu_only:
        return 0 if ok else 1
    try:
        from nnnum.backends._gpu_imports import require_cupy, require_numba_cuda

        cp = require_cupy()
        require_numba_cuda()
    except nnnum.BackendUnavailableError as exc:
        print(f"[gpu] skipped: {exc}")
        return 0 if ok else 1
    if not args.no_tests:
        ok &= device_tests()
    ok &= throughput_table(cp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
