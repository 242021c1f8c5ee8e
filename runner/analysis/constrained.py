"""Equality-constrained stationary points by Lagrange multipliers, and their classification.

Solve ∇f = Σ λᵢ∇gᵢ, g = 0 (tutorial, "Lagrange Multipliers") by Newton on the KKT system
from several starts (``kernels.newton``), then decide what each solution is along the
constraint set with second-order conditions (Nocedal and Wright, *Numerical Optimization*,
2nd ed., Thm 12.5/12.6):

* reduced Hessian: Zᵀ ∇²ₓₓL Z with Z a basis of the null space of Jg (the tangent space):
  positive definite -> local minimum along the constraint, negative definite -> maximum;
* bordered Hessian B = [[0, Jg], [Jgᵀ, ∇²ₓₓL]] ((m+n) x (m+n), the variables ordered so that
  the first m columns of Jg are independent): the leading principal minors of orders 2m+1, ..., m+n all have the sign (-1)^m at a minimum, and the
  minor of order m + k has the sign (-1)^k at a maximum (Magnus and Neudecker, *Matrix
  Differential Calculus*, 3rd ed., §7.13).  For n = 2, m = 1: det B > 0 maximum, < 0 minimum.

Both tests are reported; they agree whenever the constraint gradients are independent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List

import numpy as np
import sympy as sp

from kernels import autodiff as ad
from kernels import autodiff_taylor as at
from kernels import newton
from runner.analysis.core import Subject, classify
from runner.analysis.critical import MERGE_RADIUS, NEWTON_MAX_ITER, SNAP, starts_in_box
from runner.expr.tape import Tape, record


@dataclass
class Constraints:
    """g: Rⁿ -> Rᵐ as tapes: ``g`` (outputs g₁..gₘ in x) and ``phi`` = Σ λᵢ gᵢ in (x, λ)."""

    texts: List[str]
    g: Tape
    phi: Tape

    @property
    def m(self) -> int:
        return self.g.n_outputs


def build_constraints(parsed) -> Constraints:
    """From a parsed (vector or scalar) expression over the objective's variables."""
    lams = [sp.Symbol(f"lambda{i + 1}") for i in range(len(parsed.exprs))]
    phi = sum(lam * g for lam, g in zip(lams, parsed.exprs))
    texts = list(parsed.component_texts) if parsed.component_texts else [str(e) for e in parsed.exprs]
    return Constraints(texts=texts, g=record(parsed.exprs, parsed.symbols, key=parsed.key),
                       phi=record([phi], list(parsed.symbols) + lams, key=parsed.key))


def constraint_jacobian(c: Constraints, x: np.ndarray) -> np.ndarray:
    J = np.empty((c.m, x.size))
    ad.jacobian_reverse(*c.g.arrays, c.g.outs, np.ascontiguousarray(x, dtype=float), J)
    return J


def initial_multipliers(subject: Subject, c: Constraints, x: np.ndarray) -> np.ndarray:
    """λ minimising ‖∇f(x) - Jg(x)ᵀλ‖: the best multipliers for a start x."""
    J = constraint_jacobian(c, x)
    lam, *_ = np.linalg.lstsq(J.T, subject.problem_gradient(x), rcond=None)
    return np.where(np.isfinite(lam), lam, 0.0)


def solve_kkt(subject: Subject, c: Constraints, lo: np.ndarray, hi: np.ndarray, n_starts: int,
              seed: int, tol: float) -> Dict:
    """Newton on the KKT system from the starts; returns the raw per-start outcome arrays."""
    xs = starts_in_box(lo, hi, n_starts, seed)
    S, n = xs.shape
    starts = np.ascontiguousarray(np.hstack([xs, np.array([initial_multipliers(subject, c, x) for x in xs])]))
    roots = np.empty_like(starts)
    status = np.empty(S, dtype=np.int64)
    iters = np.empty(S, dtype=np.int64)
    resid = np.empty(S)
    rank = np.empty(S, dtype=np.int64)
    newton.solve(subject.value_grad, subject.hessian, subject.P, subject.X, subject.y,
                 *c.phi.arrays, n, starts, lo, hi, NEWTON_MAX_ITER, tol, roots, status, iters, resid, rank)
    return {"roots": roots, "status": status, "iterations": iters, "residual": resid, "rank": rank}


def lagrangian_hessian(subject: Subject, c: Constraints, z: np.ndarray) -> np.ndarray:
    """∇²ₓₓL = ∇²f - Σ λᵢ∇²gᵢ at z = (x, λ)."""
    n = subject.dim
    H_phi = np.empty((z.size, z.size))
    at.hessian(*c.phi.arrays, c.phi.outs[0], np.ascontiguousarray(z), H_phi)
    return subject.problem_hessian(z[:n]) - H_phi[:n, :n]


def pivot_order(J: np.ndarray) -> list:
    """A variable order whose first m columns of J are independent (Gaussian elimination with
    column pivoting): the leading-minor test assumes it, e.g. g = z needs z first."""
    A = np.array(J, dtype=float)
    m, n = A.shape
    cols: list = []
    for k in range(m):
        rest = [j for j in range(n) if j not in cols]
        j = max(rest, key=lambda c: abs(A[k, c]))
        cols.append(j)
        if A[k, j] != 0.0:
            A[k + 1:] -= np.outer(A[k + 1:, j] / A[k, j], A[k])
    return cols + [j for j in range(n) if j not in cols]


