"""The ``integrator`` config group: how task=integrate estimates the integral, and the estimates
along a convergence trace of geometric checkpoints n_1 < ... < n_k = n.

  mc, antithetic, control      Monte Carlo on the counter-based generator (kernels.montecarlo);
                               error ~ n^-1/2; control: h(U) = sum U_i with a regression beta
  importance                   samples from a proposal q (power, truncated normal, uniform on a
                               sub-box); reports the effective sample size of the weights 1/q
  stratified                   k^d equal cells, two uniform points in each (error ~ n^-1/2 - 1/d)
  sobol, halton                scrambled Sobol / Halton points (SciPy's generators), R independent
                               randomisations: the standard error is the spread of the replicates;
                               error ~ n^-1 (log n)^d on smooth integrands
  trapezoid, simpson,          tensor-product rules with n nodes per axis (kernels.quadrature);
  gauss_legendre               Gauss-Legendre with n nodes is exact for degree 2n - 1
  adaptive                     globally adaptive Gauss-Kronrod (7, 15), 1-D, QUADPACK's error estimate
  samples                      the mean of g at the points given (the tutorial's 4-sample example)

Each estimate is an :class:`Estimate` (value, standard error, evaluations, non-finite count),
computed by runner.integrate.trace; this module holds the schemas, the checkpoints and the
importance proposal (with its check that q covers the integrand).  The table that names each
option, runner.integrate.registry.INTEGRATORS, puts one schema, one run and one kind of
checkpoints together.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from kernels import montecarlo as M
from kernels import quadrature as Q
from runner.errors import ConfigError
from runner.config.validate import in_range, one_of, positive

MAX_N = 10 ** 12                  # samples (a run of 10^12 is hours; more is a typo)
MAX_GRID = 10 ** 9                # tensor-rule evaluations
PROPOSALS = ("power", "normal", "uniform")


@dataclass
class MonteCarlo:
    """Plain Monte Carlo: the mean of g at n uniform points."""
    name: str = "mc"
    n: int = 1_000_000

    def check(self):
        positive("n", self.n)
        in_range("n", self.n, 1, MAX_N, hi_open=False)


@dataclass
class Antithetic(MonteCarlo):
    """Pairs U, 1 - U (n evaluations = n / 2 pairs)."""
    name: str = "antithetic"

    def check(self):
        super().check()
        if self.n < 2:
            raise ConfigError("n", f"antithetic pairs need n >= 2, got {self.n}")


@dataclass
class ControlVariate(MonteCarlo):
    """g(U) - beta (h(U) - E h) with h = sum U_i, beta fitted from the same samples."""
    name: str = "control"


@dataclass
class Stratified(Antithetic):
    """k^d equal cells with k = floor((n / 2)^(1/d)), two points in each."""
    name: str = "stratified"


@dataclass
class Importance(MonteCarlo):
    """g / q at points from the proposal q, in the integrand's box coordinates (on the unit cube
    for integrands without a box: gaussian_pdf, expectations under normal or exponential).
    power: q = prod (alpha + 1) t_i^alpha, t the position in the box scaled to [0, 1];
    normal: N(loc, scale^2) truncated to the box; uniform: on [lo, hi] (zero density outside,
    refused unless the integrand is zero there).  One value or one per dimension; null: the box's
    centre (loc), a quarter of its width (scale), its bounds (lo, hi)."""
    name: str = "importance"
    proposal: str = "power"
    alpha: Any = 1.0
    loc: Any = None
    scale: Any = None
    lo: Any = None
    hi: Any = None

    def check(self):
        super().check()
        one_of("proposal", self.proposal, PROPOSALS)
        for key in ("alpha", "loc", "scale", "lo", "hi"):
            values = getattr(self, key)
            if values is None:
                continue
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in _listed(values)):
                raise ConfigError(key, f"must be a number or a list of numbers, got {values!r}")
        if any(a <= -1 for a in _listed(self.alpha)):
            raise ConfigError("alpha", f"must be > -1 (q must be integrable), got {self.alpha}")
        if self.scale is not None and any(s <= 0 for s in _listed(self.scale)):
            raise ConfigError("scale", f"must be > 0, got {self.scale}")


@dataclass
class Sobol:
    """Scrambled Sobol points (n a power of two: the nets are balanced only then)."""
    name: str = "sobol"
    n: int = 65536
    replicates: int = 16

    def check(self):
        positive("n", self.n)
        if self.name == "sobol" and self.n & (self.n - 1):
            raise ConfigError("n", f"must be a power of two for Sobol points (e.g. {1 << int(math.log2(self.n))}), "
                              f"got {self.n}")
        in_range("n", self.n, 1, 2 ** 32, hi_open=False)
        in_range("replicates", self.replicates, 2, 10_000, hi_open=False)


@dataclass
class Halton(Sobol):
    """Halton points with random digit permutations (scrambled)."""
    name: str = "halton"


@dataclass
class Simpson:
    """Composite Simpson with n nodes per axis (an even n gets one more node: Simpson needs odd)."""
    name: str = "simpson"
    n: int = 1025

    def check(self):
        in_range("n", self.n, 2, MAX_GRID, hi_open=False)


@dataclass
class Trapezoid(Simpson):
    name: str = "trapezoid"


@dataclass
class GaussLegendre(Simpson):
    """Gauss-Legendre with n nodes per axis: exact for polynomials of degree 2n - 1."""
    name: str = "gauss_legendre"
    n: int = 20

    def check(self):
        in_range("n", self.n, 1, 10_000, hi_open=False)


@dataclass
class Adaptive:
    """Globally adaptive Gauss-Kronrod (7, 15) in 1-D; n is the evaluation budget."""
    name: str = "adaptive"
    n: int = 2000
    abs_tol: float = 1.49e-8
    rel_tol: float = 1.49e-8

    def check(self):
        in_range("n", self.n, 15, 10 ** 8, hi_open=False)
        positive("abs_tol", self.abs_tol)
        positive("rel_tol", self.rel_tol)


@dataclass
class GivenSamples:
    """The mean of g (times the box volume) at the points given, in the integrand's own variable."""
    name: str = "samples"
    samples: Optional[List[float]] = None

    def check(self):
        if not self.samples:
            raise ConfigError("samples", "give the sample points, e.g. integrator.samples=[0.2,0.5,0.7,0.9]")



