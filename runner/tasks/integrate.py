"""task=integrate: estimate an integral by quadrature, Monte Carlo or quasi-Monte Carlo, with
a convergence trace (estimate, standard error and error at geometric checkpoints of n).

Integrators (``integrator=``):
  trapezoid, simpson, gauss_legendre   tensor-product rules on the unit cube, n nodes per axis
  adaptive                             SciPy's adaptive Gauss-Kronrod (QUADPACK qags), 1-D, with its error estimate
  mc, antithetic, control, importance  Monte Carlo on the counter-based generator (see kernels.montecarlo)
  stratified                           n/2 equal strata per run (1-D), two samples in each
  sobol, halton                        scrambled / randomised QMC (SciPy's generators), R replicates
  samples                              the mean of g at given points (the tutorial's 4-sample example)
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import List, Optional

import numpy as np

from kernels import montecarlo as M
from runner.errors import ConfigError
from runner.integrands import INTEGRAND_SCHEMAS, build_integrand
from runner.result import FAILED, FINISHED, Result, Series
from runner.validate import in_range, positive, validate_group, validate_node

MC_METHODS = {"mc": M.PLAIN, "antithetic": M.ANTITHETIC, "control": M.CONTROL, "importance": M.IMPORTANCE}
RULES = ("trapezoid", "simpson", "gauss_legendre")
MAX_NODES = 50_000_000


@dataclass
class Integrator:
    name: str = "mc"
    n: int = 1_000_000             # samples (MC, QMC) or nodes per axis (rules); evaluations for adaptive
    alpha: float = 1.0             # importance: proposal q(u) = prod (alpha + 1) u_i^alpha
    replicates: int = 16           # sobol, halton: independent randomisations (for the standard error)
    samples: Optional[List[float]] = None   # samples: the points (1-D) in the integrand's original variable

    def check(self):
        positive("n", self.n)
        if self.name in ("sobol",) and self.n & (self.n - 1):
            raise ConfigError("n", f"must be a power of two for Sobol points (e.g. {1 << int(math.log2(self.n))}), got {self.n}")
        if self.name == "importance":
            in_range("alpha", self.alpha, -1.0, math.inf, lo_open=True)
        if self.name in ("sobol", "halton"):
            in_range("replicates", self.replicates, 2, 10_000, hi_open=False)
        if self.name == "samples" and not self.samples:
            raise ConfigError("samples", "give the sample points, e.g. integrator.samples=[0.2,0.5,0.7,0.9]")


INTEGRATOR_SCHEMAS = {name: type(f"{name.title()}Integrator", (Integrator,), {"__annotations__": {"name": str}, "name": name})
                      for name in [*MC_METHODS, "stratified", *RULES, "adaptive", "sobol", "halton", "samples"]}
for _cls in INTEGRATOR_SCHEMAS.values():
    dataclass(_cls)


@dataclass
class IntegrateKnobs:
    checkpoints: int = 12          # geometric checkpoints of n for the convergence trace

    def check(self):
        in_range("checkpoints", self.checkpoints, 2, 40, hi_open=False)


SCHEMA = IntegrateKnobs
GROUPS = {"integrand": INTEGRAND_SCHEMAS, "integrator": INTEGRATOR_SCHEMAS}


def warmup() -> None:
    import kernels.montecarlo  # noqa: F401  (explicit signatures: importing compiles or loads)


def run(cfg, ctx) -> Result:
    v = ctx.validated if ctx.validated else {}
    integrand_cfg = v.get("integrand") or validate_group("integrand", cfg.integrand, INTEGRAND_SCHEMAS)
    method = v.get("integrator") or validate_group("integrator", cfg.integrator, INTEGRATOR_SCHEMAS)
    knobs = v.get("integrate") or validate_node("integrate", cfg.get("integrate") or {}, IntegrateKnobs)
    g = build_integrand(integrand_cfg)
    if g.name in ("kl", "elbo"):
        if method.name != "mc":
            raise ConfigError("integrator.name", f"integrand '{g.name}' is estimated by sampling: use integrator=mc")
        return _information(g, method, checkpoints(method, knobs.checkpoints), ctx.seed)
    if method.name in ("adaptive", "stratified", "samples") and g.d != 1:
        raise ConfigError("integrator.name", f"'{method.name}' is for one-dimensional integrands; this one has d={g.d}")
    if method.name in RULES and float(method.n) ** g.d > MAX_NODES:
        raise ConfigError("integrator.n", f"{method.n}^{g.d} nodes exceed {MAX_NODES:.0e}; lower n or use mc/sobol")
    ns = checkpoints(method, knobs.checkpoints)
    trace = [_estimate(g, method, n, ctx.seed) for n in ns] if method.name not in MC_METHODS else _mc_trace(g, method, ns, ctx.seed)
    return _result(g, method, ns, trace, ctx.seed)


def checkpoints(method, k: int) -> List[int]:
    """Geometric n: powers of two up to n (rules: node counts) ending at n itself."""
    n = int(method.n)
    if method.name == "samples":
        return [len(method.samples)]
    lo = 2 if method.name in RULES + ("adaptive", "stratified", "antithetic") else 1
    ns = sorted({max(lo, int(round(n / 2 ** i))) for i in range(k)})
    if method.name == "sobol":
        ns = [m for m in ns if not m & (m - 1)]
    if method.name in ("stratified", "antithetic"):
        ns = sorted({m - m % 2 for m in ns if m >= 2})
    return ns


def _mc_trace(g, method, ns, seed):
    """One pass for all checkpoints: prefix sums of the per-chunk sums (chunks below CHUNK
    are separate short runs: the first chunk is the same numbers)."""
    code = MC_METHODS[method.name]
    n = ns[-1]
    sums = np.zeros(((n + M.CHUNK - 1) // M.CHUNK, M.N_SUMS))
    M.mc_sums(g.kind, g.P, g.f, g.d, n, seed, code, float(method.alpha), sums)
    out = []
    for m in ns:
        if m % M.CHUNK == 0 or m == n:
            full = m // M.CHUNK
            s = sums[:full].sum(axis=0) if m % M.CHUNK == 0 else sums.sum(axis=0)
        else:   # not a whole number of chunks: its own (shorter) run from the same streams
            part = np.zeros(((m + M.CHUNK - 1) // M.CHUNK, M.N_SUMS))
            M.mc_sums(g.kind, g.P, g.f, g.d, m, seed, code, float(method.alpha), part)
            s = part.sum(axis=0)
        out.append(_mc_estimate(g, method, m, s))
    return out


def _mc_estimate(g, method, n, s):
    """(estimate, standard error, evaluations, extra) from the sums of one run."""
    k = n // 2 if method.name == "antithetic" else n
    mean, mean2 = s[0] / k, s[1] / k
    var = max(mean2 - mean * mean, 0.0) * k / max(k - 1, 1)
    extra = {}
    if method.name == "control":
        h, h2, gh = s[2] / k, s[3] / k, s[4] / k
        var_h = h2 - h * h
        beta = (gh - mean * h) / var_h if var_h > 0 else 0.0
        est = mean - beta * (h - g.d / 2.0)
        resid = max(var - beta * beta * var_h * k / max(k - 1, 1), 0.0)
        extra = {"beta": beta}
        return est, math.sqrt(resid / k), n, extra, var
    plain = var                                   # variance of g(U) per evaluation, for plain MC
    if method.name == "importance":
        extra = {"ess": s[2] ** 2 / s[3] if s[3] > 0 else 0.0}
        plain = s[4] / k - mean * mean                # E_q[g^2 / q] - I^2 = Var_uniform(g)
    elif method.name == "antithetic":
        single = s[2] / (2 * k)
        plain = s[3] / (2 * k) - single * single      # from the 2k single evaluations
    if g.quantity == "variance":
        return mean2 - mean * mean, float("nan"), n, extra, plain
    return mean, math.sqrt(var / k), n, extra, plain


def _estimate(g, method, n, seed):
    if method.name == "samples":
        x = np.array(method.samples, dtype=float)
        return _from_points(g, _to_unit(g, x)[:, None], np.full(x.size, 1.0 / x.size), x.size, None)
    if method.name in RULES:
        nodes, weights = _rule(method.name, n)
        U, W = _tensor(nodes, weights, g.d)
        return _from_points(g, U, W, U.shape[0], None)
    if method.name == "adaptive":
        return _adaptive(g, n)
    if method.name == "stratified":
        return _stratified(g, n, seed)
    return _qmc(g, method, n, seed)


def _from_points(g, U, W, evals, se):
    out = np.zeros(2)
    M.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(U), np.ascontiguousarray(W), out)
    est = out[1] - out[0] ** 2 if g.quantity == "variance" else out[0]
    return est, float("nan") if se is None else se, evals, {}, float("nan")


def _to_unit(g, x):
    """Points given in the integrand's own variable, mapped to the unit cube."""
    if g.kind == M.POWER:
        return (x - g.P[1]) / (g.P[2] - g.P[1])
    if g.kind == M.BOX_EXPR:
        return (x - g.P[1]) / (g.P[2] - g.P[1])
    return x


