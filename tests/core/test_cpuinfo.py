"""Tests of nnnum._core.cpuinfo: CPU, vector extensions and Numba target, as `nnnum info` says."""

from __future__ import annotations

import builtins
import io

import numba
import pytest

from nnnum._core import cpuinfo, jit


def _fake_proc_cpuinfo(monkeypatch: pytest.MonkeyPatch, text: str | None) -> None:
    """``open("/proc/cpuinfo")`` reads ``text`` (``None``: the file cannot be opened)."""
    real_open = builtins.open

    def fake_open(path, *args, **kwargs):
        if path == "/proc/cpuinfo":
            if text is None:
                raise FileNotFoundError(2, "No such file or directory", path)
            return io.StringIO(text)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", fake_open)


def test_cpu_model_reads_the_model_name_line(monkeypatch):
    """The first non-empty ``model name`` / ``Model`` / ``Hardware`` value is the CPU's name."""
    _fake_proc_cpuinfo(
        monkeypatch,
        "processor\t: 0\nmodel name\t:   \nflags\t: sse2\nModel\t: Raspberry Pi 4 Model B\n",
    )
    assert cpuinfo.cpu_model() == "Raspberry Pi 4 Model B"


def test_cpu_model_without_proc_cpuinfo_falls_back_to_the_architecture(monkeypatch):
    """No readable /proc/cpuinfo (not Linux): the processor name, else the machine, else a word."""
    _fake_proc_cpuinfo(monkeypatch, None)
    monkeypatch.setattr(cpuinfo.platform, "system", lambda: "Linux")
    monkeypatch.setattr(cpuinfo.platform, "processor", lambda: "")
    monkeypatch.setattr(cpuinfo.platform, "machine", lambda: "riscv64")
    assert cpuinfo.cpu_model() == "riscv64"
    monkeypatch.setattr(cpuinfo.platform, "machine", lambda: "")
    assert cpuinfo.cpu_model() == "unknown CPU"


def test_host_vector_extensions_names_the_x86_features_in_order(monkeypatch):
    """LLVM's feature flags become the names people know, in the table's order."""
    monkeypatch.setattr(cpuinfo.platform, "machine", lambda: "x86_64")
    feats = {"fma": True, "avx2": True, "sse2": True, "avx512f": False, "neon": True}
    monkeypatch.setattr(cpuinfo, "_host_features", lambda: feats)
    assert cpuinfo.host_vector_extensions() == ["SSE2", "AVX2", "FMA"]


@pytest.mark.parametrize("machine", ["aarch64", "arm64"])
def test_host_vector_extensions_on_arm_always_include_neon(monkeypatch, machine):
    """AArch64 always has Advanced SIMD, even when LLVM's feature list does not say so."""
    monkeypatch.setattr(cpuinfo.platform, "machine", lambda: machine)
    monkeypatch.setattr(cpuinfo, "_host_features", lambda: {})
    assert cpuinfo.host_vector_extensions() == ["NEON"]
    monkeypatch.setattr(cpuinfo, "_host_features", lambda: {"neon": True, "sve": True})
    assert cpuinfo.host_vector_extensions() == ["NEON", "SVE"]


def test_numba_target_says_which_variables_chose_it(monkeypatch):
    """NUMBA_CPU_NAME / NUMBA_CPU_FEATURES are reported, and the unset one is said to be unset."""
    import llvmlite.binding as ll

    host = ll.get_host_cpu_name()
    monkeypatch.setattr(numba.config, "CPU_NAME", None, raising=False)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", None, raising=False)
    assert cpuinfo.numba_target() == f"host ({host})"
    monkeypatch.setattr(numba.config, "CPU_NAME", "haswell")
    assert cpuinfo.numba_target() == (
        "haswell (NUMBA_CPU_NAME), with the host's features (NUMBA_CPU_FEATURES unset)"
    )
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "")
    assert cpuinfo.numba_target() == "haswell (NUMBA_CPU_NAME), features '' (NUMBA_CPU_FEATURES)"
    monkeypatch.setattr(numba.config, "CPU_NAME", None)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "+avx2,+fma")
    assert cpuinfo.numba_target() == (
        f"{host} (NUMBA_CPU_NAME), features '+avx2,+fma' (NUMBA_CPU_FEATURES)"
    )