@dataclass
class Estimate:
    """One estimate of the integral and what it cost.  standard_error is nan for deterministic
    rules; plain_variance is Var g(U) per evaluation (for the variance-reduction factor)."""
    value: float
    standard_error: float = math.nan
    evaluations: int = 0
    non_finite: int = 0
    plain_variance: float = math.nan
    extra: dict = field(default_factory=dict)


def _listed(values) -> list:
    return list(values) if isinstance(values, (list, tuple)) or hasattr(values, "__len__") else [values]


# ---- checkpoints: geometric n (about n / 2^i, i < k), strictly increasing and ending at n ----
# Each integrator's entry names one of these: called as (method, d, k) -> [n_1, ..., n_k].

def _geometric(method, k: int):
    n = int(method.n)
    return n, [n / 2 ** i for i in range(k)]


def _up_to(ns, n: int) -> List[int]:
    return sorted(m for m in ns if m >= 1 and m <= max(n, 2))


def _chunked(n: int, raw) -> set:
    return {n} | {max(1, int(round(r / M.CHUNK)) * M.CHUNK) if r >= M.CHUNK else max(2, int(r)) for r in raw}


def chunk_checkpoints(method, d: int, k: int) -> List[int]:
    """Whole chunks of CHUNK samples above one chunk (prefix sums of one Monte Carlo run)."""
    n, raw = _geometric(method, k)
    return _up_to(_chunked(n, raw), n)


def pair_checkpoints(method, d: int, k: int) -> List[int]:
    """As chunk_checkpoints, rounded down to whole pairs (antithetic)."""
    n, raw = _geometric(method, k)
    return _up_to({m - m % 2 for m in _chunked(n, raw)}, n)


def strata_checkpoints(method, d: int, k: int) -> List[int]:
    """2 k^d: two points in each of k^d cells."""
    n, raw = _geometric(method, k)
    return _up_to({2 * strata_per_axis(r, d) ** d for r in raw}, n)


def power_of_two_checkpoints(method, d: int, k: int) -> List[int]:
    """Powers of two (balanced Sobol nets)."""
    n, raw = _geometric(method, k)
    return _up_to({1 << int(math.log2(max(r, 1))) for r in raw}, n)


def count_checkpoints(lowest: int, method, d: int, k: int) -> List[int]:
    """Rounded counts (nodes, points, evaluations), at least ``lowest``."""
    n, raw = _geometric(method, k)
    return _up_to({max(lowest, int(round(r))) for r in raw}, n)


def sample_checkpoints(method, d: int, k: int) -> List[int]:
    """The one checkpoint of given samples: all of them."""
    return [len(method.samples)]


