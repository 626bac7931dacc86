"""GPU check: parity with the CPU paths and throughput, in one short run (under 3 minutes).

    python -m benchmarks.gpu_check            # on a machine with CuPy and a CUDA device
    python -m benchmarks.gpu_check --cpu-only # the CPU-runnable parts: xp path under NumPy vs Numba

Prints:
  * parity: CuPy losses vs Numba (1e-12), TwoLayerNet numerical gradient on the device vs the
    Numba structured gradient (1e-9);
  * fused softmax-cross-entropy throughput on (20_000_000, 10) float32 and float64 logits, as a
    fraction of the device copy bandwidth measured in the same run (target >= 70%);
  * one TwoLayerNet(784, 50, 10) batch-100 numerical gradient step on the device (target < 5 ms
    on an H200) against the Numba CPU path in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import nnnum
from nnnum.network import TwoLayerNet

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
    from nnnum._net_batched import batched_structured_gradient

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


def gpu_checks(cp) -> bool:
    ok = True
    rng = np.random.default_rng(0)
    # ---- parity of losses
    z = rng.normal(size=(4096, 10)) * 10
    labels = rng.integers(0, 10, 4096)
    with nnnum.use_backend("cupy"):
        g = cp.asnumpy(
            nnnum.softmax_cross_entropy(cp.asarray(z), cp.asarray(labels), reduction="none")
        )
        gce = float(nnnum.cross_entropy_error(nnnum.softmax(cp.asarray(z)), cp.asarray(labels)))
    c = nnnum.softmax_cross_entropy(z, labels, reduction="none")
    cce = float(nnnum.cross_entropy_error(nnnum.softmax(z), labels))
    d = max(float(np.abs(g - c).max()), abs(gce - cce))
    ok &= d < 1e-12
    print(f"[gpu] losses vs Numba: max |diff| {d:.2e} ({'OK' if d < 1e-12 else 'FAIL'})")

    # ---- fused softmax-CE throughput vs copy bandwidth
    from nnnum.backends._gpu_kernels import softmax_ce_rows

    n, k = 20_000_000, 10
    lab = cp.asarray(rng.integers(0, k, n))
    for dtype in (cp.float32, cp.float64):
        zz = cp.random.standard_normal((n, k), dtype=dtype)
        out = cp.empty_like(zz)
        t_copy = _device_time(cp, lambda: cp.copyto(out, zz))
        bw = 2 * zz.nbytes / t_copy  # read + write
        t_sce = _device_time(cp, lambda: softmax_ce_rows(zz, lab))
        bytes_moved = zz.nbytes + lab.nbytes + n * 8  # logits + labels read, rows written
        frac = bytes_moved / t_sce / bw
        print(
            f"[gpu] fused softmax-CE ({n:,} x {k}) {np.dtype(dtype).name}: {t_sce * 1e3:.2f} ms, "
            f"{bytes_moved / t_sce / 1e9:.0f} GB/s = {100 * frac:.0f}% of copy bandwidth "
            f"{bw / 1e9:.0f} GB/s (target >= 70%)"
        )

    # ---- TwoLayerNet numerical gradient step
    x, t, src = mnist_batch(100)
    net_cpu = TwoLayerNet(784, 50, 10, seed=0)
    ref = net_cpu.numerical_gradient(x, t)
    t_cpu = best_time(lambda: net_cpu.numerical_gradient(x, t), repeat=5)
    with nnnum.use_backend("cupy"):
        net = TwoLayerNet(784, 50, 10, seed=0)
        xd, td = cp.asarray(x), cp.asarray(t)
        got = net.numerical_gradient(xd, td)
        worst = max(float(np.abs(cp.asnumpy(got[key]) - ref[key]).max()) for key in ref)
        t_gpu = _device_time(cp, lambda: net.numerical_gradient(xd, td), repeat=10)
    ok &= worst < 1e-9
    print(
        f"[gpu] TwoLayerNet(784, 50, 10) numerical gradient, {src} batch 100: device "
        f"{t_gpu * 1e3:.2f} ms (target < 5 ms), Numba CPU {t_cpu * 1e3:.2f} ms "
        f"({t_cpu / t_gpu:.1f}x); max |diff| vs Numba {worst:.2e} "
        f"({'OK' if worst < 1e-9 else 'FAIL'})"
    )
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--cpu-only", action="store_true", help="skip the GPU part even if available")
    args = ap.parse_args(argv)
    ok = cpu_parity()
    if args.cpu_only:
        return 0 if ok else 1
    try:
        from nnnum.backends._gpu_kernels import require_cupy

        cp = require_cupy()
    except nnnum.BackendUnavailableError as exc:
        print(f"[gpu] skipped: {exc}")
        return 0 if ok else 1
    ok &= gpu_checks(cp)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
