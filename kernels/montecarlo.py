"""Monte Carlo kernels: every integrand as a function g(u) on the unit cube [0, 1]^d, and the
per-chunk sums that plain, antithetic, control-variate, importance and stratified sampling need.

Integrands (``kind``; P's layout per kind):
  BOX_EXPR    g = vol * f(a + (b - a) u), f compiled by runner.expr      P = [d, a (d), b (d)]
  POWER       g = (b - a) x^p, x = a + (b - a) u                         P = [1, a, b, p]
  GAUSS_PDF   density of N(mu, sigma^2) over the real line through x = mu + sigma tan(pi (u - 1/2)):
              g = phi(t) pi (1 + t^2), t = tan(pi (u - 1/2))  (a change of variables, no truncation)
                                                                         P = [mu, sigma]
  GENZ        the six Genz families on [0, 1]^d                           P = [d, family, c (d), w (d)]
  EXPECT      f(F^-1(u)) with independent X_i ~ uniform(a_i, b_i), normal(mu_i, sigma_i) or
              exponential(rate_i): E_p[f(X)]                              P = [d, dist, p1 (d), p2 (d)]
Non-finite values of g are not summed: each kernel counts them (a column of its sums) so the
task can say how many there were.

Random numbers: chunk c of CHUNK samples draws from the counter-based stream (seed, c), so the
first k chunks of a run with n samples are the same numbers as a run with k * CHUNK samples
(checkpoints come from prefix sums, for free), and the chunks are summed serially in a fixed
order: the same seed gives bit-identical results whatever the thread count.  Memory is the
per-chunk sums only, (n / CHUNK) x N_SUMS doubles; no sample is stored.
"""
import math

import numpy as np
from numba import njit, prange, types

from kernels.rng import stream_key, uniform, uniform_pair
from kernels.signatures import MAT, VEC

BOX_EXPR, POWER, GAUSS_PDF, GENZ, EXPECT = 0, 1, 2, 3, 4
OSCILLATORY, PRODUCT_PEAK, CORNER_PEAK, GAUSSIAN, CONTINUOUS, DISCONTINUOUS = 0, 1, 2, 3, 4, 5
UNIFORM, NORMAL, EXPONENTIAL = 0, 1, 2
PLAIN, ANTITHETIC, CONTROL, IMPORTANCE = 0, 1, 2, 3
Q_POWER, Q_NORMAL, Q_UNIFORM = 0, 1, 2     # importance proposals (see proposal_point)
CHUNK = 1 << 16
N_SUMS = 6          # per chunk: sum g, sum g^2, three method columns (see mc_sums), non-finite count
STRATIFIED_STREAMS = 1 << 40                # stratified sampling's streams: (seed, 2^40 + chunk)

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
def _expect_point(P, u, x):
    """x_i = F^-1(u_i) for the distribution of EXPECT's P (inverse CDF: no truncation)."""
    d = int(P[0])
    dist = int(P[1])
    for i in range(d):
        p1, p2 = P[2 + i], P[2 + d + i]
        if dist == UNIFORM:
            x[i] = p1 + (p2 - p1) * u[i]
        elif dist == NORMAL:
            x[i] = p1 + p2 * norm_ppf(u[i])
        else:
            x[i] = -math.log1p(-u[i]) / p1


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
        _expect_point(P, u, x)
        return f(x)
    d = int(P[0])
    vol = 1.0
    for i in range(d):
        lo, hi = P[1 + i], P[1 + d + i]
        x[i] = lo + (hi - lo) * u[i]
        vol *= hi - lo
    return vol * f(x)


@njit(types.float64(VEC), cache=True)
def no_expression(x):
    """The PointFn given to the kernels for integrands that are not expressions."""
    return math.nan


@njit(cache=True)
def norm_cdf(z):
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


@njit(cache=True)
def proposal_point(Q, u, v):
    """Map uniforms u to a point v of the importance proposal q on the unit cube; returns 1 / q(v).

    Q = [proposal, p1 (d), p2 (d), p3 (d), p4 (d)], a product over the coordinates of
      Q_POWER    q_i(v) = (alpha_i + 1) v^alpha_i          p1 = alpha   (v = u^(1 / (alpha + 1)))
      Q_NORMAL   N(loc_i, scale_i^2) truncated to [0, 1]    p1 = loc, p2 = scale, p3 = Phi(-loc/scale),
                                                            p4 = Phi((1-loc)/scale) - p3 (its mass)
      Q_UNIFORM  uniform on [lo_i, hi_i]                    p1 = lo, p2 = hi
    """
    d = u.size
    kind = int(Q[0])
    inv_q = 1.0
    for i in range(d):
        p1, p2, p3, p4 = Q[1 + i], Q[1 + d + i], Q[1 + 2 * d + i], Q[1 + 3 * d + i]
        if kind == Q_POWER:
            v[i] = u[i] ** (1.0 / (p1 + 1.0))
            inv_q /= (p1 + 1.0) * v[i] ** p1
        elif kind == Q_NORMAL:
            z = norm_ppf(p3 + u[i] * p4)
            v[i] = p1 + p2 * z
            inv_q *= p2 * p4 * math.sqrt(TWO_PI) * math.exp(0.5 * z * z)
        else:
            v[i] = p1 + (p2 - p1) * u[i]
            inv_q *= p2 - p1
    return inv_q


@njit(cache=True)
def _draw(key, counter, d, u):
    for i in range(d):
        u[i] = uniform(key, counter * d + i)


_I64, _F64 = types.int64, types.float64