def strata_per_axis(n: float, d: int) -> int:
    """The largest k with 2 k^d <= n (at least 1)."""
    k = max(1, int((n / 2) ** (1.0 / d)))
    while 2 * (k + 1) ** d <= n:
        k += 1
    while k > 1 and 2 * k ** d > n:
        k -= 1
    return k


def proposal_vector(g, method) -> np.ndarray:
    """The kernel's proposal vector Q (kernels.montecarlo.proposal_point) for ``integrator=importance``,
    in unit-cube coordinates; ConfigError if q is zero (or vanishes too fast) where g is not."""
    d = g.d
    box = g.box if g.box is not None else np.tile([0.0, 1.0], (d, 1))
    lo, width = box[:, 0], box[:, 1] - box[:, 0]
    per_axis = lambda key, default: _per_axis(f"integrator.{key}", getattr(method, key), default, d)
    kind = PROPOSALS.index(method.proposal)
    p = np.zeros((4, d))
    if method.proposal == "power":
        p[0] = per_axis("alpha", None)
        _refuse_vanishing_density(g, p[0])
    elif method.proposal == "normal":
        loc = (per_axis("loc", lo + width / 2) - lo) / width
        scale = per_axis("scale", width / 4) / width
        cdf_lo = np.array([M.norm_cdf(-m / s) for m, s in zip(loc, scale)])
        mass = np.array([M.norm_cdf((1 - m) / s) for m, s in zip(loc, scale)]) - cdf_lo
        if (mass < 1e-12).any():
            raise ConfigError("integrator.loc", "the normal proposal has (almost) no mass on the box; move loc inside it")
        p[:] = loc, scale, cdf_lo, mass
    else:
        a = np.clip((per_axis("lo", box[:, 0]) - lo) / width, 0.0, 1.0)
        b = np.clip((per_axis("hi", box[:, 1]) - lo) / width, 0.0, 1.0)
        if not (a < b).all():
            raise ConfigError("integrator.hi", f"the uniform proposal needs lo < hi inside the box {box.tolist()}")
        _refuse_uncovered(g, a, b)
        p[0], p[1] = a, b
    return np.concatenate([[kind], p.ravel()])


def _per_axis(key, values, default, d) -> np.ndarray:
    if values is None:
        return np.broadcast_to(np.asarray(default, dtype=float), (d,)).copy()
    values = np.array(_listed(values), dtype=float)
    if values.size not in (1, d):
        raise ConfigError(key, f"needs 1 or d={d} values, got {values.size}")
    return np.resize(values, d)


def _probe_points(d: int, m: int = 4096) -> np.ndarray:
    from scipy.stats import qmc

    return qmc.Sobol(d, scramble=True, seed=12345).random(m)


def _first_nonzero(g, U):
    """The first row of U where g is not zero (or None)."""
    out = np.zeros(3)
    Q.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(U), np.ones(len(U)), out)
    if out[1] == 0 and out[2] == 0:
        return None
    for u in U:
        Q.point_sums(g.kind, g.P, g.f, np.ascontiguousarray(u[None, :]), np.ones(1), out)
        if out[1] != 0 or out[2] != 0:
            return u
    return None


def _where(g, u) -> str:
    if g.box is None:
        return f"u={np.round(u, 4).tolist()}"
    x = g.box[:, 0] + (g.box[:, 1] - g.box[:, 0]) * u
    return f"x={np.round(x, 4).tolist()}"


def _refuse_uncovered(g, a, b) -> None:
    """A uniform proposal on [a, b] (unit-cube coordinates) must cover wherever g is not zero."""
    U = _probe_points(g.d)
    outside = U[((U < a) | (U > b)).any(axis=1)]
    hit = _first_nonzero(g, outside) if len(outside) else None
    if hit is not None:
        raise ConfigError("integrator.lo", f"the proposal has zero density at {_where(g, hit)} where the integrand "
                          "is not zero: importance sampling would miss that part; widen [lo, hi]")


def _refuse_vanishing_density(g, alpha) -> None:
    """q = (alpha + 1) t^alpha vanishes on the face t_i = 0; with alpha_i >= 1 the weights g / q have
    infinite variance unless g is zero on that face."""
    U = _probe_points(g.d, 1024)
    for i in np.flatnonzero(alpha >= 1):
        face = U.copy()
        face[:, i] = 0.0
        hit = _first_nonzero(g, face)
        if hit is not None:
            raise ConfigError("integrator.alpha", f"the proposal's density is zero at {_where(g, hit)} where the "
                              f"integrand is not: g/q has infinite variance for alpha >= 1; use alpha < 1 there")
