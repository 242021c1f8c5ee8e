"""Taylor mode: derivatives of any order on the flat expression graph of ``kernels.autodiff``.

:func:`jet` propagates the truncated Taylor series of every node along the line x + t·v,
``T[i, k]`` = (1/k!) dᵏ/dtᵏ node_i(x + t·v) at t = 0, with the classical recurrences for
products, quotients and the elementary functions (Griewank and Walther, *Evaluating
Derivatives*, 2nd ed., SIAM 2008, table 13.2; the same rules as ``jax.experimental.jet``).
Each costs O(K²) per node, exact up to rounding: no step size anywhere.

From the jets: the k-th derivative of a 1-D function is k!·T[out, k]; a Hessian entry is
read off second-order jets by polarisation (:func:`hessian`), vᵀHv = 2·T[out, 2].
At a kink (abs, max, min, step, sign) the branch is chosen by the first non-zero
coefficient, so the jet is the one-sided expansion in the direction of v.
"""
import numpy as np
from numba import njit

from kernels.autodiff import (ABS, ACOS, ADD, ASIN, ATAN, CONST, COS, COSH, DIV, EXP, LOG, MAX,
                              MIN, MUL, NEG, POW, POWI, POWR, SIGMOID, SIGN, SIN, SINH, SQRT, STEP,
                              SUB, TAN, TANH, VAR)

_JIT = dict(cache=True, error_model="numpy")


@njit(**_JIT)
def _mul(u, w, out):
    """Cauchy product: out_k = Σ_{j≤k} u_j w_{k-j}."""
    for k in range(out.size):
        s = 0.0
        for j in range(k + 1):
            s += u[j] * w[k - j]
        out[k] = s


@njit(**_JIT)
def _div(u, w, out):
    """q = u / w: q_k = (u_k - Σ_{j<k} q_j w_{k-j}) / w_0."""
    for k in range(out.size):
        s = u[k]
        for j in range(k):
            s -= out[j] * w[k - j]
        out[k] = s / w[0]


@njit(**_JIT)
def _exp(u, out):
    """e = exp(u): e_k = (1/k) Σ_{j=1..k} j u_j e_{k-j}."""
    out[0] = np.exp(u[0])
    for k in range(1, out.size):
        s = 0.0
        for j in range(1, k + 1):
            s += j * u[j] * out[k - j]
        out[k] = s / k


@njit(**_JIT)
def _log(u, out):
    """l = log(u): l_k = (u_k - (1/k) Σ_{j=1..k-1} j l_j u_{k-j}) / u_0."""
    out[0] = np.log(u[0])
    for k in range(1, out.size):
        s = 0.0
        for j in range(1, k):
            s += j * out[j] * u[k - j]
        out[k] = (u[k] - s / k) / u[0]


@njit(**_JIT)
def _sincos(u, s, c, hyperbolic):
    """s' = c·u' and c' = ∓s·u' (sin/cos, or sinh/cosh when ``hyperbolic``)."""
    if hyperbolic:
        s[0], c[0] = np.sinh(u[0]), np.cosh(u[0])
    else:
        s[0], c[0] = np.sin(u[0]), np.cos(u[0])
    sign = 1.0 if hyperbolic else -1.0
    for k in range(1, s.size):
        ss = 0.0
        cc = 0.0
        for j in range(1, k + 1):
            ss += j * u[j] * c[k - j]
            cc += j * u[j] * s[k - j]
        s[k] = ss / k
        c[k] = sign * cc / k


@njit(**_JIT)
def _powr(u, r, out):
    """p = u^r (real r): p_k = 1/(k u_0) Σ_{j=1..k} (r·j - (k-j)) u_j p_{k-j}."""
    out[0] = u[0] ** r
    for k in range(1, out.size):
        s = 0.0
        for j in range(1, k + 1):
            s += (r * j - (k - j)) * u[j] * out[k - j]
        out[k] = s / (k * u[0])


