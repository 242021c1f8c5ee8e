"""The estimates of task=integrate along its convergence trace: one :class:`Estimate` per
checkpoint n for every ``integrator`` (see runner.integrate.integrators for the methods and their schemas).

Monte Carlo checkpoints are prefix sums of one run's per-chunk sums; QMC checkpoints are prefixes
of each randomised point set; rules, the adaptive rule and stratified sampling run once per
checkpoint (their cost is dominated by the last one).

Every run here is called as ``run(g, method, ns, seed, prepared, progress)`` (``prepared``: what
the integrator's entry prepared from the integrand, the importance proposal, or None;
``progress(total, desc)``: a progress bar, ``TaskContext.progress``) and returns the estimate at
every checkpoint of ``ns``; runner.integrate.registry names one per integrator.

Long runs call their kernels in pieces of about runner.pacing.CHUNK_SECONDS (whole chunks of
the kernels' own streams or grids, so no number changes) and move a bar over the evaluations
when there are at least :data:`SHOWN_FROM` of them.  A Ctrl-C (or SIGTERM) between two pieces
raises :class:`Interrupted` with the estimates reached: Monte Carlo's over the chunks done,
the other methods' at the last checkpoint completed.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Callable, List, Optional, Sequence

import numba
import numpy as np

from kernels import montecarlo as M
from kernels import quadrature as Q
from runner import interrupt
from runner.errors import ConfigError
from runner.integrate.integrators import Estimate, strata_per_axis
from runner.pacing import call_sizes, progress_bar

SHOWN_FROM = 1 << 24      # evaluations from which an integration shows a progress bar


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM between two kernel calls, with what was integrated by then: the
    estimates (``trace``) at the checkpoints reached (``ns``; the last one is the estimate the
    run reports), the n asked for (``requested``) and a message saying so."""

    def __init__(self, ns: List[int], trace: List[Estimate], requested: int, message: str):
        super().__init__(message)
        self.ns, self.trace, self.requested, self.message = ns, trace, requested, message