def bordered_hessian(J: np.ndarray, H_L: np.ndarray) -> np.ndarray:
    """[[0, J], [Jᵀ, H_L]] with the variables in :func:`pivot_order`."""
    perm = pivot_order(J)
    J, H_L = J[:, perm], H_L[np.ix_(perm, perm)]
    m, n = J.shape
    B = np.zeros((m + n, m + n))
    B[:m, m:] = J
    B[m:, :m] = J.T
    B[m:, m:] = H_L
    return B


def bordered_test(B: np.ndarray, m: int) -> Dict:
    """Signs of the leading principal minors of orders 2m+1 .. m+n of the bordered Hessian."""
    N = B.shape[0]
    n = N - m
    orders = range(2 * m + 1, N + 1)
    minors = [float(np.linalg.det(B[:p, :p])) for p in orders]
    size = max(1.0, float(np.max(np.abs(B))))
    signs = [0 if abs(d) <= 1e-10 * size ** p else int(np.sign(d)) for d, p in zip(minors, orders)]
    if not minors:
        verdict = "isolated"   # m = n: the constraints leave no direction to move in
    elif all(s == (-1) ** m for s in signs):
        verdict = "minimum"
    elif all(s == (-1) ** k for s, k in zip(signs, range(m + 1, n + 1))):
        verdict = "maximum"
    elif 0 in signs:
        verdict = "inconclusive"
    else:
        verdict = "saddle"
    return {"minors": minors, "verdict": verdict}


def reduced_hessian_eigenvalues(J: np.ndarray, H_L: np.ndarray) -> np.ndarray:
    """Eigenvalues of Zᵀ H_L Z, Z an orthonormal basis of null(J) (from the SVD)."""
    m, n = J.shape
    _, sv, Vt = np.linalg.svd(J)
    rank = int(np.sum(sv > 1e-10 * max(1.0, sv[0] if sv.size else 1.0)))
    Z = Vt[rank:].T
    if Z.shape[1] == 0:
        return np.zeros(0)
    R = Z.T @ H_L @ Z
    return np.linalg.eigvalsh(0.5 * (R + R.T))


def classify_points(subject: Subject, c: Constraints, raw: Dict, lo, hi) -> List[Dict]:
    """Converged roots inside the box, merged, each with f, λ, both second-order tests."""
    n, m = subject.dim, c.m
    slack = 1e-9 * np.maximum(1.0, hi - lo)
    found = []
    for z, st, res in zip(raw["roots"], raw["status"], raw["residual"]):
        x = z[:n]
        if st == newton.CONVERGED and np.all(x >= lo - slack) and np.all(x <= hi + slack):
            found.append((z.copy(), res))
    radius = MERGE_RADIUS * float(np.linalg.norm(hi - lo))
    clusters: List = []
    for z, res in sorted(found, key=lambda t: t[1]):
        if not any(np.linalg.norm(z[:n] - k[0][:n]) <= radius for k in clusters):
            clusters.append((z, res))
    points = []
    for z, res in clusters:
        z = np.where(np.abs(z) <= SNAP * max(1.0, float(np.max(hi - lo))), 0.0, z)
        x, lam = z[:n], z[n:]
        J = constraint_jacobian(c, x)
        H_L = lagrangian_hessian(subject, c, z)
        red = reduced_hessian_eigenvalues(J, H_L)
        bordered = bordered_test(bordered_hessian(J, H_L), m)
        kind = classify(red) if red.size else "isolated"
        points.append({"x": x.tolist(), "multipliers": lam.tolist(), "value": subject.value(x),
                       "kind": kind, "reduced_hessian_eigenvalues": red.tolist(),
                       "bordered_hessian_minors": bordered["minors"], "bordered_test": bordered["verdict"],
                       "constraint_rank": int(np.linalg.matrix_rank(J)), "kkt_residual": float(res)})
    points.sort(key=lambda p: p["x"])
    return points


def constraint_values(c: Constraints, x: np.ndarray) -> np.ndarray:
    values = np.empty(c.g.ops.size)
    ad.evaluate(*c.g.arrays, np.ascontiguousarray(x, dtype=float), values)
    return values[c.g.outs]


def singular_feasible_points(c: Constraints, raw: Dict, n: int) -> int:
    """How many Newton runs ended (near) g = 0 where the constraint gradients are (nearly)
    dependent, i.e. where the KKT matrix is singular and no multiplier can exist."""
    count = 0
    for z in raw["roots"]:
        x = z[:n]
        g = constraint_values(c, x)
        if not np.all(np.isfinite(g)) or np.max(np.abs(g)) > 1e-6:
            continue
        sv = np.linalg.svd(constraint_jacobian(c, x), compute_uv=False)
        if sv.size < c.m or sv[-1] <= 1e-4 * max(1.0, float(np.max(np.abs(x)))):
            count += 1
    return count


def pick_solution(points: List[Dict], objective: str):
    """The best point of the kind the objective asks for (max: largest f among maxima)."""
    want = "maximum" if objective == "max" else "minimum"
    cands = [p for p in points if p["kind"] == want or p["kind"] == "isolated"]
    if not cands:
        return None
    return max(cands, key=lambda p: p["value"]) if objective == "max" else min(cands, key=lambda p: p["value"])
