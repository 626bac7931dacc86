"""Bit casts between float64 and int64 for Numba kernels (LLVM ``bitcast``: free, vectorisable).

``np.int64(x)`` of a float and ``np.float64(i)`` of an integer are value
conversions: before AVX-512DQ x86 has no vector instruction for either, so
LLVM extracts the lanes of a vectorised loop one by one (scalar ``vcvttsd2si``
/ ``vcvtsi2sd``). Hand-written ``exp``/``log`` kernels therefore move between
integers and floats through the bits instead: for ``|k| < 2**51``,
``as_int64(k_float + 1.5 * 2**52) - as_int64(1.5 * 2**52) == k`` and
``as_float64(k + as_int64(1.5 * 2**52)) - 1.5 * 2**52 == k``, using only the
64-bit integer adds and shifts that AVX2 has.

:func:`opaque` hides a value from LLVM (an empty inline asm): the polynomial
coefficients of a vectorised exp, made opaque before the loop, are broadcast
once and, where registers run short, reloaded from the stack as a memory
operand; as known constants LLVM rebuilds each one in every iteration instead
(an address load and a broadcast), about a tenth of the loop's time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from .._core.jit import JIT_OFF

__all__ = ["as_float64", "as_int64", "opaque"]


@intrinsic
def as_int64(typingctx: Any, x: Any) -> Any:
    """The bits of the float64 ``x`` as an int64 (no conversion)."""
    if x != types.float64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(x), codegen


@intrinsic
def as_float64(typingctx: Any, i: Any) -> Any:
    """The int64 ``i`` read as the bits of a float64 (no conversion)."""
    if not isinstance(i, types.Integer) or getattr(i, "bitwidth", 0) != 64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(i), codegen


@intrinsic
def opaque(typingctx: Any, x: Any) -> Any:
    """The float64 ``x`` itself, through an empty inline asm: LLVM cannot constant-fold it.

    The bits pass through a 64-bit general register (constraint ``r``, valid on
    every 64-bit target); call it outside hot loops (an empty asm is no barrier
    to vectorising them, but it is not free either).
    """
    if x != types.float64:
        return None

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        i64 = ir.IntType(64)
        bits = builder.bitcast(args[0], i64)
        fnty = ir.FunctionType(i64, [i64])
        out = builder.asm(fnty, "", "=r,0", [bits], side_effect=False)
        return builder.bitcast(out, ir.DoubleType())

    return types.float64(x), codegen


# NUMBA_DISABLE_JIT=1 (the coverage run) runs the kernels as Python, where an intrinsic has no
# body: each gets its Python twin (the same bits, by NumPy)
def _py_as_int64(x: Any) -> Any:
    return np.asarray(x, dtype=np.float64).view(np.int64)[()]


def _py_as_float64(i: Any) -> Any:
    return np.asarray(i, dtype=np.int64).view(np.float64)[()]


def _py_opaque(x: Any) -> Any:
    return np.float64(x)


if JIT_OFF:
    as_int64 = _py_as_int64  # type: ignore[assignment]
    as_float64 = _py_as_float64  # type: ignore[assignment]
    opaque = _py_opaque  # type: ignore[assignment]
