"""Integration kernels: every integrand as a function g(u) on the unit cube [0, 1]^d, and the
sums that Monte Carlo, quasi-Monte Carlo and quadrature need from it.

Integrands (``kind``; P's layout per kind):
  BOX_EXPR    g = vol * f(a + (b - a) u), f compiled by runner.expr      P = [d, a (d), b (d)]
  POWER       g = (b - a) x^p, x = a + (b - a) u                         P = [1, a, b, p]
  GAUSS_PDF   density of N(mu, sigma^2) over the real line through x = mu + sigma tan(pi (u - 1/2)):
              g = phi(t) pi (1 + t^2), t = tan(pi (u - 1/2))  (a change of variables, no truncation)
                                                                         P = [mu, sigma]
  GENZ        the six Genz families on [0, 1]^d                           P = [d, family, c (d), w (d)]
  EXPECT      f(F^-1(u)) for X ~ uniform(a, b), normal(mu, sigma), exponential(rate): E_p[f(X)]
                                                                         P = [dist, p1, p2]
Monte Carlo sums (:func:`mc_sums`) are kept per chunk of CHUNK samples; chunk c draws from the
counter-based stream (seed, c), so the first k chunks of a run with n samples are the same
numbers as a run with k * CHUNK samples (checkpoints come from prefix sums, for free), and
the chunks are summed serially in a fixed order: the same seed gives bit-identical results
whatever the thread count.
"""
import math

import numpy as np
from numba import njit, prange, types

from kernels.rng import stream_key, uniform
from kernels.signatures import MAT, VEC

BOX_EXPR, POWER, GAUSS_PDF, GENZ, EXPECT = 0, 1, 2, 3, 4
OSCILLATORY, PRODUCT_PEAK, CORNER_PEAK, GAUSSIAN, CONTINUOUS, DISCONTINUOUS = 0, 1, 2, 3, 4, 5
UNIFORM, NORMAL, EXPONENTIAL = 0, 1, 2
PLAIN, ANTITHETIC, CONTROL, IMPORTANCE = 0, 1, 2, 3
CHUNK = 1 << 16
N_SUMS = 5          # per chunk: sum g, sum g^2, sum h, sum h^2, sum g h  (h: control variate / weight)

PointFn = types.FunctionType(types.float64(VEC))
TWO_PI = 2.0 * math.pi


