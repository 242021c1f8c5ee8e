"""Critical points in a box (multi-start Newton, deduplicated, classified) and convexity.

Critical points: Newton on ∇f = 0 (``kernels.newton``) from a grid of starts (n ≤ 3) or
seeded uniform starts in the box.  At a degenerate root (singular Hessian, e.g. x⁵ at 0)
Newton converges only linearly, and ‖∇f‖ ≤ tol is reached far from the root (|x| ≈ 2e-3 for
x⁵), so each converged root is refined by Newton steps multiplied by the multiplicity the
contraction reveals (a root of multiplicity m shrinks the step by (m-1)/m; the step times m
lands on it: Schröder's modification of Newton's method for multiple roots).  Refined roots are merged when closer than MERGE_RADIUS·(box diagonal) or
than the sum of their error estimates (m·‖Newton step‖, which grows as the Hessian becomes
singular), and each is classified by the eigenvalues of its Hessian (tutorial, "Second
Derivative Test" and "Hessian Matrix"), an eigenvalue counting as zero within
ZERO_EIGENVALUE·(largest Hessian norm over the starts).  Where the Hessian is singular the
test is inconclusive: in 1-D the first derivative of order k ≥ 3 that does not vanish decides
(odd k: an inflection point; even k: a minimum or maximum by its sign); otherwise the point
is reported DEGENERATE.

Convexity: a twice-differentiable f is convex on a convex set iff its Hessian is positive
semidefinite there (Boyd and Vandenberghe, *Convex Optimization*, §3.1.4).  Sampling can
only refute it: the report is "not convex" with a witness (a point with a negative
eigenvalue, or a midpoint where f lies above the chord, which also catches kinks such as
-|x| that a Hessian test cannot see), or "no counterexample found in N samples".
"""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np

from kernels import autodiff_taylor as taylor_ad
from kernels import newton
from runner.analysis.core import DEGENERATE, Subject, classify

MERGE_RADIUS = 1e-5
REFINE_MAX_ITER = 200       # refinement steps after Newton's tolerance is met
REFINE_STEP_TOL = 1e-15     # stop refining when the step is this small (relative to the box)
ZERO_EIGENVALUE = 1e-7      # relative to the largest Hessian norm over the starts
HIGHER_ORDER_MAX = 20       # 1-D: derivatives tried for the first non-vanishing one
VANISHING = 1e-8            # |f⁽ᵏ⁾|/k!·Rᵏ below this fraction of the largest such term is zero
NEWTON_TOL = 1e-10
NEWTON_MAX_ITER = 100
BOX_SLACK = 1e-9
MAX_LISTED = 20             # list at most this many critical points
SNAP = 1e-13                # coordinates this small (relative to the box) are printed as 0
NEGATIVE_EIG_TOL = 1e-8     # relative to max(1, max |λ| over the samples)
MIDPOINT_TOL = 1e-10        # relative to max(1, |f|)

_EMPTY_I = np.zeros(0, dtype=np.int64)
_EMPTY_F = np.zeros(0)


def starts_in_box(lo: np.ndarray, hi: np.ndarray, n_starts: int, seed: int) -> np.ndarray:
    """(S, n) starting points: a centred grid of ⌈S^(1/n)⌉ per axis when n ≤ 3, else
    uniform draws from numpy's PCG64 seeded with ``seed``."""
    n = lo.size
    if n <= 3:
        per_axis = max(2, int(np.ceil(n_starts ** (1.0 / n) - 1e-9)))
        axes = [lo[i] + (np.arange(per_axis) + 0.5) * (hi[i] - lo[i]) / per_axis for i in range(n)]
        grid = np.meshgrid(*axes, indexing="ij")
        return np.ascontiguousarray(np.stack([g.ravel() for g in grid], axis=1))
    rng = np.random.default_rng(seed)
    return lo + (hi - lo) * rng.random((n_starts, n))


