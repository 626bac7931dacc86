"""The hot loops stay vectorised: checked in the compiled code, not by timing.

A change that stops LLVM vectorising a hot loop (a libm call, a float/integer
conversion, a negative-index wraparound, an F-ordered copy...) costs 2-10x
without changing a single result, so no other test would notice. These tests
compile fresh, uncached copies of the kernels with the options and argument
types the library itself uses, and read the optimised LLVM IR: the loops LLVM
vectorised are its ``vector.body`` blocks. The checks are target independent
(no conversion instruction may appear in a vector loop: on AVX2, which has no
vector float/int64 conversion, it would be extracted lane by lane), and on x86
the machine code must use ymm or zmm registers. One test recompiles for an AVX2
CPU (``NUMBA_CPU_NAME=haswell``) in a subprocess, so that an AVX-512 machine
also checks what AVX2 machines get.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest

import nnnum
from nnnum.backends import _cpu_kernels as K
from nnnum.nets import _kernels as N

pytestmark = pytest.mark.jit_only  # reads the compiled machine code

X86 = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")
CONVERSIONS = re.compile(r"\b(fptosi|fptoui|sitofp|uitofp)\b")
VEC = r"<\d+ x double>"


def fresh_copy(dispatcher: Any, **overrides: Any) -> Any:
    """An uncached dispatcher compiled with the kernel's own options (its IR can be inspected)."""
    opts = dict(dispatcher.targetoptions)
    opts.pop("nopython", None)
    opts["cache"] = False
    opts.update(overrides)
    return numba.njit(**opts)(dispatcher.py_func)


def compiled_like(dispatcher: Any, run: Any, **overrides: Any) -> tuple[Any, Any]:
    """(fresh copy, signature): the signature the library called ``dispatcher`` with in ``run``."""
    run()
    assert dispatcher.signatures, "the library no longer calls this kernel"
    sig = dispatcher.signatures[0]
    # an F-ordered or strided argument compiles to a vector loop guarded by a stride check
    # that fails at run time: the scalar copy runs
    layouts = [a.layout for a in sig if isinstance(a, numba.types.Array)]
    assert all(lay == "C" for lay in layouts), f"non-contiguous arguments {sig}"
    copy = fresh_copy(dispatcher, **overrides)
    copy.compile(sig)
    return copy, copy.signatures[0]


def function_blocks(llvm_ir: str, name: str) -> dict[str, str]:
    """Basic blocks (label -> text) of the compiled function whose name contains ``name``."""
    m = re.search(r"define [^\n]*@(_ZN[^\s(]*" + re.escape(name) + r"[^\s(]*)\(", llvm_ir)
    assert m, f"{name} not found in the IR"
    body = llvm_ir[m.start() : llvm_ir.index("\n}\n", m.start())]
    blocks = {}
    for block in re.split(r"\n(?=[\w.]+:)", body)[1:]:
        blocks[block.split(":", 1)[0].strip()] = block
    return blocks


def vector_loops(llvm_ir: str, name: str) -> dict[str, str]:
    loops = {k: v for k, v in function_blocks(llvm_ir, name).items() if k.startswith("vector.body")}
    assert loops, f"LLVM vectorised no loop of {name}"
    return loops


def count(pattern: str, text: str) -> int:
    return len(re.findall(pattern, text))


def assert_clean(loops: dict[str, str]) -> None:
    """No call but LLVM intrinsics (no libm, no Numba runtime), no conversion, in vector loops."""
    for label, body in loops.items():
        calls = [
            c for c in re.findall(r"call [^@\n]*@([\w.$]+)", body) if not c.startswith("llvm.")
        ]
        assert not calls, f"{label} calls {calls}"
        assert not CONVERSIONS.search(body), f"{label} converts between float and int: {body}"


def asm_of(dispatcher: Any, sig: Any, name: str) -> str:
    """The machine code of the kernel itself (not its Python wrapper)."""
    asm = dispatcher.inspect_asm(sig)
    m = re.search(r"^(_ZN[^\s:]*" + re.escape(name) + r"[^\s:]*):", asm, re.M)
    assert m, f"{name} not found in the assembly"
    end = asm.find(".Lfunc_end", m.end())
    return asm[m.start() : end if end > 0 else len(asm)]


def check_x86_registers(asm: str) -> None:
    if X86:
        assert re.search(r"%[yz]mm\d", asm), "no 256/512-bit vector register used"


