"""Critical points in a box (multi-start Newton, deduplicated, classified) and convexity.

Critical points: Newton on ∇f = 0 (``kernels.newton``) from a grid of starts (n ≤ 3) or
seeded uniform starts in the box, keeping the converged roots inside the box, merged when
closer than MERGE_RADIUS·(box diagonal), each classified by the eigenvalues of its Hessian
(tutorial, "Second Derivative Test" and "Hessian Matrix").

Convexity: a twice-differentiable f is convex on a convex set iff its Hessian is positive
semidefinite there (Boyd and Vandenberghe, *Convex Optimization*, §3.1.4).  Sampling can
only refute it: the report is "not convex" with a witness (a point with a negative
eigenvalue, or a midpoint where f lies above the chord, which also catches kinks such as
-|x| that a Hessian test cannot see), or "no counterexample found in N samples".
"""
from __future__ import annotations

from typing import Dict, List

import numpy as np

from kernels import newton
from runner.analysis.core import Subject, classify

MERGE_RADIUS = 1e-5
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
    """All critical points found in [lo, hi]: a list of {x, value, kind, eigenvalues,
    residual} sorted by x, and counts of how the starts ended."""
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
    inside = np.all((roots >= lo - slack) & (roots <= hi + slack), axis=1)
    found = [(roots[s], resid[s]) for s in range(S) if status[s] == newton.CONVERGED and inside[s]]
    points = []
    for x, res in _merge(found, MERGE_RADIUS * float(np.linalg.norm(hi - lo))):
        x = np.where(np.abs(x) <= SNAP * np.maximum(1.0, hi - lo), 0.0, x)  # -3e-22 -> 0
        H = subject.problem_hessian(x)
        eig = np.linalg.eigvalsh(0.5 * (H + H.T))
        points.append({"x": x.tolist(), "value": subject.value(x), "kind": classify(eig),
                       "eigenvalues": eig.tolist(), "residual": float(res)})
    points.sort(key=lambda p: p["x"])
    n_found = len(points)
    if n_found > MAX_LISTED:   # e.g. a flat region: every point of it is critical
        points = points[:MAX_LISTED]
    counts = {name: int(np.sum(status == code)) for code, name in enumerate(newton.STATUS_NAMES)}
    counts["outside_box"] = int(np.sum((status == newton.CONVERGED) & ~inside))
    return {"points": points, "found": n_found, "starts": int(S), "start_outcomes": counts}


def _merge(found, radius: float) -> List:
    """Greedy clustering: each root joins the first cluster within ``radius``; each cluster
    is represented by its member with the smallest residual ‖∇f‖."""
    clusters: List[List] = []
    for x, res in sorted(found, key=lambda t: t[1]):
        for c in clusters:
            if np.linalg.norm(x - c[0][0]) <= radius:
                c.append((x, res))
                break
        else:
            clusters.append([(x, res)])
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
