"""The ``integrator`` options of task=integrate: one entry of :data:`INTEGRATORS` each.

An entry puts together the option's schema (runner.integrate.integrators: keys, defaults,
checks), what kind of method it is, how it runs (runner.integrate.trace) and at which n its
convergence trace is taken.  The task reads only the entry; adding an integrator is one entry
here (with its schema and, if it is new, its run and kernel), conf/integrator/NAME.yaml and a test.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Optional

from kernels import montecarlo as M
from runner.integrate import integrators as I
from runner.integrate import trace as T

KINDS = ("random", "quasi-random", "quadrature", "adaptive", "samples")


@dataclass(frozen=True)
class NamedIntegrator:
    """One ``integrator=`` option.

    run          (g, method, ns, seed, prepared, progress) -> the Estimate at every checkpoint of ns
                 (progress: TaskContext.progress; Ctrl-C: runner.integrate.trace.Interrupted)
    checkpoints  (method, d, k) -> the k (or fewer) increasing n of the trace, ending at n
    prepare      (g, method) -> what run needs from the integrand (importance: the proposal);
                 may refuse the pair with a ConfigError before any work
    nodes        quadrature: n -> (nodes, weights) of its 1-D rule on [0, 1] (the grid is checked
                 against MAX_GRID before any work)
    one_d        only for one-dimensional integrands
    reduces_variance  report variance_reduction against plain Monte Carlo
    chunked      draws from kernels.montecarlo's chunked streams (the result says how many chunks)
    """
    schema: type
    kind: str
    run: Callable
    checkpoints: Callable
    prepare: Optional[Callable] = None
    nodes: Optional[Callable] = None
    one_d: bool = False
    reduces_variance: bool = False
    chunked: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"integrator kind {self.kind!r} is not one of {KINDS}")

    @property
    def evaluates_ends(self) -> bool:
        """A rule with nodes at 0 and 1 (it fails on an integrand infinite at the ends)."""
        return self.nodes is not None and self.nodes(3)[0][0] == 0.0


def monte_carlo(schema, code: int, checkpoints=I.chunk_checkpoints, **flags) -> NamedIntegrator:
    """A Monte Carlo method of kernels.montecarlo.mc_sums (``code``: M.PLAIN, M.ANTITHETIC, ...)."""
    return NamedIntegrator(schema, "random", partial(T.monte_carlo, code), checkpoints, chunked=True, **flags)


def quadrature(schema, nodes: Callable, lowest: int) -> NamedIntegrator:
    """A tensor-product rule with ``nodes(n)`` per axis; at least ``lowest`` nodes."""
    return NamedIntegrator(schema, "quadrature", partial(T.rule, nodes), partial(I.count_checkpoints, lowest),
                           nodes=nodes)


INTEGRATORS = {
    "mc": monte_carlo(I.MonteCarlo, M.PLAIN),
    "antithetic": monte_carlo(I.Antithetic, M.ANTITHETIC, I.pair_checkpoints, reduces_variance=True),
    "control": monte_carlo(I.ControlVariate, M.CONTROL, reduces_variance=True),
    "importance": monte_carlo(I.Importance, M.IMPORTANCE, reduces_variance=True, prepare=I.proposal_vector),
    "stratified": NamedIntegrator(I.Stratified, "random", T.stratified, I.strata_checkpoints, reduces_variance=True),
    "sobol": NamedIntegrator(I.Sobol, "quasi-random", partial(T.quasi_random, T.sobol_points),
                             I.power_of_two_checkpoints),
    "halton": NamedIntegrator(I.Halton, "quasi-random", partial(T.quasi_random, T.halton_points),
                              partial(I.count_checkpoints, 2)),
    "trapezoid": quadrature(I.Trapezoid, T.trapezoid_nodes, lowest=2),
    "simpson": quadrature(I.Simpson, T.simpson_nodes, lowest=2),
    "gauss_legendre": quadrature(I.GaussLegendre, T.gauss_legendre_nodes, lowest=1),
    "adaptive": NamedIntegrator(I.Adaptive, "adaptive", T.adaptive, partial(I.count_checkpoints, 15), one_d=True),
    "samples": NamedIntegrator(I.GivenSamples, "samples", T.given_samples, I.sample_checkpoints, one_d=True),
}
INTEGRATOR_SCHEMAS = {name: entry.schema for name, entry in INTEGRATORS.items()}