# ------------------------------------------------------------------ the kernels
def lse_block() -> tuple[Any, Any]:
    z = np.random.default_rng(0).standard_normal((300, 10))

    def run() -> None:
        nnnum.softmax_cross_entropy(z, np.zeros(300, dtype=np.int64))
        # the block kernel is typed only when its caller is compiled, not loaded from the cache
        caller = fresh_copy(K._softmax_ce_serial)
        caller(z, np.zeros(300, dtype=np.int64), np.empty((0, 0)), False, np.empty(300))

    return compiled_like(K._lse_block, run)


def net_kernels() -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    rng = np.random.default_rng(0)
    net = nnnum.TwoLayerNet(20, 16, 4, seed=0)
    x = rng.random((8, 20))
    x[x < 0.5] = 0.0

    def run() -> None:
        net.numerical_gradient(x, rng.integers(0, 4, 8))

    return compiled_like(N.grad_hidden, run), compiled_like(N.grad_output, run)


def test_fused_softmax_ce_exp_and_log_are_vectorised() -> None:
    disp, sig = lse_block()
    llvm_ir = disp.inspect_llvm(sig)
    loops = vector_loops(llvm_ir, "_lse_block")
    assert_clean(loops)
    body = "\n".join(function_blocks(llvm_ir, "_lse_block").values())
    calls = {c for c in re.findall(r"call [^@\n]*@([\w.$]+)", body)}
    assert calls <= {"NRT_incref", "NRT_decref"} | {c for c in calls if c.startswith("llvm.")}, (
        calls
    )
    # the exp polynomial (a dozen multiplies per element) and log's division run in vector loops
    assert max(count(rf"fmul [\w ]*{VEC}", b) for b in loops.values()) >= 12
    assert any(count(rf"fdiv [\w ]*{VEC}", b) for b in loops.values())
    # the transposition is four row vectors shuffled into four columns (8 shuffles a tile),
    # and no loop stores through a mask (vmaskmovpd: microcoded on AMD; a fifth of the
    # kernel's time when LLVM turned a loop taking the row maxima into one)
    assert count(r"shufflevector <4 x double>", body) >= 8, "the transposition is not vectorised"
    assert "llvm.masked.store" not in body, "a masked store in _lse_block"
    assert "llvm.prefetch" in body, "the next block is no longer prefetched"
    asm = asm_of(disp, sig, "_lse_block")
    check_x86_registers(asm)
    assert not re.search(r"\bv?cvtt?s[di]2s[id]", asm), "scalar float/int conversion in _lse_block"
    assert not re.search(r"\bv?maskmov", asm), "a masked store in _lse_block"


def test_structured_gradient_inner_loops_are_vectorised() -> None:
    (gh, gh_sig), (go, go_sig) = net_kernels()
    hidden = vector_loops(gh.inspect_llvm(gh_sig), "grad_hidden")
    assert_clean(hidden)
    # the per-pixel loop over hidden units: the whole polynomial fast path, division included
    assert any(
        count(rf"fmul [\w ]*{VEC}", b) >= 30 and count(rf"fdiv [\w ]*{VEC}", b)
        for b in hidden.values()
    ), "the per-pixel loop over hidden units is not vectorised"
    check_x86_registers(asm_of(gh, gh_sig, "grad_hidden"))

    output = vector_loops(go.inspect_llvm(go_sig), "grad_output")
    assert_clean(output)
    assert any(
        count(rf"fmul [\w ]*{VEC}", b) >= 10 and count(rf"fdiv [\w ]*{VEC}", b)
        for b in output.values()
    ), "the per-parameter loop over samples is not vectorised"


@pytest.mark.slow
@pytest.mark.skipif(not X86, reason="x86 only: compiles for an AVX2 CPU")
def test_vectorised_for_avx2_too() -> None:
    import llvmlite.binding as ll

    if not ll.get_host_cpu_features().get("avx2"):
        pytest.skip("the host has no AVX2 to run haswell code on")
    code = textwrap.dedent(
        """
        import tests.test_vectorisation as T
        T.test_fused_softmax_ce_exp_and_log_are_vectorised()
        T.test_structured_gradient_inner_loops_are_vectorised()
        import re
        d, s = T.lse_block()
        asm = T.asm_of(d, s, "_lse_block")
        assert re.search(r"%ymm", asm) and not re.search(r"%zmm", asm), "not an AVX2 build"
        print("ok")
        """
    )
    env = dict(os.environ, NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="")
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
    )
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-3000:]
