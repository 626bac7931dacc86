"""Where a figure was measured: CPU model, vector extensions, Numba's target, threading layer.

Used by ``nnnum info`` and printed at the top of ``python -m benchmarks.compare``,
so that every published timing says which machine and which code it came from.

Three different things are reported, because they can differ:

* the **host's** vector extensions (what the CPU has: LLVM's host feature
  list, which is ``/proc/cpuinfo``'s flags on Linux);
* Numba's **target** (``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``: what
  kernels are compiled for; ``NUMBA_CPU_NAME=haswell`` alone still uses the
  host's features, AVX-512 included, so an AVX2 build also needs
  ``NUMBA_CPU_FEATURES=''`` or an explicit feature list);
* the vector registers a small kernel **actually** compiles to here
  (LLVM may prefer 256-bit vectors on a CPU that has AVX-512).
"""

from __future__ import annotations

import os
import platform
import re
from functools import lru_cache
from typing import Any

__all__ = [
    "cpu_model",
    "host_vector_extensions",
    "numba_target",
    "kernel_vectors",
    "threading_layer",
    "info_rows",
    "summary",
]

# (LLVM feature name, name people know), in order of appearance
_X86 = (
    ("sse2", "SSE2"),
    ("sse4.2", "SSE4.2"),
    ("avx", "AVX"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("avx512f", "AVX-512F"),
    ("avx512dq", "AVX-512DQ"),
    ("avx512bw", "AVX-512BW"),
    ("avx512vl", "AVX-512VL"),
)
_ARM = (("neon", "NEON"), ("sve", "SVE"), ("sve2", "SVE2"))


def cpu_model() -> str:
    """The CPU's marketing name (``/proc/cpuinfo``, ``sysctl`` on macOS), else the architecture."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Model", "Hardware") and value.strip():
                    return value.strip()
    except OSError:
        pass
    if platform.system() == "Darwin":  # pragma: no cover - not on the CI machines
        import subprocess

        try:
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.brand_string"],
                capture_output=True,
                text=True,
                timeout=5,
            )
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _host_features() -> dict[str, bool]:
    try:
        import llvmlite.binding as ll

        return {k: bool(v) for k, v in ll.get_host_cpu_features().items()}
    except Exception:  # pragma: no cover - llvmlite always answers on supported hosts
        return {}


def host_vector_extensions() -> list[str]:
    """The vector extensions this CPU has, as LLVM sees them: ``['SSE2', ..., 'AVX2', 'FMA']``."""
    feats = _host_features()
    table = _ARM if platform.machine().lower() in ("arm64", "aarch64") else _X86
    found = [name for key, name in table if feats.get(key)]
    if not found and platform.machine().lower() in ("arm64", "aarch64"):
        found = ["NEON"]  # AArch64 always has Advanced SIMD, whatever the feature list says
    return found


def numba_target() -> str:
    """What Numba compiles for: the host, or ``NUMBA_CPU_NAME`` / ``NUMBA_CPU_FEATURES``."""
    import llvmlite.binding as ll
    import numba

    name = getattr(numba.config, "CPU_NAME", None)
    features = getattr(numba.config, "CPU_FEATURES", None)
    if name is None and features is None:
        return f"host ({ll.get_host_cpu_name()})"
    out = f"{name or ll.get_host_cpu_name()} (NUMBA_CPU_NAME)"
    if features is None:
        out += ", with the host's features (NUMBA_CPU_FEATURES unset)"
    else:
        out += f", features {features!r} (NUMBA_CPU_FEATURES)"
    return out


@lru_cache(maxsize=1)
def kernel_vectors() -> str:
    """The vector registers a small elementwise kernel compiles to here and now.

    Compiles (uncached, ~0.1 s) ``out[i] = a[i] * b[i] + 1.0`` and reads its
    machine code: 512-bit (zmm), 256-bit (ymm), 128-bit (xmm / NEON q) or
    scalable (SVE z) registers.
    """
    import numpy as np

    from .jit import JIT_OFF, kernel

    if JIT_OFF:
        return "none (the JIT is off: NUMBA_DISABLE_JIT)"

    def axpy(a, b, out):  # pragma: no cover - compiled
        for i in range(out.size):
            out[i] = a[i] * b[i] + 1.0

    fn = kernel(axpy, cache=False)  # the library's options, as its kernels get
    x = np.ones(64)
    fn(x, x, np.empty(64))
    asm = fn.inspect_asm(fn.signatures[0])
    if re.search(r"%zmm\d", asm):
        return "512-bit (zmm)"
    if re.search(r"%ymm\d", asm):
        return "256-bit (ymm)"
    if re.search(r"\bz\d+\.d\b", asm):
        return "scalable (SVE)"
    if re.search(r"\bv\d+\.2d\b|\bq\d+\b", asm):
        return "128-bit (NEON)"
    if re.search(r"\w+pd\s+%xmm\d", asm):
        return "128-bit (xmm)"
    return "scalar only"


def threading_layer() -> str:
    """Numba's threading layer once a parallel kernel has run, else the configured one."""
    import numba

    try:
        return str(numba.threading_layer())
    except ValueError:
        wanted = getattr(numba.config, "THREADING_LAYER", "default")
        return f"not started yet (NUMBA_THREADING_LAYER={wanted})"


def info_rows(*, probe: bool = True) -> list[tuple[str, str]]:
    """(label, value) rows: cpu, vector extensions, numba target, kernel vectors (if ``probe``)."""
    rows = [
        ("cpu", f"{cpu_model()}, {os.cpu_count()} logical CPUs"),
        ("vector extensions", ", ".join(host_vector_extensions()) or "none found"),
        ("numba target", numba_target()),
    ]
    if probe:
        rows.append(("kernel vectors", kernel_vectors()))
    return rows


def summary() -> dict[str, Any]:
    """Everything above in one dict (threading layer included), e.g. for a benchmark header."""
    import numba

    return {
        "cpu": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "vector_extensions": host_vector_extensions(),
        "numba_target": numba_target(),
        "kernel_vectors": kernel_vectors(),
        "threads": numba.get_num_threads(),
        "threading_layer": threading_layer(),
    }
