"""Scratch arrays on the stack, for kernels called millions of times on tiny inputs.

``np.empty`` goes through numba's allocator (malloc, a reference-counted MemInfo, free): about
16 ns a call measured here, plus the atomic reference counting of its views, which together
cost more than a whole call to a tiny network's objective.  ``stack_matrix`` instead reserves
its memory in the calling function's stack frame (an LLVM ``alloca`` in its entry block):
nothing to allocate, free or count, and it works in ``_nrt=False`` functions.

Rules: the capacity must be a compile-time constant (a module-level int) and the caller must
ensure rows * cols <= capacity (it is not checked); the array lives until the function that
calls ``stack_matrix`` returns, so never return it or keep it; keep capacities small (a few
KB: they are on the thread's stack).  It is an intrinsic, so it is always expanded in place in
the function that calls it.
"""
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import make_array, populate_array

_MATRIX = types.Array(types.float64, 2, "C")


@intrinsic
def stack_matrix(typingctx, capacity, rows, cols):
    """An uninitialised float64[:, ::1] of shape (rows, cols) in room for ``capacity`` values."""
    if not isinstance(capacity, types.IntegerLiteral) or not all(isinstance(a, types.Integer) for a in (rows, cols)):
        return None
    n = capacity.literal_value

    def codegen(context, builder, signature, args):
        _, r, c = args
        intp = context.get_value_type(types.intp)
        r, c = builder.sext(r, intp) if r.type.width < 64 else r, builder.sext(c, intp) if c.type.width < 64 else c
        data = cgutils.alloca_once(builder, context.get_value_type(types.float64), size=n)
        itemsize = context.get_constant(types.intp, 8)
        array = make_array(_MATRIX)(context, builder)
        populate_array(array, data=data, shape=[r, c], strides=[builder.mul(c, itemsize), itemsize],
                       itemsize=itemsize, meminfo=None)
        return array._getvalue()

    return _MATRIX(capacity, rows, cols), codegen