def critical_points(subject: Subject, lo: np.ndarray, hi: np.ndarray, n_starts: int, seed: int) -> Dict:
    """All critical points found in [lo, hi]: a list of {x, value, kind, test (what decided
    the kind), eigenvalues, residual, error_estimate} sorted by x, and counts of how the starts ended."""
    starts = starts_in_box(lo, hi, n_starts, seed)
    S, n = starts.shape
    roots = np.empty((S, n))
    status = np.empty(S, dtype=np.int64)
    iters = np.empty(S, dtype=np.int64)
    resid = np.empty(S)
    rank = np.empty(S, dtype=np.int64)
    newton.solve(subject.value_grad, subject.hessian, subject.P, subject.X, subject.y,
                 _EMPTY_I, _EMPTY_I, _EMPTY_I, _EMPTY_F, n, starts, lo, hi, NEWTON_MAX_ITER, NEWTON_TOL,
                 roots, status, iters, resid, rank)
    slack = BOX_SLACK * np.maximum(1.0, hi - lo)
    scale = float(np.linalg.norm(hi - lo))
    found = [_refine(subject, roots[s], scale) for s in range(S) if status[s] == newton.CONVERGED]
    inside = [np.all((x >= lo - slack) & (x <= hi + slack)) for x, _, _ in found]
    zero_tol = ZERO_EIGENVALUE * _hessian_scale(subject, starts)
    points = []
    for x, res, err in _merge([f for f, keep in zip(found, inside) if keep], MERGE_RADIUS * scale):
        x = np.where(np.abs(x) <= SNAP * np.maximum(1.0, hi - lo), 0.0, x)  # -3e-22 -> 0
        H = subject.problem_hessian(x)
        eig = np.linalg.eigvalsh(0.5 * (H + H.T))
        kind, test = classify(eig, zero_tol), "second derivative" if n == 1 else "Hessian eigenvalues"
        if kind == DEGENERATE and n == 1 and subject.tape is not None:
            kind, test = _higher_order_test(subject, x, 0.5 * float(hi[0] - lo[0])) or (kind, test)
        points.append({"x": x.tolist(), "value": subject.value(x), "kind": kind, "test": test,
                       "eigenvalues": eig.tolist(), "residual": float(res), "error_estimate": float(err)})
    points.sort(key=lambda p: p["x"])
    n_found = len(points)
    if n_found > MAX_LISTED:   # e.g. a flat region: every point of it is critical
        points = points[:MAX_LISTED]
    counts = {name: int(np.sum(status == code)) for code, name in enumerate(newton.STATUS_NAMES)}
    counts["outside_box"] = int(len(inside) - np.sum(inside))
    return {"points": points, "found": n_found, "starts": int(S), "start_outcomes": counts}


def _refine(subject: Subject, x: np.ndarray, scale: float):
    """(x, ‖∇f(x)‖, error estimate) after Newton steps from a converged root until the step
    stops shrinking.  When two successive steps point the same way and shrink by a ratio q,
    the root has multiplicity m ≈ 1/(1 - q) and the step is multiplied by m (kept only if it
    lowers ‖∇f‖ more than the plain step).  The error estimate is m·‖last step‖."""
    x = np.array(x, dtype=float)
    g = subject.problem_gradient(x)
    res, prev, err = float(np.linalg.norm(g)), None, 0.0
    for _ in range(REFINE_MAX_ITER):
        step = -np.linalg.lstsq(subject.problem_hessian(x), g, rcond=1e-13)[0]
        size = float(np.linalg.norm(step))
        m = _multiplicity(step, prev)
        err = m * size
        if not np.isfinite(size) or size <= REFINE_STEP_TOL * scale:
            break
        tries = [(x + k * step) for k in sorted({1, m})]
        grads = [subject.problem_gradient(t) for t in tries]
        norms = [float(np.linalg.norm(gt)) for gt in grads]
        best = int(np.argmin(norms))
        if not norms[best] < res:
            break
        x, g, res, prev = tries[best], grads[best], norms[best], step
    return x, res, err


def _multiplicity(step: np.ndarray, prev) -> int:
    """m = round(1/(1 - q)) for steps shrinking by q ∈ [0.3, 0.99) along one direction, else 1."""
    if prev is None:
        return 1
    a, b = float(np.linalg.norm(step)), float(np.linalg.norm(prev))
    if not (a > 0 and b > 0):
        return 1
    q, cos = a / b, float(step @ prev) / (a * b)
    return int(round(1.0 / (1.0 - q))) if cos > 0.99 and 0.3 <= q < 0.99 else 1


def _hessian_scale(subject: Subject, starts: np.ndarray) -> float:
    """The largest spectral norm of the Hessian over (up to 64 of) the starts."""
    pick = starts[np.linspace(0, len(starts) - 1, min(64, len(starts))).astype(int)]
    norms = [np.linalg.norm(subject.problem_hessian(p), 2) for p in pick]
    finite = [v for v in norms if np.isfinite(v)]
    return max(finite) if finite else 1.0


