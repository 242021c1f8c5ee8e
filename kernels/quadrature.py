"""Deterministic integration kernels on the unit cube: tensor-product rules (nodes and weights
given), sums over given point sets (QMC points, the user's samples), and a globally adaptive
Gauss-Kronrod (7, 15) rule for one dimension with QUADPACK's error estimate.

Every kernel sees the integrand as :func:`kernels.montecarlo.g_of` does (``kind``, ``P``, ``f``),
leaves non-finite values of g out of its sums and counts them, and sums in a fixed order.
"""
import math

import numpy as np
from numba import njit, prange, types

from kernels.montecarlo import PointFn, g_of
from kernels.signatures import MAT, VEC

_I64, _F64 = types.int64, types.float64
RULE_CHUNK = 1 << 14          # tensor-grid points per parallel chunk

# Gauss-Kronrod (7, 15) on [-1, 1] (QUADPACK qk15): Kronrod nodes, descending to 0; the Gauss
# nodes are XGK[1], XGK[3], XGK[5], XGK[7].
XGK = np.array([0.991455371120812639206854697526329, 0.949107912342758524526189684047851,
                0.864864423359769072789712788640926, 0.741531185599394439863864773280788,
                0.586087235467691130294144845693013, 0.405845151377397166906606412076961,
                0.207784955007898467600689403773245, 0.0])
WGK = np.array([0.022935322010529224963732008058970, 0.063092092629978553290700663189204,
                0.104790010322250183839876322541518, 0.140653259715525918745189590510238,
                0.169004726639267902826583426598550, 0.190350578064785409913256402421014,
                0.204432940075298892414161999234649, 0.209482141084727828012999174891714])
WG = np.array([0.129484966168869693270611432679082, 0.279705391489276667901467771423780,
               0.381830050505118944950369775488975, 0.417959183673469387755102040816327])


@njit(types.void(_I64, VEC, PointFn, MAT, VEC, VEC), cache=True, parallel=True)
def point_sums(kind, P, f, U, weights, out):
    """out = [sum_j w_j g(U_j), sum_j w_j g(U_j)^2, number of non-finite g] over the rows of U
    (non-finite values left out), summed serially in row order."""
    n, d = U.shape
    vals = np.empty(n)
    for j in prange(n):
        x = np.empty(d)
        vals[j] = g_of(kind, P, f, U[j], x)
    s0 = 0.0
    s1 = 0.0
    bad = 0.0
    for j in range(n):
        if not math.isfinite(vals[j]):
            bad += 1.0
            continue
        s0 += weights[j] * vals[j]
        s1 += weights[j] * vals[j] * vals[j]
    out[0] = s0
    out[1] = s1
    out[2] = bad


@njit(cache=True)
def _rule_chunk(kind, P, f, d, nodes, weights, first, count, row):
    m = nodes.size
    digit = np.empty(d, dtype=np.int64)
    rest = first
    for i in range(d):
        digit[i] = rest % m
        rest //= m
    u = np.empty(d)
    x = np.empty(d)
    s0 = 0.0
    s1 = 0.0
    bad = 0.0
    for _ in range(count):
        w = 1.0
        for i in range(d):
            u[i] = nodes[digit[i]]
            w *= weights[digit[i]]
        g = g_of(kind, P, f, u, x)
        if math.isfinite(g):
            s0 += w * g
            s1 += w * g * g
        else:
            bad += 1.0
        for i in range(d):          # next multi-index (an odometer in base m)
            digit[i] += 1
            if digit[i] < m:
                break
            digit[i] = 0
    row[0] = s0
    row[1] = s1
    row[2] = bad


@njit(types.void(_I64, VEC, PointFn, _I64, VEC, VEC, _I64, MAT), cache=True, parallel=True)
def rule_sums(kind, P, f, d, nodes, weights, first, sums):
    """A tensor-product rule on [0, 1]^d without storing the grid: per chunk of RULE_CHUNK grid
    points, [sum w g, sum w g^2, non-finite count], w the product of the 1-D weights; row r of
    ``sums`` gets chunk ``first + r`` (``first`` = 0 and ceil(m^d / RULE_CHUNK) rows: the whole
    grid).  Sum the rows in order for the rule's value."""
    total = nodes.size ** d
    for r in prange(sums.shape[0]):
        start = (first + r) * RULE_CHUNK
        _rule_chunk(kind, P, f, d, nodes, weights, start, min(RULE_CHUNK, total - start), sums[r])


@njit(cache=True)
def _gk15(kind, P, f, a, b, u, x):
    """(Kronrod estimate, QUADPACK error estimate, non-finite count) of g over [a, b]."""
    centre = 0.5 * (a + b)
    half = 0.5 * (b - a)
    vals = np.empty(15)
    bad = 0
    for k in range(15):
        t = XGK[k] if k < 8 else -XGK[k - 8]
        u[0] = centre + half * t
        v = g_of(kind, P, f, u, x)
        if not math.isfinite(v):
            bad += 1
            v = 0.0
        vals[k] = v
    resk = WGK[7] * vals[7]
    resg = WG[3] * vals[7]
    for k in range(7):
        pair = vals[k] + vals[8 + k]
        resk += WGK[k] * pair
        if k % 2 == 1:
            resg += WG[k // 2] * pair
    mean = 0.5 * resk
    resasc = WGK[7] * abs(vals[7] - mean)
    for k in range(7):
        resasc += WGK[k] * (abs(vals[k] - mean) + abs(vals[8 + k] - mean))
    resk *= half
    resasc *= abs(half)
    err = abs((resk - resg * half))
    if resasc != 0.0 and err != 0.0:     # QUADPACK's scaling of |K15 - G7|
        err = resasc * min(1.0, (200.0 * err / resasc) ** 1.5)
    return resk, err, bad


@njit(types.void(_I64, VEC, PointFn, _I64, _F64, _F64, VEC), cache=True)
def adaptive_gk15(kind, P, f, max_evals, abs_tol, rel_tol, out):
    """Globally adaptive Gauss-Kronrod (7, 15) on [0, 1] (as QUADPACK's qag): bisect the interval
    with the largest error estimate until the summed estimate meets max(abs_tol, rel_tol |I|)
    or the next bisection would exceed max_evals evaluations.

    out = [estimate, error estimate, evaluations, intervals, non-finite count]; the estimate
    sums the intervals in a fixed order.
    """
    cap = max(1, (max_evals - 15) // 30 + 1)
    lo = np.empty(cap)
    hi = np.empty(cap)
    est = np.empty(cap)
    err = np.empty(cap)
    u = np.empty(1)
    x = np.empty(1)
    lo[0], hi[0] = 0.0, 1.0
    est[0], err[0], bad = _gk15(kind, P, f, 0.0, 1.0, u, x)
    count = 1
    evals = 15
    while count < cap:
        total = est[:count].sum()
        if err[:count].sum() <= max(abs_tol, rel_tol * abs(total)):
            break
        worst = np.argmax(err[:count])
        a, b = lo[worst], hi[worst]
        mid = 0.5 * (a + b)
        if mid <= a or mid >= b:         # no room left in floating point
            break
        e1, r1, n1 = _gk15(kind, P, f, a, mid, u, x)
        e2, r2, n2 = _gk15(kind, P, f, mid, b, u, x)
        hi[worst], est[worst], err[worst] = mid, e1, r1
        lo[count], hi[count], est[count], err[count] = mid, b, e2, r2
        count += 1
        evals += 30
        bad += n1 + n2
    out[0] = est[:count].sum()
    out[1] = err[:count].sum()
    out[2] = evals
    out[3] = count
    out[4] = bad
