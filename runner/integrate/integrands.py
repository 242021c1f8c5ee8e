"""The ``integrand`` config group: what task=integrate integrates, with exact values where known.

Every option becomes an :class:`Integrand`: a kernel ``kind`` and constant vector ``P`` for
:mod:`kernels.montecarlo` (which sees everything as g(u) on the unit cube [0, 1]^d), an
optional compiled expression, the exact value of the integral (or None) and a label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from kernels import montecarlo as M
from runner.errors import ConfigError
from runner.config.validate import in_range, one_of, positive

GENZ_FAMILIES = ("oscillatory", "product_peak", "corner_peak", "gaussian", "continuous", "discontinuous")
DISTRIBUTIONS = ("uniform", "normal", "exponential")


@dataclass
class Integrand:
    name: str
    label: str
    kind: int
    P: np.ndarray
    d: int
    exact: Optional[float]
    f: Any = M.no_expression      # numba PointFn
    quantity: str = "integral"    # integral | variance (of f(X) under p, for expectations)
    box: Optional[np.ndarray] = None   # (d, 2) bounds of the variables when g(u) = vol f(lo + (hi - lo) u)
    compile_seconds: float = 0.0
    meta: dict = field(default_factory=dict)


@dataclass
class PowerIntegrand:
    """x^p on [a, b]: the tutorial's x^2 (p = 2) on [0, 2] = 8/3 and on [0, 1] = 1/3."""
    name: str = "power"
    p: float = 2.0
    a: float = 0.0
    b: float = 2.0

    def check(self):
        if not self.a < self.b:
            raise ConfigError("b", f"the box needs a < b, got a={self.a}, b={self.b}")
        if self.a < 0 and self.p != int(self.p):
            raise ConfigError("p", "a non-integer power needs a >= 0")


@dataclass
class GaussianPdf:
    """The N(mu, sigma^2) density over the whole real line (integral 1)."""
    name: str = "gaussian_pdf"
    mu: float = 0.0
    sigma: float = 1.0

    def check(self):
        positive("sigma", self.sigma)


@dataclass
class GenzIntegrand:
    """Genz's test families on [0, 1]^d; c (difficulty) and w (shift), one value per dimension
    (a single value is repeated)."""
    name: str = "genz"
    family: str = "gaussian"
    d: int = 2
    c: List[float] = field(default_factory=lambda: [2.0])
    w: List[float] = field(default_factory=lambda: [0.5])

    def check(self):
        one_of("family", self.family, GENZ_FAMILIES)
        in_range("d", self.d, 1, 20, hi_open=False)
        for key in ("c", "w"):
            if len(getattr(self, key)) not in (1, self.d):
                raise ConfigError(key, f"needs 1 or d={self.d} values, got {len(getattr(self, key))}")
        if any(c <= 0 for c in self.c):
            raise ConfigError("c", f"must be > 0, got {list(self.c)}")
        if any(not 0 <= w <= 1 for w in self.w):
            raise ConfigError("w", f"must be in [0, 1], got {list(self.w)}")


@dataclass
class ExprIntegrand:
    """A formula over a box: box is [lo, hi] for every variable or [[lo, hi], ...]."""
    name: str = "expr"
    f: str = "x**2"
    variables: Optional[List[str]] = None
    box: Any = field(default_factory=lambda: [0.0, 1.0])
    exact: Optional[float] = None


@dataclass
class Expectation:
    """E_p[f(X)] (quantity: mean) or Var_p[f(X)] (quantity: variance) for X ~ p with independent
    coordinates (a diagonal normal, a product of uniforms or exponentials), sampled through the
    inverse CDF: infinite ranges without truncation.  Parameters: one value or one per variable."""
    name: str = "expectation"
    f: str = "x"
    variables: Optional[List[str]] = None
    distribution: str = "uniform"
    a: Any = 0.0        # uniform
    b: Any = 1.0
    mu: Any = 0.0       # normal
    sigma: Any = 1.0
    rate: Any = 1.0     # exponential
    quantity: str = "mean"
    exact: Optional[float] = None

    def check(self):
        one_of("distribution", self.distribution, DISTRIBUTIONS)
        one_of("quantity", self.quantity, ("mean", "variance"))
        for key in ("a", "b", "mu", "sigma", "rate"):
            values = getattr(self, key)
            values = list(values) if hasattr(values, "__len__") else [values]
            if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
                raise ConfigError(key, f"must be a number or a list of numbers, got {getattr(self, key)!r}")
            if key in ("sigma", "rate") and min(values) <= 0:
                raise ConfigError(key, f"must be > 0, got {getattr(self, key)}")