@njit(**_JIT)
def _ipow(u, n, out, tmp, base):
    """u^n for an integer n by repeated squaring of series (valid at u_0 = 0)."""
    out[:] = 0.0
    out[0] = 1.0
    base[:] = u
    m = abs(n)
    while m > 0:
        if m & 1:
            _mul(out, base, tmp)
            out[:] = tmp
        m >>= 1
        if m > 0:
            _mul(base, base, tmp)
            base[:] = tmp
    if n < 0:
        base[:] = 0.0
        base[0] = 1.0
        tmp[:] = out
        _div(base, tmp, out)


@njit(**_JIT)
def _sqrt(u, out):
    """s = √u: s_k = (u_k - Σ_{j=1..k-1} s_j s_{k-j}) / (2 s_0)."""
    out[0] = np.sqrt(u[0])
    for k in range(1, out.size):
        s = u[k]
        for j in range(1, k):
            s -= out[j] * out[k - j]
        out[k] = s / (2.0 * out[0])


@njit(**_JIT)
def _riccati(u, out, w, f0, a, b, c):
    """Series of f(u) where f' = a + b·f + c·f² (tan: 1 + f², tanh: 1 - f², sigmoid: f - f²):
    out_k = (1/k) Σ_{j=1..k} j u_j w_{k-j} with w = a + b·out + c·out² built alongside."""
    out[0] = f0
    w[0] = a + b * f0 + c * f0 * f0
    for k in range(1, out.size):
        s = 0.0
        for j in range(1, k + 1):
            s += j * u[j] * w[k - j]
        out[k] = s / k
        q = 0.0
        for j in range(k + 1):
            q += out[j] * out[k - j]
        w[k] = b * out[k] + c * q


@njit(**_JIT)
def _sigmoid0(t):
    return 1.0 / (1.0 + np.exp(-t)) if t >= 0 else np.exp(t) / (1.0 + np.exp(t))


@njit(**_JIT)
def _integrate_ratio(u, w, out, tmp, p, value0):
    """out with out_0 = value0 and out' = u' / w (atan, asin, acos); tmp, p are scratch."""
    K = out.size - 1
    p[K] = 0.0
    for k in range(K):      # p = u' as a series
        p[k] = (k + 1) * u[k + 1]
    _div(p, w, tmp)
    out[0] = value0
    for k in range(1, K + 1):
        out[k] = tmp[k - 1] / k


@njit(**_JIT)
def _first_sign(u):
    """Sign of the series u near t = 0+: the sign of its first non-zero coefficient."""
    for k in range(u.size):
        if u[k] > 0:
            return 1.0
        if u[k] < 0:
            return -1.0
    return 0.0