@njit(cache=True, fastmath={"reassoc", "contract"})
def _square_sums(key, m, a, w, row):
    """The tutorial's x^2 on [a, a + w]: sums of g = w (a + w u)^2 over m samples, two uniforms per
    64-bit draw (:func:`kernels.rng.uniform_pair`; sample 2j is the high half of draw j, 2j + 1 the
    low half).  Reassociation lets the sums vectorise; NaN checks stay (no nnan/ninf flags)."""
    s0 = 0.0
    s1 = 0.0
    for j in range(m // 2):
        u1, u2 = uniform_pair(key, j)
        t = a + w * u1
        g = w * (t * t)
        s0 += g
        s1 += g * g
        t = a + w * u2
        g = w * (t * t)
        s0 += g
        s1 += g * g
    if m % 2:
        t = a + w * uniform_pair(key, m // 2)[0]
        g = w * (t * t)
        s0 += g
        s1 += g * g
    row[0] = s0
    row[1] = s1
    row[2:] = 0.0


@njit(cache=True)
def _chunk_sums(kind, P, f, d, key, m, method, Q, row):
    """One chunk of mc_sums (m samples from the stream with ``key``) into ``row``."""
    u = np.empty(d)
    v = np.empty(d)
    x = np.empty(d)
    s = np.zeros(N_SUMS)
    if method == ANTITHETIC:
        m = m // 2
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
            h = proposal_point(Q, u, v)     # the weight 1 / q
            graw = g_of(kind, P, f, v, x)
            g = graw * h
            h2 = h * h
            gh = graw * graw * h            # E_q[g^2 / q] = E_uniform[g^2]
        else:
            g = g_of(kind, P, f, u, x)
            if method == CONTROL:
                for i in range(d):
                    h += u[i]
                h2 = h * h
                gh = g * h
        if not math.isfinite(g):
            s[5] += 1.0
            continue
        s[0] += g
        s[1] += g * g
        s[2] += h
        s[3] += h2
        s[4] += gh
    row[:] = s


@njit(types.void(_I64, VEC, PointFn, _I64, _I64, _I64, _I64, VEC, _I64, MAT), cache=True, parallel=True)
def mc_sums(kind, P, f, d, n, seed, method, Q, first, sums):
    """Per-chunk sums of a run of n samples: row r of ``sums`` gets chunk ``first + r``
    (``first`` = 0 and ceil(n / CHUNK) rows: the whole run; a caller may fill the rows in
    pieces, the numbers do not depend on it).

    PLAIN      g(U)
    ANTITHETIC (g(U) + g(1 - U)) / 2 per pair (each pair is two evaluations of the n)
    CONTROL    g(U) and the control h(U) = sum_i U_i (E h = d / 2) for a regression estimator
    IMPORTANCE g(V) / q(V), V ~ q (:func:`proposal_point`, proposal ``Q``), weight 1 / q
    Columns: sum g, sum g^2, then per method: (h, h^2, g h) for CONTROL; (g(U) + g(1-U),
    g(U)^2 + g(1-U)^2, 0) for ANTITHETIC; (w, w^2, g^2 w) with w = 1/q for IMPORTANCE; then the
    number of non-finite g (left out of the sums).
    x^2 (POWER with p = 2) by PLAIN goes through a specialised loop on two uniforms per draw.
    """
    tight = kind == POWER and method == PLAIN and P[3] == 2.0
    for r in prange(sums.shape[0]):
        c = first + r
        key = stream_key(seed, c)
        m = min(CHUNK, n - c * CHUNK)
        if tight:
            _square_sums(key, m, P[1], P[2] - P[1], sums[r])
        else:
            _chunk_sums(kind, P, f, d, key, m, method, Q, sums[r])


@njit(cache=True)
def _stratum_chunk(kind, P, f, d, k, key, first, count, row):
    """Strata first .. first + count - 1 (of k^d, numbered in base k), two points in each."""
    u = np.empty(d)
    x = np.empty(d)
    cell = np.empty(d)
    s0 = 0.0
    s1 = 0.0
    s2 = 0.0
    bad = 0.0
    for j in range(count):
        rest = first + j
        for i in range(d):
            cell[i] = rest % k
            rest //= k
        pair = 0.0
        ga = 0.0
        for p in range(2):
            for i in range(d):
                u[i] = (cell[i] + uniform(key, (2 * j + p) * d + i)) / k
            gp = g_of(kind, P, f, u, x)
            if p == 0:
                ga = gp
            pair += gp
        gb = pair - ga
        if not math.isfinite(pair):
            bad += 2.0
            continue
        s0 += pair
        s1 += ga * ga + gb * gb
        s2 += (ga - gb) * (ga - gb)
    row[0] = s0
    row[1] = s1
    row[2] = s2
    row[3] = 0.0
    row[4] = 0.0
    row[5] = bad


@njit(types.void(_I64, VEC, PointFn, _I64, _I64, _I64, _I64, MAT), cache=True, parallel=True)
def stratified_sums(kind, P, f, d, k, seed, first, sums):
    """Stratified sampling: the cube cut into k^d equal cells, two uniform points in each.

    Chunk c holds CHUNK / 2 strata and draws from the stream (seed, 2^40 + c); row r of
    ``sums`` gets chunk ``first + r`` (``first`` = 0 and ceil(k^d / (CHUNK / 2)) rows: all).  Columns: sum g, sum g^2, sum over strata of (g_a - g_b)^2 (the
    within-stratum variance: Var(estimate) = sum (g_a - g_b)^2 / (4 k^{2d})), 0, 0, non-finite
    count.
    """
    n_strata = k ** d
    per = CHUNK // 2
    for r in prange(sums.shape[0]):
        c = first + r
        _stratum_chunk(kind, P, f, d, k, stream_key(seed, STRATIFIED_STREAMS + c), c * per,
                       min(per, n_strata - c * per), sums[r])


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
