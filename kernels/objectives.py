"""Named objectives with analytic gradients and Hessians, as cached numba functions.

Every function here has the objective protocol of :mod:`kernels.signatures`
(``value_grad(theta, grad_out, P, X, y) -> loss`` and ``hessian(theta, H_out, P, X, y)``),
so one compiled descent kernel takes any of them.  ``P`` carries the constants; its layout
is given per function below and packed by ``runner.problems``.

Test functions (n-dimensional where the function is defined so):
  quadratic         f = 1/2 x'Sx + b'x + c          P = [d, S (d*d, row-major, symmetric), b (d), c]
  rosenbrock        f = sum_i b (x_{i+1} - x_i^2)^2 + (a - x_i)^2        P = [a, b]
  rastrigin         f = A n + sum_i x_i^2 - A cos(2 pi x_i)               P = [A]
  ackley            f = -a exp(-b r) - exp(s) + a + e,  r = sqrt(mean x^2), s = mean cos(c x)
                                                                         P = [a, b, c]
  styblinski_tang   f = 1/2 sum_i x_i^4 - 16 x_i^2 + 5 x_i                P = []
(The fixed two-dimensional functions, Beale, Booth, Himmelblau, Goldstein-Price and Matyas,
are formulas compiled by ``runner.expr``: SymPy derives them, nothing is written by hand.)

Data losses over rows X (n, k) and targets y (n,), theta = [w (k), b] (b present when
fit_intercept), z_i = w.x_i + b, r = 1/n (mean) or 1 (sum):
  mse        L = r sum_i (z_i - y_i)^2 + l2 |w|^2
  logistic   L = r sum_i log(1 + exp(-s_i z_i)) + l2 |w|^2      s_i = y_i in {-1, +1}
  hinge      L = r sum_i max(0, 1 - s_i z_i) + l2 |w|^2         (subgradient 0 at the kink)
P = [l2, fit_intercept (0/1), reduction (0 = mean, 1 = sum)].  The bias is not penalised.
An empty batch (n = 0) gives loss 0 and the L2 term only.
"""
import math

import numpy as np
from numba import njit

from kernels.signatures import HESSIAN_SIG, OBJECTIVE_SIG

E = math.e
TWO_PI = 2.0 * math.pi
# Only reassociation and FMA contraction, never fastmath=True: that would also assume no NaN
# or inf (nnan/ninf) and drop the checks that detect divergence.  Sums over rows are then
# done in SIMD lanes, in an order fixed by the compiled code, so results stay deterministic.
REASSOC = {"reassoc", "contract"}


# ---- quadratic ---------------------------------------------------------------------------

@njit(OBJECTIVE_SIG, cache=True)
def quadratic_value_grad(theta, grad_out, P, X, y):
    d = int(P[0])
    f = P[1 + d * d + d]
    for i in range(d):
        s = 0.0
        for j in range(d):
            s += P[1 + i * d + j] * theta[j]
        bi = P[1 + d * d + i]
        grad_out[i] = s + bi
        f += 0.5 * theta[i] * s + bi * theta[i]
    return f


@njit(HESSIAN_SIG, cache=True)
def quadratic_hessian(theta, H_out, P, X, y):
    d = int(P[0])
    for i in range(d):
        for j in range(d):
            H_out[i, j] = P[1 + i * d + j]


# ---- Rosenbrock --------------------------------------------------------------------------

@njit(OBJECTIVE_SIG, cache=True)
def rosenbrock_value_grad(theta, grad_out, P, X, y):
    a, b = P[0], P[1]
    n = theta.shape[0]
    grad_out[:] = 0.0
    f = 0.0
    for i in range(n - 1):
        u = theta[i + 1] - theta[i] * theta[i]
        v = a - theta[i]
        f += b * u * u + v * v
        grad_out[i] += -4.0 * b * theta[i] * u - 2.0 * v
        grad_out[i + 1] += 2.0 * b * u
    return f


@njit(HESSIAN_SIG, cache=True)
def rosenbrock_hessian(theta, H_out, P, X, y):
    b = P[1]
    n = theta.shape[0]
    H_out[:, :] = 0.0
    for i in range(n - 1):
        H_out[i, i] += 12.0 * b * theta[i] * theta[i] - 4.0 * b * theta[i + 1] + 2.0
        H_out[i + 1, i + 1] += 2.0 * b
        H_out[i, i + 1] = -4.0 * b * theta[i]
        H_out[i + 1, i] = -4.0 * b * theta[i]


# ---- Rastrigin ---------------------------------------------------------------------------