def _higher_order_test(subject: Subject, x: np.ndarray, radius: float):
    """1-D: (kind, test) from the first derivative of order k ≥ 3 not vanishing at x (odd k:
    inflection; even k: minimum if positive, maximum if negative), or None.  A derivative
    vanishes when its Taylor term |f⁽ᵏ⁾(x)|/k!·radiusᵏ is below VANISHING times the largest."""
    d = np.empty(HIGHER_ORDER_MAX + 1)
    taylor_ad.derivatives_along(*subject.tape.arrays, subject.tape.outs[0], np.ascontiguousarray(x, dtype=float),
                                np.ones(1), HIGHER_ORDER_MAX, d)
    k = np.arange(HIGHER_ORDER_MAX + 1)
    terms = np.abs(d) / np.array([math.factorial(int(i)) for i in k]) * radius ** k
    terms[:3] = 0.0
    if not np.all(np.isfinite(terms)) or not np.any(terms > 0):
        return None
    order = int(np.argmax(terms > VANISHING * terms.max()))
    if order % 2:
        return "inflection", f"derivative of order {order} (odd)"
    return ("minimum" if d[order] > 0 else "maximum"), f"derivative of order {order} (even)"


def _merge(found, radius: float) -> List:
    """Greedy clustering: each root joins the first cluster whose representative is within
    ``radius`` or within the sum of both error estimates; each cluster is represented by its
    member with the smallest residual ‖∇f‖."""
    clusters: List[List] = []
    for x, res, err in sorted(found, key=lambda t: t[1]):
        for c in clusters:
            if np.linalg.norm(x - c[0][0]) <= max(radius, 2.0 * (err + c[0][2])):
                c.append((x, res, err))
                break
        else:
            clusters.append([(x, res, err)])
    return [c[0] for c in clusters]


def convexity(subject: Subject, lo: np.ndarray, hi: np.ndarray, n_samples: int, seed: int) -> Dict:
    """Sampled second-order and midpoint tests of convexity over [lo, hi]."""
    rng = np.random.default_rng(seed)
    n = lo.size
    pts = lo + (hi - lo) * rng.random((n_samples, n))
    min_eigs = np.empty(n_samples)
    for s in range(n_samples):
        H = subject.problem_hessian(pts[s])
        min_eigs[s] = np.linalg.eigvalsh(0.5 * (H + H.T))[0]
    k = int(np.nanargmin(min_eigs)) if np.any(np.isfinite(min_eigs)) else 0
    finite = np.abs(min_eigs[np.isfinite(min_eigs)])
    eig_tol = NEGATIVE_EIG_TOL * max(1.0, float(finite.max()) if finite.size else 1.0)
    result = {"samples": int(n_samples), "min_eigenvalue": float(min_eigs[k]), "where": pts[k].tolist()}
    if min_eigs[k] < -eig_tol:
        result.update(convex=False, verdict=f"not convex: the Hessian has eigenvalue "
                      f"{min_eigs[k]:.6g} < 0 at {_fmt_point(pts[k])}", witness="hessian")
        return result
    witness = _midpoint_witness(subject, pts, rng.permutation(n_samples))
    if witness is not None:
        a, b, gap = witness
        result.update(convex=False, witness="midpoint", midpoint_gap=gap,
                      verdict=f"not convex: f((a+b)/2) exceeds (f(a)+f(b))/2 by {gap:.6g} for "
                              f"a={_fmt_point(a)}, b={_fmt_point(b)}")
        return result
    result.update(convex=None, witness=None,
                  verdict=f"no counterexample found in {n_samples} samples")
    return result


def _midpoint_witness(subject: Subject, pts: np.ndarray, order: np.ndarray):
    """The pair (a, b) with the largest f((a+b)/2) - (f(a)+f(b))/2 above tolerance, or None."""
    best = None
    for i, j in zip(range(len(pts)), order):
        a, b = pts[i], pts[j]
        fa, fb, fm = subject.value(a), subject.value(b), subject.value(0.5 * (a + b))
        gap = fm - 0.5 * (fa + fb)
        if gap > MIDPOINT_TOL * max(1.0, abs(fa), abs(fb)) and (best is None or gap > best[2]):
            best = (a, b, float(gap))
    return best


def _fmt_point(x) -> str:
    return "(" + ", ".join(f"{v:.6g}" for v in np.atleast_1d(x)) + ")"
