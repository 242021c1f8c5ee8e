"""Integration kernels against independent math: the generator against SplitMix64's published
output, Genz closed forms against SciPy, Gauss-Kronrod's nodes against Gauss-Legendre and its
degree of exactness, the adaptive rule against scipy.integrate.quad, stratified and importance
sampling against their variance formulas, and the chunk/prefix/seed contract."""
import math

import numpy as np
import pytest
from scipy import integrate as si
from scipy import stats

from kernels import montecarlo as M
from kernels import quadrature as Q
from kernels.rng import bits, stream_key, uniform_pair
from runner.integrate.integrands import GENZ_FAMILIES, genz_exact

NOEXPR = M.no_expression
X2_UNIT = np.array([1.0, 0.0, 1.0, 2.0])         # POWER: x^2 on [0, 1]
NO_Q = np.zeros(1)


def mc(kind, P, d, n, seed=0, method=M.PLAIN, Qvec=NO_Q):
    sums = np.zeros((-(-n // M.CHUNK), M.N_SUMS))
    M.mc_sums(kind, P, NOEXPR, d, n, seed, method, Qvec, 0, sums)
    return sums


def test_splitmix64_matches_its_published_first_output():
    # SplitMix64 seeded with 0 first outputs 0xE220A8397B1DCDAF (Vigna's splitmix64.c): bits(0, 1)
    assert int(bits(np.uint64(0), 1)) == 0xE220A8397B1DCDAF
    z = 0xE220A8397B1DCDAF
    u1, u2 = uniform_pair(np.uint64(0), 1)
    assert u1 == ((z >> 32) + 0.5) / 2 ** 32 and u2 == ((z & 0xFFFFFFFF) + 0.5) / 2 ** 32


def test_uniform_pairs_are_uniform_and_uncorrelated():
    key = np.uint64(stream_key(3, 0))
    draws = np.array([uniform_pair(key, j) for j in range(20000)])
    for col in draws.T:
        assert stats.kstest(col, "uniform").pvalue > 1e-3
    assert abs(np.corrcoef(draws[:, 0], draws[:, 1])[0, 1]) < 4 / math.sqrt(20000)
    assert abs(np.corrcoef(draws[:-1, 0], draws[1:, 0])[0, 1]) < 4 / math.sqrt(20000)


@pytest.mark.parametrize("family", GENZ_FAMILIES)
def test_genz_closed_forms_match_scipy(family):
    c, w = np.array([1.5, 2.5]), np.array([0.3, 0.6])
    fam = GENZ_FAMILIES.index(family)
    P = np.concatenate([[2, fam], c, w])
    x = np.empty(2)
    f = lambda a, b: M.g_of(M.GENZ, P, NOEXPR, np.array([a, b]), x)
    points = [[w[0]], [w[1]]] if family in ("continuous", "discontinuous") else None
    opts = [{"points": points[1]}, {"points": points[0]}] if points else [{}, {}]
    ref, _ = si.nquad(lambda b, a: f(a, b), [[0, 1], [0, 1]], opts=opts)
    assert genz_exact(fam, c, w) == pytest.approx(ref, rel=1e-8)


def test_norm_ppf_matches_scipy():
    p = np.array([1e-12, 1e-6, 0.01, 0.02425, 0.3, 0.5, 0.8, 0.97575, 0.999999])
    np.testing.assert_allclose([M.norm_ppf(v) for v in p], stats.norm.ppf(p), rtol=1e-13)


@pytest.mark.parametrize("P,method", [(X2_UNIT, M.PLAIN), (np.array([1.0, 0.0, 1.0, 3.0]), M.PLAIN),
                                      (X2_UNIT, M.ANTITHETIC)])
def test_mc_chunks_are_prefixes_and_seeded(P, method):
    a = mc(M.POWER, P, 1, 4 * M.CHUNK, 7, method)
    b = mc(M.POWER, P, 1, 2 * M.CHUNK, 7, method)
    np.testing.assert_array_equal(a[:2], b)                 # the first chunks are the same numbers
    assert not np.array_equal(a[:2], mc(M.POWER, P, 1, 2 * M.CHUNK, 8, method))


def test_x_squared_tight_loop_sums_the_pairs_of_the_stream():
    """The specialised x^2 loop: sample 2j is the high half of draw j, 2j + 1 the low half."""
    n = 7
    u = np.array([uniform_pair(np.uint64(stream_key(5, 0)), j) for j in range(4)]).ravel()[:n]
    g = 4.0 * (1.0 + 4.0 * u) ** 2                          # x^2 on [1, 5]: g = 4 x^2
    s = mc(M.POWER, np.array([1.0, 1.0, 5.0, 2.0]), 1, n, 5)[0]
    assert s[0] == pytest.approx(g.sum(), rel=1e-15) and s[1] == pytest.approx((g * g).sum(), rel=1e-15)


@pytest.mark.parametrize("P,exact", [(X2_UNIT, 1 / 3), (np.array([1.0, 0.0, 1.0, 2.5]), 1 / 3.5)])
def test_plain_mc_is_within_its_standard_error(P, exact):
    n = 2_000_000
    s = mc(M.POWER, P, 1, n, 11).sum(axis=0)
    mean = s[0] / n
    se = math.sqrt((s[1] / n - mean ** 2) / n)
    assert abs(mean - exact) < 4 * se
    assert se == pytest.approx(math.sqrt((1 / (2 * P[3] + 1) - exact ** 2) / n), rel=0.01)


def test_non_finite_values_are_counted_and_left_out():
    P = np.array([1.0, -1.0, 1.0, 0.5])        # 2 sqrt(x) on [-1, 1]: NaN for x < 0
    n = 400_000
    s = mc(M.POWER, P, 1, n, 2).sum(axis=0)
    assert abs(s[5] - n / 2) < 5 * math.sqrt(n / 4)
    assert s[0] / (n - s[5]) == pytest.approx(2 * 2 / 3, rel=0.01)     # mean of 2 sqrt(x) on [0, 1]


def test_gauss_kronrod_nodes_and_degree():
    x, w = np.polynomial.legendre.leggauss(7)
    np.testing.assert_allclose(Q.XGK[[1, 3, 5, 7]], -x[:4], atol=1e-15)
    np.testing.assert_allclose(Q.WG, w[:4], rtol=1e-14)
    nodes = np.concatenate([Q.XGK, -Q.XGK[:7]])
    weights = np.concatenate([Q.WGK, Q.WGK[:7]])
    for k in range(0, 23, 2):                                  # exact to degree 3 * 7 + 1 = 22
        assert weights @ nodes ** k == pytest.approx(2 / (k + 1), abs=1e-15)
    assert abs(weights @ nodes ** 24 - 2 / 25) > 1e-12        # and no higher


@pytest.mark.parametrize("P,exact", [(np.array([1.0, 0.0, 1.0, -0.5]), 2.0),          # 1/sqrt(x): endpoint singularity
                                     (np.array([1.0, 0.0, 3.0, 0.3]), 3 ** 1.3 / 1.3)])
def test_adaptive_gauss_kronrod_against_quad(P, exact):
    out = np.zeros(5)
    Q.adaptive_gk15(M.POWER, P, NOEXPR, 5000, 1e-10, 1e-10, out)
    ref, _ = si.quad(lambda t: t ** P[3], P[1], P[2], epsabs=1e-12, epsrel=1e-12, limit=200)
    assert out[0] == pytest.approx(ref, rel=1e-9) and out[0] == pytest.approx(exact, rel=1e-9)
    assert abs(out[0] - exact) <= out[1] and out[2] <= 5000 and out[4] == 0


def test_tensor_rule_matches_the_stored_grid():
    c, w = np.array([1.0, 2.0, 3.0]), np.array([0.2, 0.5, 0.7])
    P = np.concatenate([[3, M.GAUSSIAN], c, w])
    nodes = np.linspace(0, 1, 9)
    weights = np.full(9, 1 / 8)
    weights[[0, -1]] = 1 / 16
    grid = np.stack(np.meshgrid(nodes, nodes, nodes, indexing="ij"), -1).reshape(-1, 3)
    W = np.prod(np.stack(np.meshgrid(weights, weights, weights, indexing="ij"), -1).reshape(-1, 3), axis=1)
    ref = W @ np.exp(-((grid - w) ** 2 * c ** 2).sum(axis=1))
    sums = np.zeros((1, 3))
    Q.rule_sums(M.GENZ, P, NOEXPR, 3, nodes, weights, 0, sums)
    assert sums[0, 0] == pytest.approx(ref, rel=1e-14) and sums[0, 2] == 0


def test_stratified_standard_error_matches_theory():
    """g = u on [0, 1], k strata, two points each: Var(estimate) = 1 / (24 k^3)."""
    k = 50_000
    sums = np.zeros((-(-k // (M.CHUNK // 2)), M.N_SUMS))
    M.stratified_sums(M.POWER, np.array([1.0, 0.0, 1.0, 1.0]), NOEXPR, 1, k, 4, 0, sums)
    s = sums.sum(axis=0)
    se = math.sqrt(s[2]) / (2 * k)
    assert se == pytest.approx(math.sqrt(1 / (24 * k ** 3)), rel=0.02)
    assert abs(s[0] / (2 * k) - 0.5) < 4 * se


def test_importance_weights_are_reciprocal_densities():
    """E_q[1 / q] is the cube's volume, 1, for every proposal; E_q[g / q] is the integral."""
    d = 2
    P = np.concatenate([[d, M.GAUSSIAN], [3.0, 3.0], [0.3, 0.6]])
    exact = genz_exact(M.GAUSSIAN, np.array([3.0, 3.0]), np.array([0.3, 0.6]))
    loc, scale = np.array([0.3, 0.6]), np.array([0.25, 0.25])
    cdf_lo = stats.norm.cdf(-loc / scale)
    proposals = {
        "power": np.concatenate([[M.Q_POWER], [0.5, -0.3], np.zeros(6)]),
        "normal": np.concatenate([[M.Q_NORMAL], loc, scale, cdf_lo, stats.norm.cdf((1 - loc) / scale) - cdf_lo]),
    }
    n = 400_000
    for name, Qvec in proposals.items():
        s = mc(M.GENZ, P, d, n, 9, M.IMPORTANCE, Qvec).sum(axis=0)
        w_se = math.sqrt((s[3] / n - (s[2] / n) ** 2) / n)
        assert abs(s[2] / n - 1.0) < 4 * w_se, name
        se = math.sqrt((s[1] / n - (s[0] / n) ** 2) / n)
        assert abs(s[0] / n - exact) < 4 * se, name
    plain = mc(M.GENZ, P, d, n, 9).sum(axis=0)
    plain_se = math.sqrt((plain[1] / n - (plain[0] / n) ** 2) / n)
    assert se < plain_se / 2                 # a proposal near the peak helps