def _rule(name, n):
    if name == "gauss_legendre":
        x, w = np.polynomial.legendre.leggauss(n)
        return (x + 1) / 2, w / 2
    x = np.linspace(0.0, 1.0, n)
    h = 1.0 / (n - 1)
    if name == "trapezoid":
        w = np.full(n, h)
        w[[0, -1]] = h / 2
        return x, w
    if n % 2 == 0:                   # Simpson needs an odd node count: one more node
        return _rule(name, n + 1)
    w = np.full(n, 2.0)
    w[1::2] = 4.0
    w[[0, -1]] = 1.0
    return x, w * h / 3


def _tensor(nodes, weights, d):
    grids = np.meshgrid(*([nodes] * d), indexing="ij")
    U = np.stack([gr.ravel() for gr in grids], axis=1)
    W = np.prod(np.stack(np.meshgrid(*([weights] * d), indexing="ij")).reshape(d, -1), axis=0)
    return U, W


def _adaptive(g, n):
    from scipy.integrate import quad

    x = np.empty(1)
    u = np.empty(1)

    def func(t):
        u[0] = t
        out = np.zeros(2)
        M.point_sums(g.kind, g.P, g.f, u.reshape(1, 1), np.ones(1), out)
        return out[0] if g.quantity != "variance" else out[0]

    est, err, info = quad(func, 0.0, 1.0, limit=max(50, n // 21), full_output=1)[:3]
    return est, err, int(info["neval"]), {"error_estimate": err}, float("nan")


def _stratified(g, n, seed):
    """n/2 strata of equal width, two uniform points in each (counter-based stream (seed, 2^40));
    the variance comes from the two points within each stratum."""
    from kernels.rng import stream_key

    k = n // 2
    r = np.empty(2 * k)
    M.fill_uniforms(stream_key(seed, 1 << 40), r)
    U = ((np.repeat(np.arange(k), 2) + r) / k)[:, None]
    vals = np.empty(2 * k)
    M.point_values(g.kind, g.P, g.f, np.ascontiguousarray(U), vals)
    per = vals.reshape(k, 2)
    est = per.mean()
    within = ((per[:, 0] - per[:, 1]) ** 2).sum() / (4 * k * k)
    return float(est), math.sqrt(within), 2 * k, {"strata": k}, float(vals.var(ddof=1))


def _qmc(g, method, n, seed):
    from scipy.stats import qmc

    reps = []
    for r in range(method.replicates):
        gen = (qmc.Sobol(g.d, scramble=True, bits=52, seed=seed * 100_003 + r) if method.name == "sobol"
               else qmc.Halton(g.d, scramble=True, seed=seed * 100_003 + r))
        total = 0.0
        done = 0
        while done < n:
            m = min(1 << 16, n - done)
            U = gen.random(m)
            out = np.zeros(2)
            M.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(U), np.full(m, 1.0), out)
            total += out[0]
            done += m
        reps.append(total / n)
    reps = np.array(reps)
    return float(reps.mean()), float(reps.std(ddof=1) / math.sqrt(len(reps))), n * len(reps), \
        {"replicates": len(reps)}, float("nan")


def _result(g, method, ns, trace, seed) -> Result:
    est, se, evals, extra, var = trace[-1]
    final = {"estimate": est, "standard_error": se, "ci95": [est - 1.96 * se, est + 1.96 * se] if math.isfinite(se) else None,
             "n": int(ns[-1]), "evaluations": int(evals), "exact": g.exact}
    final.update(extra)
    errors = None
    if g.exact is not None:
        final["abs_error"] = abs(est - g.exact)
        errors = np.array([abs(t[0] - g.exact) for t in trace])
        ok = (errors > 0) & np.isfinite(errors)
        ns_arr = np.array(ns, dtype=float)
        if ok.sum() >= 3:
            final["error_slope"] = float(np.polyfit(np.log(ns_arr[ok]), np.log(errors[ok]), 1)[0])
    ses_ok = np.array([t[1] for t in trace])
    good = np.isfinite(ses_ok) & (ses_ok > 0)
    if good.sum() >= 3:
        final["se_slope"] = float(np.polyfit(np.log(np.array(ns, float)[good]), np.log(ses_ok[good]), 1)[0])
    if method.name in (*MC_METHODS, "stratified") and method.name != "mc" and math.isfinite(se) and se > 0 \
            and math.isfinite(var):
        # plain MC's variance with the same number of evaluations, over this method's
        final["variance_reduction"] = var / (se * se * evals)
    steps = np.array(ns, dtype=np.int64)
    metrics = {"estimate": Series(steps, [t[0] for t in trace])}
    ses = np.array([t[1] for t in trace])
    if np.isfinite(ses).all():
        metrics["standard_error"] = Series(steps, ses)
    if errors is not None:
        metrics["abs_error"] = Series(steps, errors)
    info = {"integrand": g.name, "integrator": method.name, "label": g.label, "d": g.d, "seed": seed,
            "chunk_size": M.CHUNK, "chunks": -(-int(ns[-1]) // M.CHUNK) if method.name in MC_METHODS else 0,
            "threads": _threads()}
    status, message = FINISHED, ""
    if not math.isfinite(est):
        status = FAILED
        message = ("the integrand returned non-finite values (NaN or inf) on part of the domain; "
                   "the estimate is not finite")
    result = Result(task="integrate", status=status, message=message, final=final, info=info, metrics=metrics,
                    trajectory={"n": steps, "estimate": np.array([t[0] for t in trace]), "standard_error": ses},
                    tags={"numba_compile_s": f"{g.compile_seconds:.3f}", "chunks": str(info["chunks"]),
                          "chunk_size": str(M.CHUNK), "threads": str(info["threads"])})
    if errors is not None:
        result.plots = [("convergence.png", lambda: _convergence_plot(ns, errors, ses, g.label, method.name))]
    return result


def _convergence_plot(ns, errors, ses, label, method):
    from runner.plots import figure

    fig = figure()
    ax = fig.add_subplot()
    ns = np.array(ns, float)
    ok = errors > 0
    ax.loglog(ns[ok], errors[ok], "o-", label="|estimate - exact|")
    if np.isfinite(ses).all() and (ses > 0).any():
        ax.loglog(ns[ses > 0], ses[ses > 0], "s--", alpha=0.6, label="standard error")
    if ok.any():
        ref = errors[ok][0]
        for slope, style in ((-0.5, ":"), (-1.0, "-.")):
            ax.loglog(ns[ok], ref * (ns[ok] / ns[ok][0]) ** slope, "k" + style, alpha=0.5, label=f"slope {slope:g}")
    ax.set(xlabel="n", ylabel="error", title=f"{label} · {method}")
    ax.legend(fontsize=8)
    return fig


def _information(g, method, ns, seed) -> Result:
    """KL (three estimators) or the ELBO, at every checkpoint n, against the closed form."""
    trace, extra = [], {}
    for n in ns:
        if g.name == "kl":
            out = np.zeros(6)
            M.kl_sums(*map(float, g.P), n, seed, out)
            est = {k: (out[2 * i] / n, math.sqrt(max(out[2 * i + 1] / n - (out[2 * i] / n) ** 2, 0.0) / n))
                   for i, k in enumerate(("k1", "k2", "k3"))}
            trace.append((est["k3"][0], est["k3"][1], n, {}, float("nan")))
            extra = {f"{k}": v[0] for k, v in est.items()} | {f"{k}_standard_error": v[1] for k, v in est.items()}
            if g.exact is not None:
                extra |= {f"{k}_bias": v[0] - g.exact for k, v in est.items()}
        else:
            out = np.zeros(2)
            mu0, t0, sig, m, s = map(float, g.P)
            M.elbo_sums(np.ascontiguousarray(g.meta["x"]), mu0, t0, sig, m, s, n, seed, out)
            mean = out[0] / n
            trace.append((mean, math.sqrt(max(out[1] / n - mean * mean, 0.0) / n), n, {}, float("nan")))
    result = _result(g, method, ns, trace, seed)
    result.final.update(extra)
    if g.name == "elbo":
        ev = g.meta["log_evidence"]
        result.final.update(log_evidence=ev, gap=ev - g.exact, elbo_exact=g.exact,
                            posterior={"mu": g.meta["posterior_mu"], "sigma": g.meta["posterior_sigma"]},
                            q={"mu": g.meta["q_mu"], "sigma": g.meta["q_sigma"]})
    return result


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())
