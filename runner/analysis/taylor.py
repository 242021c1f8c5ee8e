"""Taylor polynomials of f at a point: the formula, its values, and its error.

Tutorial, "Taylor Series Expansion":  f(x) ≈ f(a) + f'(a)(x-a) + f''(a)/2!·(x-a)² + ...,
and for several variables up to order 2 with the gradient and the Hessian.  Numerically,
for any order and dimension, the order-k polynomial at x is Σ_{j≤k} c_j where c_j are the
Taylor coefficients of t ↦ f(a + t(x - a)) at t = 0 (a jet, ``kernels.autodiff_taylor``),
so T_k(x) needs no symbolic work.  Without an expression graph (named and data problems)
the order is limited to 2 and uses the problem's gradient and Hessian.

For a smooth f the error |f(x) - T_k(x)| shrinks like r^(k+1) as r = ‖x - a‖ -> 0; the
growth table measures it along a direction and fits the slope on a log-log scale.
"""
from __future__ import annotations

from math import factorial
from typing import Dict, Optional, Sequence

import numpy as np
import sympy as sp

from kernels import autodiff_taylor as at
from runner.analysis.core import Subject, readable

GROWTH_POINTS = 25
ROUNDING_FLOOR = 1e-12   # errors below this (relative to |f|) are rounding, left out of the fit


def taylor_terms(subject: Subject, a: np.ndarray, x: np.ndarray, order: int,
                 gradient=None, hessian=None) -> np.ndarray:
    """[c_0, ..., c_order]: the order-j parts of the Taylor expansion at ``a`` evaluated at
    ``x`` (T_k(x) = c_0 + ... + c_k)."""
    if subject.tape is not None:
        T = np.empty((subject.tape.ops.size, order + 1))
        at.jet(*subject.tape.arrays, a, np.asarray(x, dtype=float) - a, T)
        return T[subject.tape.outs[0]].copy()
    d = np.asarray(x, dtype=float) - a
    terms = [subject.value(a)]
    if order >= 1:
        terms.append(float(gradient @ d))
    if order >= 2:
        terms.append(float(0.5 * d @ hessian @ d))
    return np.asarray(terms)


def polynomial_text(subject: Subject, a: np.ndarray, order: int, sym_derivs=None,
                    sym_gradient=None, sym_hessian=None) -> Optional[str]:
    """The Taylor polynomial as a formula (1-D: any order; n-D: order ≤ 2), with exact
    coefficients where SymPy finds them; None without an expression."""
    if not subject.symbolic:
        return None
    point = [sp.Rational(repr(float(v))) for v in a]   # the decimal the user typed, exactly
    sub = dict(zip(subject.symbols, point))
    shifts = [_shift(s, p) for s, p in zip(subject.symbols, point)]
    if subject.dim == 1:
        if sym_derivs is None or len(sym_derivs) <= order:
            return None
        poly = sum(_coefficient(sym_derivs[j].xreplace(sub)) / factorial(j) * shifts[0] ** j
                   for j in range(order + 1))
        return readable(poly, order="rev-lex")
    if order > 2:
        return None
    poly = _coefficient(subject.exprs[0].xreplace(sub))
    if order >= 1:
        poly += sum(_coefficient(g.xreplace(sub)) * d for g, d in zip(sym_gradient, shifts))
    if order >= 2:
        n = subject.dim
        poly += sp.Rational(1, 2) * sum(_coefficient(sym_hessian[i][j].xreplace(sub)) * shifts[i] * shifts[j]
                                        for i in range(n) for j in range(n))
    return readable(poly, order="rev-lex")


def _shift(symbol, point):
    """x - a as one opaque symbol printed "(x - a)" (or "x" at a = 0), so SymPy keeps the
    polynomial in powers of the shift instead of expanding it."""
    if point == 0:
        return symbol
    return sp.Symbol(f"({symbol} {'-' if point > 0 else '+'} {abs(point)})")


def _coefficient(value):
    """Exact when SymPy evaluates it to a rational, else a 12-digit float."""
    value = sp.sympify(value)
    if value.is_Rational:
        return value
    try:
        return sp.Float(sp.N(value, 12), 12)
    except (TypeError, ValueError):
        return sp.nan


def at_points(subject: Subject, a: np.ndarray, order: int, points: Sequence, gradient=None,
              hessian=None) -> Dict[str, list]:
    """T_order at each point, f there, and the error f - T_order."""
    rows = {"points": [], "taylor": [], "f": [], "error": []}
    for p in points:
        x = np.asarray(p, dtype=float).reshape(subject.dim)
        T = float(np.sum(taylor_terms(subject, a, x, order, gradient, hessian)))
        fx = subject.value(x)
        rows["points"].append(x.tolist() if subject.dim > 1 else float(x[0]))
        rows["taylor"].append(T)
        rows["f"].append(fx)
        rows["error"].append(fx - T)
    return rows


def error_growth(subject: Subject, a: np.ndarray, order: int, direction: np.ndarray, radius: float,
                 gradient=None, hessian=None) -> Dict[str, object]:
    """|f(a + r·u) - T_k(a + r·u)| for k = 1..order at GROWTH_POINTS distances r from
    radius·1e-3 to radius along the unit vector u, and each order's fitted log-log slope
    (≈ k + 1 for a smooth f; None when the error stays at rounding level, e.g. T_k = f)."""
    u = np.asarray(direction, dtype=float)
    u = u / np.linalg.norm(u)
    r = radius * np.logspace(-3, 0, GROWTH_POINTS)
    errors = np.empty((order, r.size))
    for i, ri in enumerate(r):
        x = a + ri * u
        partial = np.cumsum(taylor_terms(subject, a, x, order, gradient, hessian))
        errors[:, i] = np.abs(subject.value(x) - partial[1:])
    floor = ROUNDING_FLOOR * max(1.0, abs(subject.value(a)))
    slopes = [_slope(r, errors[k], floor) for k in range(order)]
    return {"distance": r, "errors": errors, "slopes": slopes}


def _slope(r: np.ndarray, err: np.ndarray, floor: float):
    """Least-squares slope of log err against log r over the points above the floor, taken
    from the small-r end (where the leading term dominates)."""
    ok = np.isfinite(err) & (err > floor)
    idx = np.nonzero(ok)[0]
    if idx.size < 3:
        return None
    idx = idx[: max(3, idx.size // 2)]
    return float(np.polyfit(np.log(r[idx]), np.log(err[idx]), 1)[0])