@njit(OBJECTIVE_SIG, cache=True)
def rastrigin_value_grad(theta, grad_out, P, X, y):
    A = P[0]
    n = theta.shape[0]
    f = A * n
    for i in range(n):
        x = theta[i]
        f += x * x - A * math.cos(TWO_PI * x)
        grad_out[i] = 2.0 * x + TWO_PI * A * math.sin(TWO_PI * x)
    return f


@njit(HESSIAN_SIG, cache=True)
def rastrigin_hessian(theta, H_out, P, X, y):
    A = P[0]
    H_out[:, :] = 0.0
    for i in range(theta.shape[0]):
        H_out[i, i] = 2.0 + TWO_PI * TWO_PI * A * math.cos(TWO_PI * theta[i])


# ---- Ackley ------------------------------------------------------------------------------

@njit(OBJECTIVE_SIG, cache=True)
def ackley_value_grad(theta, grad_out, P, X, y):
    """At x = 0 (r = 0) the first term is a cone: its subgradient 0 is used there."""
    a, b, c = P[0], P[1], P[2]
    n = theta.shape[0]
    ss = 0.0
    sc = 0.0
    for i in range(n):
        ss += theta[i] * theta[i]
        sc += math.cos(c * theta[i])
    r = math.sqrt(ss / n)
    e1 = math.exp(-b * r)
    e2 = math.exp(sc / n)
    u = a * b * e1 / (n * r) if r > 0.0 else 0.0
    for i in range(n):
        grad_out[i] = u * theta[i] + e2 * c * math.sin(c * theta[i]) / n
    return -a * e1 - e2 + a + E


@njit(HESSIAN_SIG, cache=True)
def ackley_hessian(theta, H_out, P, X, y):
    """Undefined at x = 0 (the cone's curvature is infinite there): filled with NaN."""
    a, b, c = P[0], P[1], P[2]
    n = theta.shape[0]
    ss = 0.0
    sc = 0.0
    for i in range(n):
        ss += theta[i] * theta[i]
        sc += math.cos(c * theta[i])
    r = math.sqrt(ss / n)
    if r == 0.0:
        H_out[:, :] = math.nan
        return
    e1 = math.exp(-b * r)
    e2 = math.exp(sc / n)
    u = a * b * e1 / (n * r)
    du = (a * b / n) * e1 * (-b / r - 1.0 / (r * r))      # d u / d r
    for i in range(n):
        si = c * math.sin(c * theta[i]) / n
        for j in range(i, n):
            sj = c * math.sin(c * theta[j]) / n
            h = theta[i] * theta[j] * du / (n * r) - e2 * si * sj
            if i == j:
                h += u + e2 * c * c * math.cos(c * theta[i]) / n
            H_out[i, j] = h
            H_out[j, i] = h


# ---- Styblinski-Tang ---------------------------------------------------------------------

@njit(OBJECTIVE_SIG, cache=True)
def styblinski_tang_value_grad(theta, grad_out, P, X, y):
    f = 0.0
    for i in range(theta.shape[0]):
        x = theta[i]
        x2 = x * x
        f += 0.5 * (x2 * x2 - 16.0 * x2 + 5.0 * x)
        grad_out[i] = 2.0 * x2 * x - 16.0 * x + 2.5
    return f


@njit(HESSIAN_SIG, cache=True)
def styblinski_tang_hessian(theta, H_out, P, X, y):
    H_out[:, :] = 0.0
    for i in range(theta.shape[0]):
        H_out[i, i] = 6.0 * theta[i] * theta[i] - 16.0


# ---- data losses -------------------------------------------------------------------------

@njit(fastmath=REASSOC, inline="always")
def _linear(theta, X, i, k, fit_b):
    z = 0.0
    for j in range(k):
        z += X[i, j] * theta[j]
    return z + theta[k] if fit_b else z


@njit(cache=True)
def _finish(theta, grad_out, P, loss, n, k):
    """Scale the data part by the reduction, then add l2 |w|^2 and its gradient."""
    lam = P[0]
    r = 1.0 if (P[2] > 0.5 or n == 0) else 1.0 / n
    loss *= r
    for j in range(grad_out.shape[0]):
        grad_out[j] *= r
    for j in range(k):
        loss += lam * theta[j] * theta[j]
        grad_out[j] += 2.0 * lam * theta[j]
    return loss


@njit(cache=True)
def _softplus(t):
    """log(1 + exp(t)) without overflow."""
    return max(t, 0.0) + math.log1p(math.exp(-abs(t)))


@njit(cache=True)
def _sigmoid(t):
    if t >= 0.0:
        return 1.0 / (1.0 + math.exp(-t))
    e = math.exp(t)
    return e / (1.0 + e)


