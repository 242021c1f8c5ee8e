"""Automatic differentiation on a flat expression graph: dual numbers, a reverse tape, jets.

The graph (built by ``runner.tape`` from a SymPy expression) is four parallel arrays in
topological order, one entry per node ``i``::

    ops[i]     int64    operation code (CONST, VAR, ADD, ...; below)
    arg_a[i]   int64    index of the first operand node (VAR: index of the input variable)
    arg_b[i]   int64    index of the second operand node (binary ops), else -1
    const[i]   float64  CONST: the value; POWI/POWR: the exponent; otherwise 0

and ``outs`` (int64) lists the nodes that are the function's outputs (one for a scalar f,
m for a vector-valued f).  Each operation knows its value (:func:`_apply`) and its local
partial derivatives (:func:`_partials`); the modes only differ in how they chain them:

* forward mode (:func:`jvp`): dual numbers (value, tangent) carried node by node,
  giving J·v in one sweep (Griewank and Walther, *Evaluating Derivatives*, 2nd ed., ch. 3);
* reverse mode (:func:`vjp`): one forward sweep records every value on the tape, one
  backward sweep accumulates adjoints, giving wᵀJ (ibid., ch. 3.2; micrograd's engine);
* Taylor mode (:func:`jet`): truncated Taylor series of f(x + t·v) to order K with the
  standard recurrences (ibid., ch. 13, table 13.2), giving derivatives of any order;
* complex step (:func:`complex_step`): f(x + i·h·v) with h = 1e-20 gives J·v to
  machine precision without cancellation (Squire and Trapp, SIAM Review 40, 1998).

Kinks (abs, max, min at a tie): forward and Taylor mode return the one-sided directional
derivative in the direction v (the sign is decided by the first non-zero Taylor
coefficient), so ``jvp(v=+e)`` is the right derivative and ``-jvp(v=-e)`` the left one.
Reverse mode cannot see a direction and uses the subgradients of the expression compiler
(``runner.expr_parse``): abs'(0) = sign(0) = 0 and at a tie of max/min the whole derivative
goes to the second operand, so relu(u) = max(u, 0) has relu'(0) = 0 as in the tutorial.
"""
import numpy as np
from numba import njit

# operation codes (kept in step with runner.tape.OPS)
CONST, VAR, ADD, SUB, MUL, DIV, NEG, POWI, POWR, POW = 0, 1, 2, 3, 4, 5, 6, 7, 8, 9
EXP, LOG, SIN, COS, TAN, TANH, SQRT, ABS, MAX, MIN = 10, 11, 12, 13, 14, 15, 16, 17, 18, 19
SINH, COSH, ASIN, ACOS, ATAN, STEP, SIGN, SIGMOID = 20, 21, 22, 23, 24, 25, 26, 27
N_OPS = 28

COMPLEX_STEP = 1e-20
_JIT = dict(cache=True, error_model="numpy")  # IEEE results (inf, nan) instead of exceptions


@njit(**_JIT)
def _ipow(z, n):
    """z**n for an integer n by repeated squaring (exact signs for negative real z, and
    the complex step keeps full accuracy, unlike exp(n·log z))."""
    m = abs(n)
    result = z * 0.0 + 1.0
    base = z
    while m > 0:
        if m & 1:
            result = result * base
        base = base * base
        m >>= 1
    if n < 0:
        return 1.0 / result
    return result


