"""Explicit vector code as Numba intrinsics: LLVM vector IR where the loop vectoriser falls short.

The fused softmax cross-entropy transposes each block of rows, so that its
exp, sum and log loops run down contiguous columns. As a scalar loop the
transposition costs a load and a strided store per element and took a quarter
of the kernel's time on AVX2 (sampled with ``perf``); as a separate loop over
the columns, LLVM turned the row maxima into a masked store per element
(``vmaskmovpd``, microcoded on AMD). Here four rows at a time are loaded as
vectors and transposed by shuffles, with the maxima taken in registers. The IR
uses ``<4 x double>`` vectors and generic LLVM intrinsics only, so LLVM lowers
it for whichever CPU Numba compiles for (AVX2, AVX-512, NEON).

Numba's cache keys a kernel on its own module's source file: after editing this
module, touch :mod:`._cpu_kernels` (or clear its ``__pycache__``) so that the
kernels calling these intrinsics are compiled again.

Functions
---------
:func:`transpose_rows`
    Four rows of logits into contiguous columns, and their maxima.
:func:`prefetch`
    A cache hint for a later block's data.
"""

from __future__ import annotations

from typing import Any

from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

from .._core.jit import JIT_OFF

__all__ = ["prefetch", "transpose_rows"]


def _vector_pointer(builder: ir.IRBuilder, data: ir.Value, index: ir.Value, n: int) -> ir.Value:
    """A ``<n x double>*`` to ``data[index]`` (``data`` a ``double*``)."""
    p = builder.gep(data, [index], inbounds=True)
    return builder.bitcast(p, ir.VectorType(ir.DoubleType(), n).as_pointer())