def fill_rows(kernel: Callable, sums: np.ndarray, units: Callable, advance: Callable) -> int:
    """Fill the rows of ``sums`` by ``kernel(first, block)`` (``block``: the rows from ``first``
    on) in calls of about CHUNK_SECONDS, advancing the bar by ``units(rows)`` (the evaluations in
    the first ``rows`` rows) after each; the rows filled, all of them unless a Ctrl-C came
    between two calls (the kernels' rows do not depend on how they are grouped)."""
    total, done = sums.shape[0], 0
    threads = numba.get_num_threads()
    try:
        for size in call_sizes(8 * threads, threads, total):
            block = min(total - done, -(-size // threads) * threads)     # whole rounds of the threads
            kernel(done, sums[done:done + block])
            done += block
            advance(units(done) - units(done - block))
            if done == total:
                break
    except KeyboardInterrupt:
        pass
    return done


def each_checkpoint(ns: Sequence[int], costs: Sequence[int], estimate: Callable, progress: Optional[Callable],
                    desc: str) -> List[Estimate]:
    """``estimate(i, advance)`` at every checkpoint ``ns[i]`` (``costs[i]`` evaluations), under
    one bar over them all.  After a Ctrl-C: :class:`Interrupted` with the checkpoints completed
    (a plain KeyboardInterrupt if none was)."""
    out: List[Estimate] = []
    total = int(sum(costs))
    with progress_bar(progress, total, desc, shown=total >= SHOWN_FROM) as advance:
        try:
            for i in range(len(ns)):
                out.append(estimate(i, advance))
        except KeyboardInterrupt:
            pass
    if len(out) == len(ns):
        return out
    if not out:
        raise KeyboardInterrupt
    reached = list(ns[:len(out)])
    raise Interrupted(reached, out, int(ns[-1]), f"{interrupt.reason()} at n={ns[len(out)]:,} of {ns[-1]:,}: the "
                      f"estimate is the one at n={reached[-1]:,}, the last checkpoint completed")


def monte_carlo(code: int, g, method, ns: List[int], seed: int, Qvec=None, progress=None) -> List[Estimate]:
    """One run of n samples of the kernels.montecarlo method ``code`` (M.PLAIN, M.ANTITHETIC,
    M.CONTROL, M.IMPORTANCE with the proposal vector Qvec); whole-chunk checkpoints are prefix sums
    of its per-chunk sums, and checkpoints below one chunk are their own short runs on the same
    streams.  After a Ctrl-C: :class:`Interrupted`, the last estimate over the whole chunks done
    (the numbers of a run asked for that many samples)."""
    Qvec = np.zeros(1) if Qvec is None else Qvec
    n = ns[-1]
    sums = np.zeros((-(-n // M.CHUNK), M.N_SUMS))
    with progress_bar(progress, n, f"{g.name} by {method.name}", shown=n >= SHOWN_FROM) as advance:
        done = fill_rows(lambda first, block: M.mc_sums(g.kind, g.P, g.f, g.d, n, seed, code, Qvec, first, block),
                         sums, lambda rows: min(n, rows * M.CHUNK), advance)
    reached = min(n, done * M.CHUNK)
    if reached == 0:
        raise KeyboardInterrupt
    out, at = [], [m for m in ns if m < reached] + [reached]
    for m in at:
        if m == reached:
            s = sums[:done].sum(axis=0)
        elif m % M.CHUNK == 0:
            s = sums[: m // M.CHUNK].sum(axis=0)
        else:
            s = _mc_run(g, m, seed, code, Qvec).sum(axis=0)
        out.append(_mc_estimate(g, code, m, s))
    if reached < n:
        raise Interrupted(at, out, n, f"{interrupt.reason()} after {reached:,} of {n:,} samples: the estimate "
                          f"is theirs")
    return out


def _mc_run(g, n, seed, code, Qvec):
    sums = np.zeros(((n + M.CHUNK - 1) // M.CHUNK, M.N_SUMS))
    M.mc_sums(g.kind, g.P, g.f, g.d, n, seed, code, Qvec, 0, sums)
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


def stratified(g, method, ns: List[int], seed: int, prepared=None, progress=None) -> List[Estimate]:
    """k^d equal cells, two uniform points in each, run afresh at every checkpoint."""
    costs = [2 * strata_per_axis(n, g.d) ** g.d for n in ns]
    return each_checkpoint(ns, costs, lambda i, advance: _stratified(g, ns[i], seed, advance), progress,
                           f"{g.name} by {method.name}")


def _stratified(g, n, seed, advance) -> Estimate:
    k = strata_per_axis(n, g.d)
    strata = k ** g.d
    per = M.CHUNK // 2
    sums = np.zeros((-(-strata // per), M.N_SUMS))
    kernel = lambda first, block: M.stratified_sums(g.kind, g.P, g.f, g.d, k, seed, first, block)   # noqa: E731
    if fill_rows(kernel, sums, lambda rows: 2 * min(strata, rows * per), advance) < sums.shape[0]:
        raise KeyboardInterrupt
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


def quasi_random(points, g, method, ns: List[int], seed: int, prepared=None, progress=None) -> List[Estimate]:
    """R randomised point sets ``points(d, rng)``; each one's prefixes give every checkpoint
    (first n_i points), checkpoint after checkpoint (each set's points and sums do not depend
    on that order)."""
    R = method.replicates
    gens = [points(g.d, np.random.default_rng([seed, r])) for r in range(R)]
    running = np.zeros((R, 3))

    def estimate(i, advance) -> Estimate:
        start, m = ns[i - 1] if i else 0, ns[i]
        for r in range(R):
            done = start
            while done < m:
                block = min(1 << 16, m - done)
                out = np.zeros(3)
                Q.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(gens[r].random(block)), np.ones(block), out)
                running[r] += out
                done += block
                advance(block)
        return _replicates_estimate(g, m, running, R)

    return each_checkpoint(ns, [R * (m - (ns[i - 1] if i else 0)) for i, m in enumerate(ns)], estimate, progress,
                           f"{g.name} by {method.name}")


def _replicates_estimate(g, m, s, R) -> Estimate:
    """The mean over R replicates' sums ``s`` (R, 3) of m points each; its spread the error."""
    bad = int(s[:, 2].sum())
    good = np.maximum(m - s[:, 2], 1)
    means = s[:, 0] / good
    values = s[:, 1] / good - means ** 2 if g.quantity == "variance" else means
    se = float(values.std(ddof=1) / math.sqrt(len(values)))
    return Estimate(float(values.mean()), se, m * R, bad, math.nan, {"replicates": R})


# ---- 1-D rules on [0, 1] (tensor products in d > 1): n -> (nodes, weights) ---------------

def gauss_legendre_nodes(n: int):
    x, w = _legendre(n)
    return (x + 1) / 2, w / 2


@lru_cache(maxsize=64)
def _legendre(n: int):
    """NumPy's Gauss-Legendre nodes and weights, kept: they cost O(n^3) (an eigenproblem; 20 s
    at n = 4096) and a run asks for them more than once (the grid check, the bar, the rule)."""
    return np.polynomial.legendre.leggauss(n)


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


def rule(rule_nodes, g, method, ns: List[int], seed: int, prepared=None, progress=None) -> List[Estimate]:
    """The tensor-product rule with ``rule_nodes(n)`` per axis at every checkpoint n."""
    costs = [rule_nodes(n)[0].size ** g.d for n in ns]
    return each_checkpoint(ns, costs, lambda i, advance: _rule(g, rule_nodes, ns[i], advance), progress,
                           f"{g.name} by {method.name}")


def _rule(g, rule_nodes, n, advance) -> Estimate:
    nodes, weights = rule_nodes(n)
    total = nodes.size ** g.d
    sums = np.zeros((-(-total // Q.RULE_CHUNK), 3))
    kernel = lambda first, block: Q.rule_sums(g.kind, g.P, g.f, g.d, nodes, weights, first, block)   # noqa: E731
    if fill_rows(kernel, sums, lambda rows: min(total, rows * Q.RULE_CHUNK), advance) < sums.shape[0]:
        raise KeyboardInterrupt
    s = sums.sum(axis=0)
    value = s[1] - s[0] ** 2 if g.quantity == "variance" else s[0]
    return Estimate(float(value), math.nan, total, int(s[2]))


def adaptive(g, method, ns: List[int], seed: int, prepared=None, progress=None) -> List[Estimate]:
    """Gauss-Kronrod (7, 15), globally adaptive, with the budget of every checkpoint."""
    def estimate(i, advance) -> Estimate:
        out = _adaptive(g, method, ns[i])
        advance(ns[i])
        return out

    return each_checkpoint(ns, ns, estimate, progress, f"{g.name} by {method.name}")


def _adaptive(g, method, n) -> Estimate:
    out = np.zeros(5)
    Q.adaptive_gk15(g.kind, g.P, g.f, int(n), float(method.abs_tol), float(method.rel_tol), out)
    return Estimate(float(out[0]), math.nan, int(out[2]), int(out[4]), math.nan,
                    {"error_estimate": float(out[1]), "intervals": int(out[3])})


def given_samples(g, method, ns: List[int], seed: int, prepared=None, progress=None) -> List[Estimate]:
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