@njit(**_JIT)
def _apply(op, va, vb, c):
    """Value of one node from its operands' values; works for float64 and complex128."""
    if op == ADD:
        return va + vb
    if op == SUB:
        return va - vb
    if op == MUL:
        return va * vb
    if op == DIV:
        return va / vb
    if op == NEG:
        return -va
    if op == POWI:
        return _ipow(va, int(c))
    if op == POWR:
        return va ** c
    if op == POW:
        return va ** vb
    if op == EXP:
        return np.exp(va)
    if op == LOG:
        return np.log(va)
    if op == SIN:
        return np.sin(va)
    if op == COS:
        return np.cos(va)
    if op == TAN:
        return np.tan(va)
    if op == TANH:
        return np.tanh(va)
    if op == SQRT:
        return np.sqrt(va)
    if op == ABS:   # the analytic continuation of |x| that the complex step needs
        return va if va.real >= 0 else -va
    if op == MAX:
        return va if va.real >= vb.real else vb
    if op == MIN:
        return va if va.real <= vb.real else vb
    if op == SINH:
        return np.sinh(va)
    if op == COSH:
        return np.cosh(va)
    if op == ASIN:
        return np.arcsin(va)
    if op == ACOS:
        return np.arccos(va)
    if op == ATAN:
        return np.arctan(va)
    if op == STEP:  # step(0) = 0, as runner.expr_parse.step
        return va * 0.0 + (1.0 if va.real > 0 else 0.0)
    if op == SIGMOID:  # 1 / (1 + e^-u) without overflow for large |u|
        if va.real >= 0:
            return 1.0 / (1.0 + np.exp(-va))
        ea = np.exp(va)
        return ea / (1.0 + ea)
    if op == SIGN:
        return va * 0.0 + (1.0 if va.real > 0 else (-1.0 if va.real < 0 else 0.0))
    return va * np.nan


@njit(**_JIT)
def _partials(op, va, vb, v, c):
    """(∂v/∂a, ∂v/∂b) of node value ``v`` = op(a, b) at the operand values (va, vb)."""
    if op == ADD:
        return 1.0, 1.0
    if op == SUB:
        return 1.0, -1.0
    if op == MUL:
        return vb, va
    if op == DIV:
        return 1.0 / vb, -v / vb
    if op == NEG:
        return -1.0, 0.0
    if op == POWI:
        n = int(c)
        return (n * _ipow(va, n - 1) if n != 0 else 0.0), 0.0
    if op == POWR:
        return c * va ** (c - 1.0), 0.0
    if op == POW:
        return vb * va ** (vb - 1.0), (v * np.log(va) if v != 0 else 0.0)
    if op == EXP:
        return v, 0.0
    if op == LOG:
        return 1.0 / va, 0.0
    if op == SIN:
        return np.cos(va), 0.0
    if op == COS:
        return -np.sin(va), 0.0
    if op == TAN:
        return 1.0 + v * v, 0.0
    if op == TANH:
        return 1.0 - v * v, 0.0
    if op == SQRT:
        return 0.5 / v, 0.0
    if op == ABS:
        return (1.0 if va > 0 else (-1.0 if va < 0 else 0.0)), 0.0
    if op == MAX:   # a tie goes to b
        return (1.0, 0.0) if va > vb else (0.0, 1.0)
    if op == MIN:
        return (1.0, 0.0) if va < vb else (0.0, 1.0)
    if op == SIGMOID:
        return v * (1.0 - v), 0.0
    if op == SINH:
        return np.cosh(va), 0.0
    if op == COSH:
        return np.sinh(va), 0.0
    if op == ASIN:
        return 1.0 / np.sqrt(1.0 - va * va), 0.0
    if op == ACOS:
        return -1.0 / np.sqrt(1.0 - va * va), 0.0
    if op == ATAN:
        return 1.0 / (1.0 + va * va), 0.0
    if op == STEP or op == SIGN:
        return 0.0, 0.0
    return np.nan, np.nan


@njit(**_JIT)
def evaluate(ops, arg_a, arg_b, const, x, values):
    """Forward sweep: ``values[i]`` = value of node i at the point ``x``.  Works for float64
    and, for the complex step, for complex128 ``x`` and ``values``."""
    for i in range(ops.size):
        op = ops[i]
        if op == CONST:
            values[i] = const[i]
        elif op == VAR:
            values[i] = x[arg_a[i]]
        else:
            a = arg_a[i]
            vb = values[arg_b[i]] if arg_b[i] >= 0 else values[a]   # unary ops ignore vb
            values[i] = _apply(op, values[a], vb, const[i])


@njit(**_JIT)
def complex_step(ops, arg_a, arg_b, const, outs, x, v, dout):
    """Directional derivative J·v by the complex step: Im f(x + i·h·v) / h, h = 1e-20.
    Writes ``dout`` (m,) for the m outputs.  Exact to rounding for analytic f."""
    z = x + 1j * COMPLEX_STEP * v
    values = np.empty(ops.size, dtype=np.complex128)
    evaluate(ops, arg_a, arg_b, const, z, values)
    for k in range(outs.size):
        dout[k] = values[outs[k]].imag / COMPLEX_STEP