@dataclass
class KLDivergence:
    """KL(p || q) for p = N(p_mu, p_sigma^2), q = N(q_mu, q_sigma^2) by sampling x ~ p, with
    Schulman's three estimators k1, k2, k3 (the reported estimate is k3, unbiased and >= 0,
    when its variance is finite, q_sigma < sqrt(2)*p_sigma; else k1: see kl_estimators)."""
    name: str = "kl"
    p_mu: float = 0.0
    p_sigma: float = 1.0
    q_mu: float = 1.0
    q_sigma: float = 1.0

    def check(self):
        positive("p_sigma", self.p_sigma)
        positive("q_sigma", self.q_sigma)


@dataclass
class ELBO:
    """The evidence lower bound of q(z) = N(q_mu, q_sigma^2) for the conjugate model
    z ~ N(prior_mu, prior_sigma^2), x_i | z ~ N(z, noise_sigma^2), against the exact log evidence.
    q_mu / q_sigma null: the exact posterior (then ELBO = log p(x))."""
    name: str = "elbo"
    x: List[float] = field(default_factory=lambda: [1.2, 0.8, 1.5])
    prior_mu: float = 0.0
    prior_sigma: float = 1.0
    noise_sigma: float = 1.0
    q_mu: Optional[float] = None
    q_sigma: Optional[float] = None

    def check(self):
        if not self.x:
            raise ConfigError("x", "needs at least one observation")
        positive("prior_sigma", self.prior_sigma)
        positive("noise_sigma", self.noise_sigma)
        if self.q_sigma is not None:
            positive("q_sigma", self.q_sigma)


INTEGRAND_SCHEMAS = {"kl": KLDivergence, "elbo": ELBO, "power": PowerIntegrand, "gaussian_pdf": GaussianPdf, "genz": GenzIntegrand,
                     "expr": ExprIntegrand, "expectation": Expectation}


def build_integrand(v) -> Integrand:
    if v.name == "kl":
        exact = (math.log(v.q_sigma / v.p_sigma) + (v.p_sigma ** 2 + (v.p_mu - v.q_mu) ** 2) / (2 * v.q_sigma ** 2) - 0.5)
        return Integrand("kl", f"KL(N({v.p_mu:g}, {v.p_sigma:g}^2) || N({v.q_mu:g}, {v.q_sigma:g}^2))", -1,
                         np.array([v.p_mu, v.p_sigma, v.q_mu, v.q_sigma]), 1, exact,
                         meta=kl_estimators(v.p_mu, v.p_sigma, v.q_mu, v.q_sigma, exact))
    if v.name == "elbo":
        return _elbo(v)
    if v.name == "power":
        exact = (v.b ** (v.p + 1) - v.a ** (v.p + 1)) / (v.p + 1) if v.p != -1 else math.log(v.b / v.a)
        return Integrand("power", f"x^{v.p:g} on [{v.a:g}, {v.b:g}]", M.POWER, np.array([1.0, v.a, v.b, v.p]), 1, exact,
                         box=np.array([[v.a, v.b]]))
    if v.name == "gaussian_pdf":
        return Integrand("gaussian_pdf", f"N({v.mu:g}, {v.sigma:g}^2) density over R", M.GAUSS_PDF,
                         np.array([v.mu, v.sigma]), 1, 1.0,
                         meta={"change_of_variables": "x = mu + sigma tan(pi (u - 1/2)), u in (0, 1)"})
    if v.name == "genz":
        c = np.resize(np.array(v.c, float), v.d)
        w = np.resize(np.array(v.w, float), v.d)
        fam = GENZ_FAMILIES.index(v.family)
        return Integrand("genz", f"Genz {v.family}, d={v.d}", M.GENZ, np.concatenate([[v.d, fam], c, w]), v.d,
                         genz_exact(fam, c, w), box=np.tile([0.0, 1.0], (v.d, 1)))
    if v.name == "expr":
        return _expr_integrand(v)
    return _expectation(v)