@njit(**_JIT)
def _node(op, u, w, c, out, s1, s2, s3):
    """Taylor series ``out`` of one node from its operands' series u (and w)."""
    if op == ADD:
        out[:] = u + w
    elif op == SUB:
        out[:] = u - w
    elif op == NEG:
        out[:] = -u
    elif op == MUL:
        _mul(u, w, out)
    elif op == DIV:
        _div(u, w, out)
    elif op == POWI:
        _ipow(u, int(c), out, s1, s2)
    elif op == POWR:
        _powr(u, c, out)
    elif op == POW:           # u^w = exp(w·log u)
        _log(u, s1)
        _mul(w, s1, s2)
        _exp(s2, out)
    elif op == EXP:
        _exp(u, out)
    elif op == LOG:
        _log(u, out)
    elif op == SIN:
        _sincos(u, out, s1, False)
    elif op == COS:
        _sincos(u, s1, out, False)
    elif op == SINH:
        _sincos(u, out, s1, True)
    elif op == COSH:
        _sincos(u, s1, out, True)
    elif op == TAN:
        _riccati(u, out, s1, np.tan(u[0]), 1.0, 0.0, 1.0)
    elif op == TANH:
        _riccati(u, out, s1, np.tanh(u[0]), 1.0, 0.0, -1.0)
    elif op == SQRT:
        _sqrt(u, out)
    elif op == SIGMOID:
        _riccati(u, out, s1, _sigmoid0(u[0]), 0.0, 1.0, -1.0)
    elif op == ATAN:           # atan' = u' / (1 + u²)
        _mul(u, u, s2)
        s2[0] += 1.0
        _integrate_ratio(u, s2, out, s1, s3, np.arctan(u[0]))
    elif op == ASIN or op == ACOS:  # asin' = -acos' = u' / √(1 - u²)
        _mul(u, u, s3)
        s3[:] = -s3
        s3[0] += 1.0
        _sqrt(s3, s2)
        _integrate_ratio(u, s2, out, s1, s3, np.arcsin(u[0]))
        if op == ACOS:
            out[:] = -out
            out[0] = np.arccos(u[0])
    elif op == ABS:
        sg = _first_sign(u)
        out[:] = u * (sg if sg != 0.0 else 1.0)
    elif op == MAX or op == MIN:
        sg = _first_sign(u - w)   # a tie (sg = 0) goes to w, as in reverse mode
        pick_u = sg > 0 if op == MAX else sg < 0
        out[:] = u if pick_u else w
    elif op == STEP or op == SIGN:
        sg = _first_sign(u)
        out[:] = 0.0
        if op == STEP:
            out[0] = 1.0 if sg > 0 else 0.0
        else:
            out[0] = sg
    else:
        out[:] = np.nan


@njit(**_JIT)
def jet(ops, arg_a, arg_b, const, x, v, T):
    """Taylor coefficients of every node along x + t·v; ``T`` is (n_nodes, K+1)."""
    K1 = T.shape[1]
    s1 = np.empty(K1)
    s2 = np.empty(K1)
    s3 = np.empty(K1)
    zero = np.zeros(K1)
    for i in range(ops.size):
        op = ops[i]
        T[i, :] = 0.0
        if op == CONST:
            T[i, 0] = const[i]
        elif op == VAR:
            T[i, 0] = x[arg_a[i]]
            if K1 > 1:
                T[i, 1] = v[arg_a[i]]
        else:
            w = T[arg_b[i]] if arg_b[i] >= 0 else zero
            _node(op, T[arg_a[i]], w, const[i], T[i], s1, s2, s3)


@njit(**_JIT)
def derivatives_along(ops, arg_a, arg_b, const, out_node, x, v, order, derivs):
    """dᵏ/dtᵏ f(x + t·v) at t = 0 for k = 0..order into ``derivs`` (order+1,)."""
    T = np.empty((ops.size, order + 1))
    jet(ops, arg_a, arg_b, const, x, v, T)
    fact = 1.0
    for k in range(order + 1):
        if k > 0:
            fact *= k
        derivs[k] = fact * T[out_node, k]


@njit(**_JIT)
def hessian(ops, arg_a, arg_b, const, out_node, x, H):
    """Hessian (n, n) of output ``out_node`` from second-order jets by polarisation:
    q(v) = vᵀHv = 2·T[out, 2];  H_ii = q(e_i),  H_ij = (q(e_i + e_j) - q(e_i) - q(e_j)) / 2."""
    n = x.size
    T = np.empty((ops.size, 3))
    v = np.zeros(n)
    diag = np.empty(n)
    for i in range(n):
        v[:] = 0.0
        v[i] = 1.0
        jet(ops, arg_a, arg_b, const, x, v, T)
        diag[i] = 2.0 * T[out_node, 2]
        H[i, i] = diag[i]
    for i in range(n):
        for j in range(i + 1, n):
            v[:] = 0.0
            v[i] = 1.0
            v[j] = 1.0
            jet(ops, arg_a, arg_b, const, x, v, T)
            h = 0.5 * (2.0 * T[out_node, 2] - diag[i] - diag[j])
            H[i, j] = h
            H[j, i] = h