@njit(**_JIT)
def _kink_tangent(op, va, vb, da, db):
    """Directional derivative of abs/max/min exactly at the kink (one-sided in the tangent)."""
    if op == ABS:
        return abs(da)
    if op == MAX:
        return max(da, db)
    return min(da, db)


@njit(**_JIT)
def jvp(ops, arg_a, arg_b, const, x, v, values, tangents):
    """Forward mode with dual numbers (value, tangent): after the sweep ``tangents[i]`` is
    the derivative of node i along ``v`` at ``x`` (one-sided at kinks)."""
    for i in range(ops.size):
        op = ops[i]
        if op == CONST:
            values[i] = const[i]
            tangents[i] = 0.0
            continue
        if op == VAR:
            values[i] = x[arg_a[i]]
            tangents[i] = v[arg_a[i]]
            continue
        a, b = arg_a[i], arg_b[i]
        va, da = values[a], tangents[a]
        vb, db = (values[b], tangents[b]) if b >= 0 else (0.0, 0.0)
        values[i] = _apply(op, va, vb, const[i])
        at_kink = (op == ABS and va == 0.0) or ((op == MAX or op == MIN) and va == vb)
        if at_kink:
            tangents[i] = _kink_tangent(op, va, vb, da, db)
        else:
            pa, pb = _partials(op, va, vb, values[i], const[i])
            t = pa * da
            if b >= 0 and db != 0.0:   # 0 * inf must not poison a tangent that ignores b
                t += pb * db
            tangents[i] = t


@njit(**_JIT)
def vjp(ops, arg_a, arg_b, const, outs, x, w, values, adjoints, grad_out):
    """Reverse mode: record values in a forward sweep, then sweep the tape backwards with
    adjoint[out_k] = w[k].  Writes ``grad_out`` = wᵀJ (n,), the gradient of Σ w_k f_k."""
    evaluate(ops, arg_a, arg_b, const, x, values)
    adjoints[:] = 0.0
    for k in range(outs.size):
        adjoints[outs[k]] += w[k]
    grad_out[:] = 0.0
    for i in range(ops.size - 1, -1, -1):
        adj = adjoints[i]
        op = ops[i]
        if adj == 0.0 or op == CONST:
            continue
        if op == VAR:
            grad_out[arg_a[i]] += adj
            continue
        a, b = arg_a[i], arg_b[i]
        vb = values[b] if b >= 0 else 0.0
        pa, pb = _partials(op, values[a], vb, values[i], const[i])
        adjoints[a] += adj * pa
        if b >= 0:
            adjoints[b] += adj * pb


@njit(**_JIT)
def jacobian_forward(ops, arg_a, arg_b, const, outs, x, J):
    """J (m, n) column by column: one dual-number sweep per input (like jax.jacfwd)."""
    n = x.size
    values = np.empty(ops.size)
    tangents = np.empty(ops.size)
    v = np.zeros(n)
    for j in range(n):
        v[:] = 0.0
        v[j] = 1.0
        jvp(ops, arg_a, arg_b, const, x, v, values, tangents)
        for k in range(outs.size):
            J[k, j] = tangents[outs[k]]


@njit(**_JIT)
def jacobian_reverse(ops, arg_a, arg_b, const, outs, x, J):
    """J (m, n) row by row: one reverse sweep per output (like jax.jacrev)."""
    values = np.empty(ops.size)
    adjoints = np.empty(ops.size)
    w = np.zeros(outs.size)
    row = np.empty(x.size)
    for k in range(outs.size):
        w[:] = 0.0
        w[k] = 1.0
        vjp(ops, arg_a, arg_b, const, outs, x, w, values, adjoints, row)
        J[k, :] = row


@njit(**_JIT)
def jacobian_complex_step(ops, arg_a, arg_b, const, outs, x, J):
    """J (m, n) by one complex-step evaluation per input."""
    n = x.size
    v = np.zeros(n)
    col = np.empty(outs.size)
    for j in range(n):
        v[:] = 0.0
        v[j] = 1.0
        complex_step(ops, arg_a, arg_b, const, outs, x, v, col)
        J[:, j] = col
