"""The Genz closed forms in high dimension against independent values computed by mpmath
with 60 digits (as the closed forms are written in Genz 1984; the cancellation that ruins
them in double precision is harmless at 60 digits), or by mpmath's own quadrature of each
one-dimensional factor."""
import math

import mpmath as mp
import numpy as np
import pytest

from kernels import montecarlo as M
from runner.integrate.integrands import genz_exact

FAMILY = {"oscillatory": M.OSCILLATORY, "product_peak": M.PRODUCT_PEAK, "corner_peak": M.CORNER_PEAK,
          "gaussian": M.GAUSSIAN, "continuous": M.CONTINUOUS, "discontinuous": M.DISCONTINUOUS}


def corner_peak_mp(c):
    """(1/(d! Πc)) Σ over subsets S of (-1)^|S| / (1 + Σ_{i∈S} cᵢ), at 60 digits; with all cᵢ
    equal the subsets of size k are C(d, k) equal terms."""
    with mp.workdps(60):
        c = [mp.mpf(float(v)) for v in c]
        d = len(c)
        if all(v == c[0] for v in c):
            total = mp.fsum((-1) ** k * mp.binomial(d, k) / (1 + k * c[0]) for k in range(d + 1))
        else:
            total = mp.fsum((-1) ** bin(s).count("1") / (1 + mp.fsum(c[i] for i in range(d) if s >> i & 1))
                            for s in range(1 << d))
        return float(total / (mp.factorial(d) * mp.fprod(c)))


@pytest.mark.parametrize("d", [10, 15, 20])
@pytest.mark.parametrize("c", [0.01, 0.05, 2.0])
def test_corner_peak_in_high_dimension(d, c):
    got = genz_exact(M.CORNER_PEAK, np.full(d, c), np.full(d, 0.5))
    assert got == pytest.approx(corner_peak_mp([c] * d), rel=1e-12)


@pytest.mark.parametrize("d", [10, 15])
def test_corner_peak_with_unequal_c(d):
    c = np.linspace(0.005, 0.3, d)
    assert genz_exact(M.CORNER_PEAK, c, np.full(d, 0.5)) == pytest.approx(corner_peak_mp(c), rel=1e-12)


def factor_mp(family, c, w):
    """∫₀¹ of one coordinate's factor, by mpmath quadrature at 30 digits (split at w)."""
    g = {"product_peak": lambda u: 1 / (c ** -2 + (u - w) ** 2),
         "gaussian": lambda u: mp.exp(-c ** 2 * (u - w) ** 2),
         "continuous": lambda u: mp.exp(-c * abs(u - w)),
         "discontinuous": lambda u: mp.exp(c * u)}[family]
    return mp.quad(g, [0, w, 1])


@pytest.mark.parametrize("family", ["oscillatory", "product_peak", "gaussian", "continuous", "discontinuous"])
@pytest.mark.parametrize("c", [1e-6, 0.05, 2.0])
def test_the_other_families_at_d_20(family, c):
    d = 20
    rng = np.random.default_rng(3)
    cs, ws = c * (0.5 + rng.random(d)), rng.random(d)
    got = genz_exact(FAMILY[family], cs, ws)
    with mp.workdps(30):
        if family == "oscillatory":   # Re e^{2πi w₁} Π ∫₀¹ e^{i cⱼ u} du
            z = mp.exp(2j * mp.pi * ws[0]) * mp.fprod(mp.quad(lambda u, cj=cj: mp.exp(1j * cj * u), [0, 1])
                                                      for cj in cs)
            want = float(mp.re(z))
        elif family == "discontinuous":   # 0 beyond w in the first two coordinates
            want = float(mp.fprod(mp.quad(lambda u, cj=cj: mp.exp(cj * u), [0, ws[j] if j < 2 else 1])
                                  for j, cj in enumerate(cs)))
        else:
            want = float(mp.fprod(factor_mp(family, mp.mpf(cj), mp.mpf(wj)) for cj, wj in zip(cs, ws)))
    assert got == pytest.approx(want, rel=1e-12, abs=1e-15 * math.prod(1 + cs))
