"""Software prefetch for compiled code: ``prefetch(array, (i, j, ...))`` asks the CPU to start
loading the cache line that holds ``array[i, j, ...]`` and returns at once (LLVM's
``llvm.prefetch``; a hint: no fault, no effect on results).

The environments' fused step (:mod:`octogym.envs.core`) uses it to fetch the next member's hot
state while the current member runs: at N = 1024 members a member's state has left the caches
by the time its next step comes, and its first dozens of loads would otherwise each wait for
memory in turn.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic


@intrinsic
def prefetch(typingctx, arr, index):
    """Prefetch (for writing, high locality) the line of ``arr[index]``; no bounds check, but
    an out-of-range address is harmless (prefetches never fault)."""
    if not isinstance(arr, types.Array) or not isinstance(index, types.UniTuple) or \
            index.count != arr.ndim or not isinstance(index.dtype, types.Integer):
        return None
    sig = types.void(arr, index)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, v, idxty.dtype, types.intp)
                for v in cgutils.unpack_tuple(builder, args[1], idxty.count)]
        ptr = cgutils.get_item_pointer2(
            context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
            strides=cgutils.unpack_tuple(builder, ary.strides), layout=aryty.layout, inds=inds,
            wraparound=False, boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
            "llvm.prefetch.p0")
        # (address, rw = 1 write, locality = 3 keep in all levels, cache = 1 data)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 1), ir.Constant(i32, 3),
                          ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