def _expr_integrand(v) -> Integrand:
    from runner.expr.compile import compile_expression, parse_expression

    parsed = parse_expression(v.f, v.variables, key="integrand.f")
    if parsed.is_vector:
        raise ConfigError("integrand.f", "must be one scalar formula")
    d = len(parsed.variables)
    box = np.array(v.box, dtype=float)
    if box.shape == (2,):
        box = np.tile(box, (d, 1))
    if box.shape != (d, 2):
        raise ConfigError("integrand.box", f"expected [lo, hi] or {d} pairs for the variables "
                          f"({', '.join(parsed.variables)}), got {list(v.box)}")
    bad = [i for i in range(d) if not box[i, 0] < box[i, 1]]
    if bad or not np.isfinite(box).all():
        raise ConfigError("integrand.box", f"every interval needs finite lo < hi; {parsed.variables[bad[0]] if bad else ''} has {box[bad[0]].tolist() if bad else box.tolist()}")
    compiled = compile_expression(parsed)
    P = np.concatenate([[d], box[:, 0], box[:, 1]])
    return Integrand("expr", f"{parsed.text} over {box.tolist()}", M.BOX_EXPR, P, d, v.exact, compiled.value,
                     compile_seconds=compiled.compile_seconds, box=box)


def _expectation(v) -> Integrand:
    from runner.expr.compile import compile_expression, parse_expression

    parsed = parse_expression(v.f, v.variables, key="integrand.f")
    if parsed.is_vector:
        raise ConfigError("integrand.f", "must be one scalar formula")
    d = len(parsed.variables)
    keys = {"uniform": ("a", "b"), "normal": ("mu", "sigma"), "exponential": ("rate", None)}[v.distribution]
    params = [_per_variable(v, key, parsed.variables) if key else np.zeros(d) for key in keys]
    box = None
    if v.distribution == "uniform":
        box = np.stack(params, axis=1)
        if not (box[:, 0] < box[:, 1]).all():
            raise ConfigError("integrand.b", f"uniform(a, b) needs a < b, got a={v.a}, b={v.b}")
    compiled = compile_expression(parsed)
    dist = DISTRIBUTIONS.index(v.distribution)
    shown = {"uniform": f"U({v.a}, {v.b})", "normal": f"N({v.mu}, {v.sigma}^2)", "exponential": f"Exp({v.rate})"}
    word = "E" if v.quantity == "mean" else "Var"
    X = "X" if d == 1 else f"({', '.join(parsed.variables)})"
    return Integrand("expectation", f"{word}[{parsed.text}], {X} ~ {shown[v.distribution]}", M.EXPECT,
                     np.concatenate([[d, dist], *params]), d, v.exact, compiled.value,
                     quantity="variance" if v.quantity == "variance" else "integral",
                     compile_seconds=compiled.compile_seconds, box=box)


def _per_variable(v, key, variables) -> np.ndarray:
    values = getattr(v, key)
    values = np.array(list(values) if hasattr(values, "__len__") else [values], dtype=float)
    if values.size not in (1, len(variables)):
        raise ConfigError(f"integrand.{key}", f"needs 1 or {len(variables)} values (one per variable: "
                          f"{', '.join(variables)}), got {values.size}")
    return np.resize(values, len(variables))


def genz_exact(fam: int, c: np.ndarray, w: np.ndarray) -> float:
    """Closed forms of the Genz integrals over [0, 1]^d (Genz 1984), written so that no
    digits cancel: 1 - e^(-x) as -expm1(-x), and the corner peak by its integral form below."""
    d = c.size
    if fam == M.OSCILLATORY:
        z = np.exp(2j * np.pi * w[0]) * np.prod([(np.exp(1j * ci) - 1) / (1j * ci) for ci in c])
        return float(z.real)
    if fam == M.PRODUCT_PEAK:
        return float(np.prod(c * (np.arctan(c * (1 - w)) + np.arctan(c * w))))
    if fam == M.CORNER_PEAK:
        return corner_peak_exact(c)
    if fam == M.GAUSSIAN:
        return float(np.prod([math.sqrt(math.pi) / (2 * ci) * (math.erf(ci * (1 - wi)) + math.erf(ci * wi))
                              for ci, wi in zip(c, w)]))
    if fam == M.CONTINUOUS:
        return float(np.prod((-np.expm1(-c * w) - np.expm1(-c * (1 - w))) / c))
    upper = np.ones(d)
    upper[: min(d, 2)] = w[: min(d, 2)]
    return float(np.prod(np.expm1(c * upper) / c))