@intrinsic
def transpose_rows(
    typingctx: Any, src: Any, s: Any, k: Any, dst: Any, d: Any, dstride: Any, mx: Any
) -> Any:
    """Four rows of ``k`` logits into ``k`` columns of four, and the four row maxima.

    ``dst[d + j*dstride + q] = src[s + q*k + j]`` for q in 0..3, j in 0..k-1, and
    ``mx[d:d+4]`` = the rows' maxima, taken left to right as ``v if v > m else m``
    (NaN in the first column stays; a later NaN is skipped: the exp sum turns NaN
    anyway). 4 x 4 tiles by shuffles (four unaligned loads, eight shuffles, four
    stores: a scalar loop needs a load and a store per element), the last k % 4
    columns element by element. The caller keeps everything in bounds.
    """
    floats = (types.float32, types.float64)
    if not (
        isinstance(src, types.Array)
        and src.dtype in floats
        and isinstance(dst, types.Array)
        and dst.dtype == types.float64
        and isinstance(mx, types.Array)
        and mx.dtype == types.float64
    ):
        return None
    sig = types.void(src, s, k, dst, d, dstride, mx)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        sd = context.make_array(signature.args[0])(context, builder, args[0]).data
        dd = context.make_array(signature.args[3])(context, builder, args[3]).data
        md = context.make_array(signature.args[6])(context, builder, args[6]).data
        s0, kk, d0, dst_ = args[1], args[2], args[4], args[5]
        ity = kk.type
        f64 = ir.DoubleType()
        vf = ir.VectorType(f64, 4)
        elt = context.get_value_type(signature.args[0].dtype)  # float or double

        def widen(v: ir.Value) -> ir.Value:  # float32 logits: exact, as in the scalar loop
            return (
                v
                if elt == f64
                else builder.fpext(v, vf if isinstance(v.type, ir.VectorType) else f64)
            )

        def mix(a: ir.Value, b: ir.Value, lanes: list[int]) -> ir.Value:
            return builder.shuffle_vector(
                a, b, ir.Constant(ir.VectorType(ir.IntType(32), 4), lanes)
            )

        def col_ptr(j: ir.Value) -> ir.Value:
            return _vector_pointer(builder, dd, builder.add(d0, builder.mul(dst_, j)), 4)

        def take_max(m: ir.Value, v: ir.Value) -> ir.Value:
            return builder.select(builder.fcmp_ordered(">", v, m), v, m)

        mslot = cgutils.alloca_once(builder, vf)
        builder.store(ir.Constant(vf, [float("-inf")] * 4), mslot)
        first = cgutils.alloca_once_value(builder, ir.Constant(ir.IntType(1), 1))
        four = ir.Constant(ity, 4)
        ntiles = builder.udiv(kk, four)
        with cgutils.for_range(builder, ntiles) as loop:
            j0 = builder.mul(loop.index, four)
            rows = []
            for q in range(4):
                i = builder.add(builder.add(s0, builder.mul(kk, ir.Constant(ity, q))), j0)
                p = builder.bitcast(
                    builder.gep(sd, [i], inbounds=True), ir.VectorType(elt, 4).as_pointer()
                )
                rows.append(widen(builder.load(p, align=4)))
            t0, t1 = mix(rows[0], rows[1], [0, 4, 2, 6]), mix(rows[0], rows[1], [1, 5, 3, 7])
            t2, t3 = mix(rows[2], rows[3], [0, 4, 2, 6]), mix(rows[2], rows[3], [1, 5, 3, 7])
            cols = (
                mix(t0, t2, [0, 1, 4, 5]),
                mix(t1, t3, [0, 1, 4, 5]),
                mix(t0, t2, [2, 3, 6, 7]),
                mix(t1, t3, [2, 3, 6, 7]),
            )
            m = builder.load(mslot)
            # the first column starts the max as it is (a NaN there stays)
            m = builder.select(builder.load(first), cols[0], take_max(m, cols[0]))
            builder.store(ir.Constant(ir.IntType(1), 0), first)
            for c, col in enumerate(cols):
                builder.store(col, col_ptr(builder.add(j0, ir.Constant(ity, c))), align=8)
                if c:
                    m = take_max(m, col)
            builder.store(m, mslot)
        with cgutils.for_range(builder, builder.sub(kk, builder.mul(ntiles, four))) as loop:
            j = builder.add(builder.mul(ntiles, four), loop.index)
            col = ir.Constant(vf, ir.Undefined)
            for q in range(4):
                i = builder.add(builder.add(s0, builder.mul(kk, ir.Constant(ity, q))), j)
                v = widen(builder.load(builder.gep(sd, [i], inbounds=True)))
                col = builder.insert_element(col, v, ir.Constant(ir.IntType(32), q))
            builder.store(col, col_ptr(j), align=8)
            m = builder.load(mslot)
            m = builder.select(builder.load(first), col, take_max(m, col))
            builder.store(ir.Constant(ir.IntType(1), 0), first)
            builder.store(m, mslot)
        builder.store(builder.load(mslot), _vector_pointer(builder, md, d0, 4), align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def prefetch(typingctx: Any, a: Any, i: Any) -> Any:
    """Ask the CPU to bring the cache line holding ``a[i]`` into cache (``llvm.prefetch``).

    A hint: no fault and no effect on results, even past the end of ``a``.
    """
    if not isinstance(a, types.Array) or not isinstance(i, types.Integer):
        return None
    sig = types.void(a, i)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        i8p = ir.IntType(8).as_pointer()
        p = builder.bitcast(
            builder.gep(data, [args[1]]), i8p
        )  # not inbounds: may point past the end
        fn = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [i8p, ir.IntType(32), ir.IntType(32), ir.IntType(32)]),
            "llvm.prefetch.p0",
        )
        i32 = ir.IntType(32)
        # read, high temporal locality (into L1), data cache
        builder.call(fn, [p, ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen


# NUMBA_DISABLE_JIT=1 (the coverage run) runs the kernels as Python, where an intrinsic has no
# body: each gets its Python twin, element by element as documented above
def _py_transpose_rows(src: Any, s: Any, k: Any, dst: Any, d: Any, dstride: Any, mx: Any) -> None:
    s, k, d, dstride = int(s), int(k), int(d), int(dstride)
    for q in range(4):
        m = float(src[s + q * k])
        for j in range(k):
            v = float(src[s + q * k + j])
            dst[d + j * dstride + q] = v
            m = v if v > m else m
        mx[d + q] = m


def _py_prefetch(a: Any, i: Any) -> None:
    return None


if JIT_OFF:
    transpose_rows = _py_transpose_rows  # type: ignore[assignment]
    prefetch = _py_prefetch  # type: ignore[assignment]