@njit(cache=True)
def norm_ppf(p):
    """Inverse of the standard normal CDF (Acklam's rational approximation, then one Halley
    step on erfc: full double precision for p in (0, 1))."""
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
         1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
         6.680131188771972e+01, -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
         -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00)
    dd = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    if p <= 0.0:
        return -np.inf
    if p >= 1.0:
        return np.inf
    if p < 0.02425:
        q = math.sqrt(-2.0 * math.log(p))
        x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((dd[0] * q + dd[1]) * q + dd[2]) * q + dd[3]) * q + 1.0)
    elif p > 1.0 - 0.02425:
        q = math.sqrt(-2.0 * math.log(1.0 - p))
        x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((dd[0] * q + dd[1]) * q + dd[2]) * q + dd[3]) * q + 1.0)
    else:
        q = p - 0.5
        r = q * q
        x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
            (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    if x > 0.0:     # Phi(x) - p = (1 - p) - Q(x): no cancellation near p = 1 (1 - p is exact there)
        e = (1.0 - p) - 0.5 * math.erfc(x / math.sqrt(2.0))
    else:
        e = 0.5 * math.erfc(-x / math.sqrt(2.0)) - p
    u = e * math.sqrt(2.0 * math.pi) * math.exp(x * x / 2.0)
    return x - u / (1.0 + x * u / 2.0)


@njit(cache=True)
def _genz(u, P):
    d = int(P[0])
    fam = int(P[1])
    s = 0.0
    if fam == OSCILLATORY:
        for i in range(d):
            s += P[2 + i] * u[i]
        return math.cos(TWO_PI * P[2 + d] + s)
    if fam == PRODUCT_PEAK:
        prod = 1.0
        for i in range(d):
            c, w = P[2 + i], P[2 + d + i]
            prod *= 1.0 / (1.0 / (c * c) + (u[i] - w) * (u[i] - w))
        return prod
    if fam == CORNER_PEAK:
        for i in range(d):
            s += P[2 + i] * u[i]
        return (1.0 + s) ** (-(d + 1.0))
    if fam == GAUSSIAN:
        for i in range(d):
            c, w = P[2 + i], P[2 + d + i]
            s += c * c * (u[i] - w) * (u[i] - w)
        return math.exp(-s)
    if fam == CONTINUOUS:
        for i in range(d):
            s += P[2 + i] * abs(u[i] - P[2 + d + i])
        return math.exp(-s)
    # DISCONTINUOUS: 0 beyond w in the first two coordinates
    if u[0] > P[2 + d] or (d > 1 and u[1] > P[3 + d]):
        return 0.0
    for i in range(d):
        s += P[2 + i] * u[i]
    return math.exp(s)


@njit(cache=True)
def g_of(kind, P, f, u, x):
    """The integrand on the unit cube at u (x: scratch of length d)."""
    if kind == POWER:
        t = P[1] + (P[2] - P[1]) * u[0]
        if P[3] == 2.0:          # x^2, the tutorial's integrand: no call to pow
            return (P[2] - P[1]) * (t * t)
        return (P[2] - P[1]) * t ** P[3]
    if kind == GENZ:
        return _genz(u, P)
    if kind == GAUSS_PDF:
        t = math.tan(math.pi * (u[0] - 0.5))
        return math.exp(-0.5 * t * t) / math.sqrt(TWO_PI) * math.pi * (1.0 + t * t)
    if kind == EXPECT:
        dist = int(P[0])
        if dist == UNIFORM:
            x[0] = P[1] + (P[2] - P[1]) * u[0]
        elif dist == NORMAL:
            x[0] = P[1] + P[2] * norm_ppf(u[0])
        else:
            x[0] = -math.log1p(-u[0]) / P[1]
        return f(x)
    d = int(P[0])
    vol = 1.0
    for i in range(d):
        lo, hi = P[1 + i], P[1 + d + i]
        x[i] = lo + (hi - lo) * u[i]
        vol *= hi - lo
    return vol * f(x)


@njit(cache=True)
def _draw(key, counter, d, u):
    for i in range(d):
        u[i] = uniform(key, counter * d + i)


@njit(types.float64(VEC), cache=True)
def no_expression(x):
    """The PointFn given to the kernels for integrands that are not expressions."""
    return math.nan


_I64, _F64 = types.int64, types.float64


@njit(types.void(_I64, VEC, PointFn, _I64, _I64, _I64, _I64, _F64, MAT), cache=True, parallel=True)
def mc_sums(kind, P, f, d, n, seed, method, alpha, sums):
    """Per-chunk sums for n samples (``sums``: (ceil(n / CHUNK), N_SUMS)).

    PLAIN      g(U)
    ANTITHETIC (g(U) + g(1 - U)) / 2 per pair (each pair is two evaluations of the n)
    CONTROL    g(U) and the control h(U) = sum_i U_i (E h = d / 2) for a regression estimator
    IMPORTANCE U_i = V_i^(1/(alpha+1)) from q(u) = prod (alpha+1) u_i^alpha; g / q, weight 1 / q
    Columns: sum g, sum g^2, then per method: (h, h^2, g h) for CONTROL; (g(U) + g(1-U),
    g(U)^2 + g(1-U)^2, 0) for ANTITHETIC; (w, w^2, g^2 w) with w = 1/q for IMPORTANCE.
    """
    n_chunks = sums.shape[0]
    for c in prange(n_chunks):
        key = stream_key(seed, c)
        lo = c * CHUNK
        m = min(CHUNK, n - lo)
        u = np.empty(d)
        v = np.empty(d)
        x = np.empty(d)
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        s4 = 0.0
        if method == ANTITHETIC:
            m = m // 2
        if kind == POWER and method == PLAIN and P[3] == 2.0:   # the tutorial's x^2: a tight loop
            a, w = P[1], P[2] - P[1]
            for j in range(m):
                t = a + w * uniform(key, j)
                gj = w * (t * t)
                s0 += gj
                s1 += gj * gj
            m = 0
        for j in range(m):
            _draw(key, j, d, u)
            h = 0.0
            h2 = 0.0
            gh = 0.0
            if method == ANTITHETIC:
                for i in range(d):
                    v[i] = 1.0 - u[i]
                ga = g_of(kind, P, f, u, x)
                gb = g_of(kind, P, f, v, x)
                g = 0.5 * (ga + gb)
                h = ga + gb                     # the single evaluations, for plain MC's variance
                h2 = ga * ga + gb * gb
            elif method == IMPORTANCE:
                q = 1.0
                for i in range(d):
                    v[i] = u[i] ** (1.0 / (alpha + 1.0))
                    q *= (alpha + 1.0) * v[i] ** alpha
                h = 1.0 / q
                graw = g_of(kind, P, f, v, x)
                g = graw * h
                h2 = h * h
                gh = graw * graw * h            # E_q[g^2 / q] = E_uniform[g^2]
            else:
                g = g_of(kind, P, f, u, x)
                if method == CONTROL:
                    for i in range(d):
                        h += u[i]
            if method == CONTROL or method == PLAIN:
                h2 = h * h
                gh = g * h
            s0 += g
            s1 += g * g
            s2 += h
            s3 += h2
            s4 += gh
        sums[c, 0] = s0
        sums[c, 1] = s1
        sums[c, 2] = s2
        sums[c, 3] = s3
        sums[c, 4] = s4


@njit(types.void(_I64, VEC, PointFn, MAT, VEC, VEC), cache=True, parallel=True)
def point_sums(kind, P, f, U, weights, out):
    """sum_j w_j g(U_j) and sum_j w_j g(U_j)^2 over the rows of U (points given: QMC, quadrature,
    the user's samples) into out[0], out[1], summed serially in a fixed order."""
    n, d = U.shape
    vals = np.empty(n)
    for j in prange(n):
        x = np.empty(d)
        vals[j] = g_of(kind, P, f, U[j], x)
    s0 = 0.0
    s1 = 0.0
    for j in range(n):
        s0 += weights[j] * vals[j]
        s1 += weights[j] * vals[j] * vals[j]
    out[0] = s0
    out[1] = s1


@njit(types.void(_I64, VEC, PointFn, MAT, VEC), cache=True, parallel=True)
def point_values(kind, P, f, U, out):
    """g at every row of U."""
    n, d = U.shape
    for j in prange(n):
        x = np.empty(d)
        out[j] = g_of(kind, P, f, U[j], x)


@njit(types.void(types.uint64, VEC), cache=True)
def fill_uniforms(key, out):
    """out[i] = uniform(key, i)."""
    for i in range(out.size):
        out[i] = uniform(key, i)


@njit(types.void(_F64, _F64, _F64, _F64, _I64, _I64, VEC), cache=True)
def kl_sums(pm, ps, qm, qs, n, seed, out):
    """KL(p || q) for p = N(pm, ps^2), q = N(qm, qs^2) from n samples x ~ p (stream (seed, 2^41)):
    with log r = log q(x) - log p(x): k1 = -log r, k2 = (log r)^2 / 2, k3 = (r - 1) - log r
    (Schulman's estimators).  out = [sum k1, sum k1^2, sum k2, sum k2^2, sum k3, sum k3^2]."""
    key = stream_key(seed, 1 << 41)
    out[:] = 0.0
    for j in range(n):
        x = pm + ps * norm_ppf(uniform(key, j))
        zp = (x - pm) / ps
        zq = (x - qm) / qs
        logr = (0.5 * zp * zp - 0.5 * zq * zq) + math.log(ps / qs)
        k1 = -logr
        k2 = 0.5 * logr * logr
        k3 = math.expm1(logr) - logr
        out[0] += k1
        out[1] += k1 * k1
        out[2] += k2
        out[3] += k2 * k2
        out[4] += k3
        out[5] += k3 * k3


@njit(types.void(VEC, _F64, _F64, _F64, _F64, _F64, _I64, _I64, VEC), cache=True)
def elbo_sums(x, mu0, tau0, sigma, m, s, n, seed, out):
    """The ELBO of q(z) = N(m, s^2) for the model z ~ N(mu0, tau0^2), x_i | z ~ N(z, sigma^2):
    n samples z ~ q of log p(x | z) + log p(z) - log q(z).  out = [sum, sum of squares]."""
    key = stream_key(seed, 1 << 42)
    half_log_2pi = 0.5 * math.log(2.0 * math.pi)
    out[:] = 0.0
    for j in range(n):
        e = norm_ppf(uniform(key, j))
        z = m + s * e
        lp = 0.0
        for i in range(x.size):
            r = (x[i] - z) / sigma
            lp += -0.5 * r * r - math.log(sigma) - half_log_2pi
        r0 = (z - mu0) / tau0
        lp += -0.5 * r0 * r0 - math.log(tau0) - half_log_2pi
        lq = -0.5 * e * e - math.log(s) - half_log_2pi
        v = lp - lq
        out[0] += v
        out[1] += v * v