@njit(cache=True)
def _data_hessian(theta, H_out, P, X, y, kind):
    """sum_i c_i x~_i x~_i' (x~ = [x, 1] with intercept) scaled by the reduction, + 2 l2 on w.
    c_i = 2 (mse), sigma(z)(1 - sigma(z)) (logistic), 0 (hinge)."""
    n, k = X.shape[0], X.shape[1]
    fit_b = P[1] > 0.5
    d = theta.shape[0]
    H_out[:, :] = 0.0
    if kind != 2:
        for i in range(n):
            if kind == 0:
                c = 2.0
            else:
                s = _sigmoid(_linear(theta, X, i, k, fit_b))
                c = s * (1.0 - s)
            for a in range(d):
                xa = X[i, a] if a < k else 1.0
                for b in range(a, d):
                    xb = X[i, b] if b < k else 1.0
                    H_out[a, b] += c * xa * xb
    r = 1.0 if (P[2] > 0.5 or n == 0) else 1.0 / n
    for a in range(d):
        for b in range(a, d):
            H_out[a, b] *= r
            H_out[b, a] = H_out[a, b]
    for j in range(k):
        H_out[j, j] += 2.0 * P[0]


@njit(fastmath=REASSOC, inline="always")
def _dot(X, i, theta, k):
    """X[i, :k] . theta[:k], summed in SIMD lanes (reassociation only: NaN/inf still propagate)."""
    z = 0.0
    for j in range(k):
        z += X[i, j] * theta[j]
    return z


@njit(OBJECTIVE_SIG, cache=True, fastmath=REASSOC)
def mse_value_grad(theta, grad_out, P, X, y):
    """One pass over X: rows in blocks of four share one update of the gradient."""
    n, k = X.shape[0], X.shape[1]
    fit_b = P[1] > 0.5
    b = theta[k] if fit_b else 0.0
    grad_out[:] = 0.0
    loss = 0.0
    gb = 0.0
    n4 = n - n % 4
    for i in range(0, n4, 4):
        e0 = b + _dot(X, i, theta, k) - y[i]
        e1 = b + _dot(X, i + 1, theta, k) - y[i + 1]
        e2 = b + _dot(X, i + 2, theta, k) - y[i + 2]
        e3 = b + _dot(X, i + 3, theta, k) - y[i + 3]
        loss += (e0 * e0 + e1 * e1) + (e2 * e2 + e3 * e3)
        gb += (e0 + e1) + (e2 + e3)
        for j in range(k):
            grad_out[j] += 2.0 * ((e0 * X[i, j] + e1 * X[i + 1, j]) + (e2 * X[i + 2, j] + e3 * X[i + 3, j]))
    for i in range(n4, n):
        e = b + _dot(X, i, theta, k) - y[i]
        loss += e * e
        gb += e
        for j in range(k):
            grad_out[j] += 2.0 * e * X[i, j]
    if fit_b:
        grad_out[k] = 2.0 * gb
    return _finish(theta, grad_out, P, loss, n, k)


@njit(HESSIAN_SIG, cache=True)
def mse_hessian(theta, H_out, P, X, y):
    _data_hessian(theta, H_out, P, X, y, 0)


@njit(OBJECTIVE_SIG, cache=True)
def logistic_value_grad(theta, grad_out, P, X, y):
    n, k = X.shape[0], X.shape[1]
    fit_b = P[1] > 0.5
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(n):
        m = y[i] * _linear(theta, X, i, k, fit_b)          # margin s_i z_i
        loss += _softplus(-m)
        coef = -y[i] * _sigmoid(-m)                          # d/dz of log(1 + exp(-s z))
        for j in range(k):
            grad_out[j] += coef * X[i, j]
        if fit_b:
            grad_out[k] += coef
    return _finish(theta, grad_out, P, loss, n, k)


@njit(HESSIAN_SIG, cache=True)
def logistic_hessian(theta, H_out, P, X, y):
    _data_hessian(theta, H_out, P, X, y, 1)


@njit(OBJECTIVE_SIG, cache=True)
def hinge_value_grad(theta, grad_out, P, X, y):
    n, k = X.shape[0], X.shape[1]
    fit_b = P[1] > 0.5
    grad_out[:] = 0.0
    loss = 0.0
    for i in range(n):
        slack = 1.0 - y[i] * _linear(theta, X, i, k, fit_b)
        if slack > 0.0:
            loss += slack
            for j in range(k):
                grad_out[j] -= y[i] * X[i, j]
            if fit_b:
                grad_out[k] -= y[i]
    return _finish(theta, grad_out, P, loss, n, k)


@njit(HESSIAN_SIG, cache=True)
def hinge_hessian(theta, H_out, P, X, y):
    """Zero almost everywhere (piecewise linear), plus the L2 term."""
    _data_hessian(theta, H_out, P, X, y, 2)