class _FakeKernel:
    """What kernel() returns, with the machine code of a chosen target."""

    def __init__(self, asm: str) -> None:
        self.asm = asm
        self.signatures: list[str] = []

    def __call__(self, a, b, out) -> None:
        self.signatures.append("(float64[::1], float64[::1], float64[::1])")

    def inspect_asm(self, sig: str) -> str:
        assert sig == self.signatures[0]
        return self.asm


@pytest.fixture
def fresh_kernel_vectors():
    """kernel_vectors() is cached per process: cleared before and after the test."""
    cpuinfo.kernel_vectors.cache_clear()
    yield cpuinfo.kernel_vectors
    cpuinfo.kernel_vectors.cache_clear()


@pytest.mark.parametrize(
    "asm, answer",
    [
        ("vfmadd213pd %zmm1, %zmm2, %zmm0\n vmulpd %ymm1, %ymm2, %ymm0", "512-bit (zmm)"),
        ("vmulpd (%rdi), %ymm1, %ymm0", "256-bit (ymm)"),
        ("fmla z0.d, p0/m, z1.d, z2.d", "scalable (SVE)"),
        ("fmla v0.2d, v1.2d, v2.2d", "128-bit (NEON)"),
        ("ldr q0, [x1]", "128-bit (NEON)"),
        ("mulpd %xmm1, %xmm0", "128-bit (xmm)"),
        ("mulsd %xmm1, %xmm0", "scalar only"),
    ],
)
def test_kernel_vectors_reads_the_widest_register_in_the_machine_code(
    monkeypatch, fresh_kernel_vectors, asm, answer
):
    """The probe kernel's assembly is classified by its widest vector registers."""
    monkeypatch.setattr(jit, "JIT_OFF", False)
    built: list[dict] = []

    def fake_kernel(f, **options):
        built.append(options)
        return _FakeKernel(asm)

    monkeypatch.setattr(jit, "kernel", fake_kernel)
    assert fresh_kernel_vectors() == answer
    assert built == [{"cache": False}]  # compiled fresh, with the library's other options


def test_kernel_vectors_without_the_jit_says_so(monkeypatch, fresh_kernel_vectors):
    """Under NUMBA_DISABLE_JIT there is no machine code to read."""
    monkeypatch.setattr(jit, "JIT_OFF", True)
    assert fresh_kernel_vectors() == "none (the JIT is off: NUMBA_DISABLE_JIT)"


def test_threading_layer_before_and_after_the_first_parallel_kernel(monkeypatch):
    """The loaded layer's name; before any parallel kernel, the configured one."""
    monkeypatch.setattr(numba, "threading_layer", lambda: "tbb")
    assert cpuinfo.threading_layer() == "tbb"

    def not_started():
        raise ValueError("Threading layer is not initialized.")

    monkeypatch.setattr(numba, "threading_layer", not_started)
    monkeypatch.setattr(numba.config, "THREADING_LAYER", "safe")
    assert cpuinfo.threading_layer() == "not started yet (NUMBA_THREADING_LAYER=safe)"


def test_info_rows_and_summary_report_the_same_facts(monkeypatch, fresh_kernel_vectors):
    """info_rows() labels the facts summary() returns; probe=False leaves the compile out."""
    monkeypatch.setattr(cpuinfo, "cpu_model", lambda: "Test CPU 9000")
    monkeypatch.setattr(cpuinfo, "host_vector_extensions", lambda: [])
    monkeypatch.setattr(cpuinfo, "numba_target", lambda: "host (testcpu)")
    monkeypatch.setattr(cpuinfo, "threading_layer", lambda: "workqueue")
    monkeypatch.setattr(jit, "JIT_OFF", True)
    n = cpuinfo.os.cpu_count()
    rows = cpuinfo.info_rows(probe=False)
    assert rows == [
        ("cpu", f"Test CPU 9000, {n} logical CPUs"),
        ("vector extensions", "none found"),
        ("numba target", "host (testcpu)"),
    ]
    assert cpuinfo.info_rows()[3:] == [
        ("kernel vectors", "none (the JIT is off: NUMBA_DISABLE_JIT)")
    ]
    assert cpuinfo.summary() == {
        "cpu": "Test CPU 9000",
        "logical_cpus": n,
        "vector_extensions": [],
        "numba_target": "host (testcpu)",
        "kernel_vectors": "none (the JIT is off: NUMBA_DISABLE_JIT)",
        "threads": numba.get_num_threads(),
        "threading_layer": "workqueue",
    }
