"""task=integrate: estimate an integral by quadrature, Monte Carlo or quasi-Monte Carlo, with
a convergence trace (estimate, standard error and error at geometric checkpoints of n).

What to integrate is the ``integrand`` group (runner.integrate.integrands), how is the ``integrator`` group
(its table runner.integrate.registry.INTEGRATORS; the task reads only the entry).  result.json's ``final``:
estimate, standard_error, ci95, n, evaluations, exact and abs_error (where known), variance_reduction
(against plain MC, for the variance-reduction methods), error_slope and se_slope (fitted log-log slopes
against n), non_finite.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from kernels import montecarlo as M
from runner.errors import ConfigError
from runner.integrate.integrands import INTEGRAND_SCHEMAS, build_integrand
from runner.integrate.integrators import MAX_GRID, Estimate
from runner.integrate import trace as T
from runner.integrate.registry import INTEGRATOR_SCHEMAS, INTEGRATORS
from runner.result import FAILED, FINISHED, KILLED, Result, Series
from runner.config.validate import in_range


@dataclass
class IntegrateKnobs:
    checkpoints: int = 12          # geometric checkpoints of n for the convergence trace

    def check(self):
        in_range("checkpoints", self.checkpoints, 2, 40, hi_open=False)


SCHEMA = IntegrateKnobs
GROUPS = {"integrand": INTEGRAND_SCHEMAS, "integrator": INTEGRATOR_SCHEMAS}


def warmup() -> None:
    import kernels.quadrature  # noqa: F401  (explicit signatures: importing compiles or loads)


def run(cfg, ctx) -> Result:
    v = ctx.validated
    integrand_cfg, method, knobs = v["integrand"], v["integrator"], v["integrate"]
    g = build_integrand(integrand_cfg)
    entry = INTEGRATORS[method.name]
    if g.name in ("kl", "elbo"):
        if method.name != "mc":
            raise ConfigError("integrator.name", f"integrand '{g.name}' is estimated by sampling: use integrator=mc")
        return _information(g, method, entry.checkpoints(method, 1, knobs.checkpoints), ctx.seed, ctx.progress)
    if entry.one_d and g.d != 1:
        raise ConfigError("integrator.name", f"'{method.name}' is for one-dimensional integrands; this one has d={g.d}")
    if entry.nodes is not None and entry.nodes(method.n)[0].size ** g.d > MAX_GRID:
        raise ConfigError("integrator.n", f"{method.n}^{g.d} nodes exceed {MAX_GRID:.0e}; lower n or use mc/sobol")
    prepared = entry.prepare(g, method) if entry.prepare is not None else None
    ns = entry.checkpoints(method, g.d, knobs.checkpoints)
    try:
        trace, stop = entry.run(g, method, ns, ctx.seed, prepared, ctx.progress), None
    except T.Interrupted as e:          # Ctrl-C or SIGTERM: KILLED, with the estimate reached
        stop, ns, trace = e, e.ns, e.trace
    return _result(g, method, ns, trace, ctx.seed, stop)


def _slope(ns, values):
    """Least-squares slope of log(values) against log(n) over the positive finite values (None if < 3)."""
    values = np.asarray(values, dtype=float)
    ok = np.isfinite(values) & (values > 0)
    if ok.sum() < 3:
        return None
    return float(np.polyfit(np.log(np.asarray(ns, float)[ok]), np.log(values[ok]), 1)[0])


def _final(g, method, ns, trace: List[Estimate]) -> dict:
    last = trace[-1]
    est, se = last.value, last.standard_error
    final = {"estimate": est, "standard_error": se,
             "ci95": [est - 1.96 * se, est + 1.96 * se] if math.isfinite(se) else None,
             "n": int(ns[-1]), "evaluations": int(last.evaluations), "exact": g.exact,
             "non_finite": int(last.non_finite)}
    final.update(last.extra)
    entry = INTEGRATORS[method.name]
    if entry.kind == "quadrature" and len(trace) > 1:
        final["error_estimate"] = abs(est - trace[-2].value)      # against the rule with about half the nodes
    if g.exact is not None:
        final["abs_error"] = abs(est - g.exact)
        final["error_slope"] = _slope(ns, [abs(t.value - g.exact) for t in trace])
    final["se_slope"] = _slope(ns, [t.standard_error for t in trace])
    if entry.reduces_variance and math.isfinite(se) and se > 0 and math.isfinite(last.plain_variance):
        # plain MC's variance with the same number of evaluations, over this method's
        final["variance_reduction"] = last.plain_variance / (se * se * last.evaluations)
    return final


def _result(g, method, ns, trace: List[Estimate], seed, stop: Optional[T.Interrupted] = None) -> Result:
    """The Result of the estimates ``trace`` at the checkpoints ``ns``; KILLED with ``stop``'s
    message when a Ctrl-C or SIGTERM stopped the integration before the last checkpoint."""
    final = _final(g, method, ns, trace)
    steps = np.array(ns, dtype=np.int64)
    values = np.array([t.value for t in trace])
    ses = np.array([t.standard_error for t in trace])
    errors = np.abs(values - g.exact) if g.exact is not None else None
    metrics = {"estimate": Series(steps, values)}
    if np.isfinite(ses).all():
        metrics["standard_error"] = Series(steps, ses)
    if errors is not None:
        metrics["abs_error"] = Series(steps, errors)
    entry = INTEGRATORS[method.name]
    chunks = -(-int(ns[-1]) // M.CHUNK) if entry.chunked or g.name in ("kl", "elbo") else 0
    info = {"integrand": g.name, "integrator": method.name, "label": g.label, "d": g.d, "seed": seed,
            "chunk_size": M.CHUNK, "chunks": chunks, "threads": _threads()}
    if "change_of_variables" in g.meta:
        info["change_of_variables"] = g.meta["change_of_variables"]
    status, message = FINISHED, ""
    bad = trace[-1].non_finite
    if bad or not math.isfinite(final["estimate"]):
        status = FAILED
        message = (f"the integrand was non-finite (NaN or inf) at {bad} of {trace[-1].evaluations} evaluations; "
                   "the estimate leaves them out and is not the integral" if bad else
                   "the estimate is not finite")
        if entry.evaluates_ends and g.box is None:
            message += " (this rule evaluates the ends of an infinite range: use gauss_legendre or adaptive)"
    if stop is not None:
        status, message = KILLED, stop.message
        info["n_requested"] = stop.requested
    trajectory = {"n": steps, "estimate": values, "standard_error": ses,
                  "non_finite": np.array([t.non_finite for t in trace], dtype=np.int64)}
    result = Result(task="integrate", status=status, message=message, final=final, info=info, metrics=metrics,
                    trajectory=trajectory,
                    tags={"numba_compile_s": f"{g.compile_seconds:.3f}", "chunks": str(chunks),
                          "chunk_size": str(M.CHUNK), "threads": str(info["threads"])})
    if errors is not None:
        result.plots = [("convergence.png", lambda: _convergence_plot(ns, errors, ses, g.label, method.name))]
    return result


def _convergence_plot(ns, errors, ses, label, method):
    from runner.outputs.plots import figure

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


def _information(g, method, ns, seed, progress) -> Result:
    """KL (three estimators) or the ELBO, at every checkpoint n, against the closed form."""
    extras = []

    def estimate(i, advance) -> Estimate:
        n = ns[i]
        if g.name == "kl":
            out = np.zeros(6)
            M.kl_sums(*map(float, g.P), n, seed, out)
            est = {k: (out[2 * i] / n, math.sqrt(max(out[2 * i + 1] / n - (out[2 * i] / n) ** 2, 0.0) / n))
                   for i, k in enumerate(("k1", "k2", "k3"))}
            facts = g.meta
            extra = {f"{k}": v[0] for k, v in est.items()} | {f"{k}_standard_error": v[1] for k, v in est.items()}
            extra |= {f"{k}_error": v[0] - g.exact for k, v in est.items()}      # this run's error
            extra |= {f"{k}_bias": facts["bias"][k] for k in est}                # E[k] - KL, exact
            extras.append(extra | {"headline_estimator": facts["headline"], "warnings": list(facts["warnings"])})
            advance(n)
            return Estimate(*est[facts["headline"]], n)
        out = np.zeros(2)
        mu0, t0, sig, m, s = map(float, g.P)
        M.elbo_sums(np.ascontiguousarray(g.meta["x"]), mu0, t0, sig, m, s, n, seed, out)
        mean = out[0] / n
        advance(n)
        return Estimate(mean, math.sqrt(max(out[1] / n - mean * mean, 0.0) / n), n)

    stop = None
    try:
        trace = T.each_checkpoint(ns, ns, estimate, progress, f"{g.name} by sampling")
    except T.Interrupted as e:
        stop, ns, trace = e, e.ns, e.trace
    result = _result(g, method, ns, trace, seed, stop)
    if extras:
        result.final.update(extras[len(trace) - 1])
    if g.name == "elbo":
        ev = g.meta["log_evidence"]
        result.final.update(log_evidence=ev, gap=ev - g.exact, elbo_exact=g.exact,
                            posterior={"mu": g.meta["posterior_mu"], "sigma": g.meta["posterior_sigma"]},
                            q={"mu": g.meta["q_mu"], "sigma": g.meta["q_sigma"]})
    return result


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())