def corner_peak_exact(c: np.ndarray) -> float:
    """∫ over [0,1]^d of (1 + c·u)^-(d+1).  Genz's closed form (1/(d! Πc)) Σ_S (-1)^|S| / (1 + Σ_S cᵢ)
    sums 2^d terms of size ~1 to a result of size ~d!·Πc (1e-18 at d = 15, c = 0.01): every
    digit cancels.  With 1/t = ∫₀^∞ e^(-st) ds the sum is ∫₀^∞ e^(-s) Πᵢ (1 - e^(-s cᵢ)) ds, so

        I = (1/d!) ∫₀^∞ e^(-s) Πᵢ (1 - e^(-s cᵢ))/cᵢ ds,

    a positive integrand (no cancellation), integrated by QUADPACK (asked for 1e-13 relative)."""
    from scipy.integrate import quad

    d = c.size

    def integrand(s):
        return math.exp(-s - math.lgamma(d + 1)) * float(np.prod(-np.expm1(-s * c) / c))

    peak = float(d)   # the integrand behaves like s^d e^(-s) near its maximum
    total = 0.0
    for a, b in ((0.0, peak), (peak, np.inf)):
        total += quad(integrand, a, b, epsabs=0.0, epsrel=1e-13, limit=200)[0]
    return total


def kl_estimators(pm: float, ps: float, qm: float, qs: float, kl: float) -> dict:
    """What is known exactly about Schulman's estimators of KL(p || q), p = N(pm, ps²), q = N(qm, qs²),
    x ~ p.  With z = (x - pm)/ps ~ N(0, 1), log r = log q(x) - log p(x) = a + b·z + c·z² where
    b = -ps(pm - qm)/qs², c = (1 - ps²/qs²)/2 (and E[log r] = -KL), so

    - k1 = -log r and k2 = (log r)²/2 are polynomials in z: every moment is finite, always;
    - k3 = (r - 1) - log r has E[k3²] < ∞ iff E[r²] = E[exp(2a + 2bz + 2cz²)] < ∞ iff 2c < 1/2,
      i.e. qs < √2·ps; beyond it the sample standard error is meaningless (it does not shrink
      like n^-1/2, and intervals built on it miss);
    - biases: k1 and k3 are unbiased; E[k2] = (Var log r + KL²)/2 with Var log r = b² + 2c².

    Returns {"bias": {k: ...}, "finite_variance": {k: bool}, "warnings": [...], "headline": k}:
    the headline estimator is k3 where its variance is finite, else k1 (unbiased, finite variance)."""
    b, c = -ps * (pm - qm) / qs ** 2, 0.5 * (1.0 - ps ** 2 / qs ** 2)
    finite = {"k1": True, "k2": True, "k3": qs < math.sqrt(2.0) * ps}
    warnings = []
    if not finite["k3"]:
        warnings.append(f"k3 has infinite variance because q_sigma >= sqrt(2)*p_sigma ({qs:g} >= "
                        f"{math.sqrt(2.0) * ps:.6g}): E_p[(q/p)^2] diverges, so its standard error means "
                        f"nothing; the estimate reported is k1 (unbiased, finite variance)")
    return {"bias": {"k1": 0.0, "k2": 0.5 * (b * b + 2 * c * c + kl * kl) - kl, "k3": 0.0},
            "finite_variance": finite, "warnings": warnings, "headline": "k3" if finite["k3"] else "k1"}


def _elbo(v) -> Integrand:
    """Closed forms of the conjugate Gaussian model: posterior, log evidence and the ELBO of q."""
    x = np.array(v.x, dtype=float)
    n, mu0, t0, sig = x.size, v.prior_mu, v.prior_sigma, v.noise_sigma
    prec = 1 / t0 ** 2 + n / sig ** 2
    post_mu, post_sigma = (mu0 / t0 ** 2 + x.sum() / sig ** 2) / prec, prec ** -0.5
    cov = sig ** 2 * np.eye(n) + t0 ** 2 * np.ones((n, n))
    diff = x - mu0
    log_evidence = float(-0.5 * (n * math.log(2 * math.pi) + np.linalg.slogdet(cov)[1] + diff @ np.linalg.solve(cov, diff)))
    m = post_mu if v.q_mu is None else v.q_mu
    s = post_sigma if v.q_sigma is None else v.q_sigma
    h = 0.5 * math.log(2 * math.pi)
    elbo = float(np.sum(-0.5 * ((x - m) ** 2 + s ** 2) / sig ** 2 - math.log(sig) - h)
                 - 0.5 * ((m - mu0) ** 2 + s ** 2) / t0 ** 2 - math.log(t0) - h + 0.5 + math.log(s) + h)
    meta = {"log_evidence": log_evidence, "posterior_mu": post_mu, "posterior_sigma": post_sigma,
            "q_mu": m, "q_sigma": s, "x": x}
    return Integrand("elbo", f"ELBO of N({m:.4g}, {s:.4g}^2), n={n}", -2, np.array([mu0, t0, sig, m, s]), 1, elbo,
                     meta=meta)
