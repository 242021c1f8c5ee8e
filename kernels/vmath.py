"""tanh in float64 as a loop LLVM vectorises: no call per element, no branch, no table.

``math.tanh`` is a call into libm for every element (~3.6 ns each here), which no loop around it
can vectorise (numba has no vector math library on this machine: no SVML).  ``tanh_f64`` is
glibc's formula, written without branches so that a loop of it compiles to AVX2 (or AVX-512)
vector code:

    |x| < 1:   t = expm1(-2|x|),  tanh|x| = -t / (t + 2)
    |x| >= 1:  t = expm1(2|x|),   tanh|x| = 1 - 2 / (t + 2)     (|x| clamped to 22: 1.0 beyond)

with expm1 by the usual reduction u = q ln2 + r (|r| <= ln2/2, ln2 split in two so that q ln2_hi
is exact), expm1(r) by its Taylor series to degree 13 (truncation below 0.02 ulp on that range)
and expm1(u) = 2^q expm1(r) + (2^q - 1), 2^q made from q's bits.  Odd, exact at 0, tanh(x) = x
below 2^-28 (the first neglected term is under 2^-56 of x, so denormals pass unchanged), +-1 at
+-inf, NaN for NaN.

Error: at most 2 ulp of the correctly rounded tanh over the whole float64 range (measured
against mpmath at 50 digits: tests/test_vmath.py; 1 ulp in most of the range).
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic


@intrinsic
def f64_bits(typingctx, x):
    """The bits of a float64, as an int64 (a bitcast: no instruction in vector code)."""
    if x != types.float64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def bits_f64(typingctx, i):
    """The float64 whose bits are the int64 i."""
    if i != types.int64:
        return None

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


_LN2_HI = 6.93147180369123816490e-01     # 0x3fe62e42fee00000: q * _LN2_HI is exact for |q| < 2^20
_LN2_LO = 1.90821492927058770002e-10     # ln 2 - _LN2_HI
_INV_LN2 = 1.44269504088896338700e+00
_ROUND = 6755399441055744.0               # 1.5 * 2^52: adding it rounds to an integer, kept in the low bits
_ROUND_BITS = 0x4338000000000000          # the bits of _ROUND
# 1/k! for k = 13 .. 2, nearest float64
_C13, _C12, _C11, _C10 = 1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0, 1.0 / 3628800.0
_C9, _C8, _C7, _C6 = 1.0 / 362880.0, 1.0 / 40320.0, 1.0 / 5040.0, 1.0 / 720.0
_C5, _C4, _C3, _C2 = 1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5
_CLAMP = 22.0                             # tanh(x) rounds to 1.0 from 19.06 on
_TINY = 2.0 ** -28


@njit(cache=True, inline="always")
def _expm1(u):
    """e^u - 1 for -2 <= u <= 44 (what tanh_f64 needs), within about 1 ulp."""
    s = u * _INV_LN2 + _ROUND                      # q in the low bits, rounded to nearest
    q = s - _ROUND
    iq = f64_bits(s) - _ROUND_BITS                 # q as an int64
    r = (u - q * _LN2_HI) - q * _LN2_LO
    p = r * _C13 + _C12
    p = r * p + _C11
    p = r * p + _C10
    p = r * p + _C9
    p = r * p + _C8
    p = r * p + _C7
    p = r * p + _C6
    p = r * p + _C5
    p = r * p + _C4
    p = r * p + _C3
    p = r * p + _C2
    em = r + (r * r) * p                           # expm1(r)
    two_q = bits_f64((iq + 1023) << 52)            # 2^q, -3 <= q <= 64: a normal number
    return two_q * em + (two_q - 1.0)


@njit(cache=True, inline="always")
def tanh_f64(x):
    """tanh of a float64 within 2 ulp, branch-free (see the module docstring)."""
    ax = abs(x)
    small = ax < 1.0
    c = ax if ax < _CLAMP else _CLAMP              # NaN -> _CLAMP (the NaN is put back below)
    t = _expm1(-2.0 * c if small else 2.0 * c)
    z = -t / (t + 2.0) if small else 1.0 - 2.0 / (t + 2.0)
    z = ax if ax < _TINY else z
    z = math.copysign(z, x)
    return x if x != x else z


@njit(cache=True, error_model="numpy")
def tanh_f64_into(F, G):
    """G = tanh_f64(F) elementwise over two flat arrays (numpy's error model: no
    ZeroDivisionError branch, which would keep the loop scalar; t + 2 > 1 never is zero)."""
    for i in range(F.size):
        G[i] = tanh_f64(F[i])


def tanh(x):
    """tanh_f64 over a NumPy array or scalar (for tests and callers outside numba)."""
    a = np.array(x, dtype=np.float64)
    out = np.empty_like(a)
    tanh_f64_into(a.reshape(-1), out.reshape(-1))
    return out if out.ndim else float(out)
