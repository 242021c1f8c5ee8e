"""The estimates of task=integrate along its convergence trace: one :class:`Estimate` per
checkpoint n for every ``integrator`` (see runner.integrate.integrators for the methods and their schemas).

Monte Carlo checkpoints are prefix sums of one run's per-chunk sums; QMC checkpoints are prefixes
of each randomised point set; rules, the adaptive rule and stratified sampling run once per
checkpoint (their cost is dominated by the last one).

Every run here is called as ``run(g, method, ns, seed, prepared)`` (``prepared``: what the
integrator's entry prepared from the integrand, the importance proposal, or None) and returns the
estimate at every checkpoint of ``ns``; runner.integrate.registry names one per integrator.
"""
from __future__ import annotations

import math
from typing import List

import numpy as np

from kernels import montecarlo as M
from kernels import quadrature as Q
from runner.errors import ConfigError
from runner.integrate.integrators import Estimate, strata_per_axis


def monte_carlo(code: int, g, method, ns: List[int], seed: int, Qvec=None) -> List[Estimate]:
    """One run of n samples of the kernels.montecarlo method ``code`` (M.PLAIN, M.ANTITHETIC,
    M.CONTROL, M.IMPORTANCE with the proposal vector Qvec); whole-chunk checkpoints are prefix sums
    of its per-chunk sums, and checkpoints below one chunk are their own short runs on the same
    streams."""
    Qvec = np.zeros(1) if Qvec is None else Qvec
    sums = _mc_run(g, ns[-1], seed, code, Qvec)
    out = []
    for m in ns:
        if m == ns[-1]:
            s = sums.sum(axis=0)
        elif m % M.CHUNK == 0:
            s = sums[: m // M.CHUNK].sum(axis=0)
        else:
            s = _mc_run(g, m, seed, code, Qvec).sum(axis=0)
        out.append(_mc_estimate(g, code, m, s))
    return out


def _mc_run(g, n, seed, code, Qvec):
    sums = np.zeros(((n + M.CHUNK - 1) // M.CHUNK, M.N_SUMS))
    M.mc_sums(g.kind, g.P, g.f, g.d, n, seed, code, Qvec, sums)
    return sums


def _mc_estimate(g, code, n, s) -> Estimate:
    """The estimate of one run from its summed columns (see kernels.montecarlo.mc_sums)."""
    units = n // 2 if code == M.ANTITHETIC else n
    bad = int(s[5])
    k = max(units - bad, 1)
    mean, mean2 = s[0] / k, s[1] / k
    var = max(mean2 - mean * mean, 0.0) * k / max(k - 1, 1)
    extra, plain = {}, var
    if code == M.CONTROL:
        h, h2, gh = s[2] / k, s[3] / k, s[4] / k
        var_h = h2 - h * h
        beta = (gh - mean * h) / var_h if var_h > 0 else 0.0
        resid = max(var - beta * beta * var_h * k / max(k - 1, 1), 0.0)
        return Estimate(mean - beta * (h - g.d / 2.0), math.sqrt(resid / k), n, bad, var, {"beta": beta})
    if code == M.IMPORTANCE:
        extra = {"ess": s[2] ** 2 / s[3] if s[3] > 0 else 0.0}
        plain = s[4] / k - mean * mean                # E_q[g^2 / q] - I^2 = Var_uniform(g)
    elif code == M.ANTITHETIC:
        single = s[2] / (2 * k)
        plain = s[3] / (2 * k) - single * single      # from the 2k single evaluations
        bad *= 2
    if g.quantity == "variance":
        return Estimate(mean2 - mean * mean, math.nan, n, bad, plain, extra)
    return Estimate(mean, math.sqrt(var / k), n, bad, plain, extra)


def stratified(g, method, ns: List[int], seed: int, prepared=None) -> List[Estimate]:
    """k^d equal cells, two uniform points in each, run afresh at every checkpoint."""
    return [_stratified(g, n, seed) for n in ns]


def _stratified(g, n, seed) -> Estimate:
    k = strata_per_axis(n, g.d)
    strata = k ** g.d
    sums = np.zeros((-(-strata // (M.CHUNK // 2)), M.N_SUMS))
    M.stratified_sums(g.kind, g.P, g.f, g.d, k, seed, sums)
    s = sums.sum(axis=0)
    bad = int(s[5])
    good = max(2 * strata - bad, 1)
    mean = s[0] / good
    plain = s[1] / good - mean * mean
    if g.quantity == "variance":
        return Estimate(plain, math.nan, 2 * strata, bad, plain, {"strata": strata})
    return Estimate(mean, math.sqrt(s[2]) / (2 * strata), 2 * strata, bad, plain, {"strata": strata})


def sobol_points(d: int, rng):
    """Scrambled Sobol points (SciPy), 52 bits."""
    from scipy.stats import qmc

    return qmc.Sobol(d, scramble=True, bits=52, seed=rng)


def halton_points(d: int, rng):
    """Halton points with random digit permutations (SciPy)."""
    from scipy.stats import qmc

    return qmc.Halton(d, scramble=True, seed=rng)


def quasi_random(points, g, method, ns: List[int], seed: int, prepared=None) -> List[Estimate]:
    """R randomised point sets ``points(d, rng)``; each one's prefixes give every checkpoint
    (first n_i points)."""
    sums = np.zeros((method.replicates, len(ns), 3))
    for r in range(method.replicates):
        rng = np.random.default_rng([seed, r])
        gen = points(g.d, rng)
        done, running = 0, np.zeros(3)
        for i, m in enumerate(ns):
            while done < m:
                block = min(1 << 16, m - done)
                out = np.zeros(3)
                Q.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(gen.random(block)), np.ones(block), out)
                running += out
                done += block
            sums[r, i] = running
    out = []
    for i, m in enumerate(ns):
        s = sums[:, i]
        bad = int(s[:, 2].sum())
        good = np.maximum(m - s[:, 2], 1)
        means = s[:, 0] / good
        values = s[:, 1] / good - means ** 2 if g.quantity == "variance" else means
        se = float(values.std(ddof=1) / math.sqrt(len(values)))
        out.append(Estimate(float(values.mean()), se, m * method.replicates, bad, math.nan,
                            {"replicates": method.replicates}))
    return out


# ---- 1-D rules on [0, 1] (tensor products in d > 1): n -> (nodes, weights) ---------------

def gauss_legendre_nodes(n: int):
    x, w = np.polynomial.legendre.leggauss(n)
    return (x + 1) / 2, w / 2


def trapezoid_nodes(n: int):
    x = np.linspace(0.0, 1.0, n)
    h = 1.0 / (n - 1)
    w = np.full(n, h)
    w[[0, -1]] = h / 2
    return x, w


def simpson_nodes(n: int):
    """Composite Simpson; an even n gets one more node (Simpson needs an odd count)."""
    if n % 2 == 0:
        n += 1
    x = np.linspace(0.0, 1.0, n)
    h = 1.0 / (n - 1)
    w = np.full(n, 2.0)
    w[1::2] = 4.0
    w[[0, -1]] = 1.0
    return x, w * h / 3


def rule(rule_nodes, g, method, ns: List[int], seed: int, prepared=None) -> List[Estimate]:
    """The tensor-product rule with ``rule_nodes(n)`` per axis at every checkpoint n."""
    return [_rule(g, rule_nodes, n) for n in ns]


def _rule(g, rule_nodes, n) -> Estimate:
    nodes, weights = rule_nodes(n)
    total = nodes.size ** g.d
    sums = np.zeros((-(-total // Q.RULE_CHUNK), 3))
    Q.rule_sums(g.kind, g.P, g.f, g.d, nodes, weights, sums)
    s = sums.sum(axis=0)
    value = s[1] - s[0] ** 2 if g.quantity == "variance" else s[0]
    return Estimate(float(value), math.nan, total, int(s[2]))


def adaptive(g, method, ns: List[int], seed: int, prepared=None) -> List[Estimate]:
    """Gauss-Kronrod (7, 15), globally adaptive, with the budget of every checkpoint."""
    return [_adaptive(g, method, n) for n in ns]


def _adaptive(g, method, n) -> Estimate:
    out = np.zeros(5)
    Q.adaptive_gk15(g.kind, g.P, g.f, int(n), float(method.abs_tol), float(method.rel_tol), out)
    return Estimate(float(out[0]), math.nan, int(out[2]), int(out[4]), math.nan,
                    {"error_estimate": float(out[1]), "intervals": int(out[3])})


def given_samples(g, method, ns: List[int], seed: int, prepared=None) -> List[Estimate]:
    """The mean of g at the sample points given (one checkpoint)."""
    return [_given_samples(g, method)]


def _given_samples(g, method) -> Estimate:
    x = np.array(method.samples, dtype=float)
    if g.box is None:
        U = x
    else:
        lo, hi = g.box[0]
        if (x < lo).any() or (x > hi).any():
            raise ConfigError("integrator.samples", f"every sample must lie in the box [{lo:g}, {hi:g}], got {list(x)}")
        U = (x - lo) / (hi - lo)
    if (U < 0).any() or (U > 1).any():
        raise ConfigError("integrator.samples", f"samples are points of the unit interval here, got {list(x)}")
    out = np.zeros(3)
    Q.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(U[:, None]), np.full(x.size, 1.0 / x.size), out)
    value = out[1] - out[0] ** 2 if g.quantity == "variance" else out[0]
    return Estimate(float(value), math.nan, x.size, int(out[2]))
