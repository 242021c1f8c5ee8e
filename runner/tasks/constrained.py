"""task=constrained: optimise f subject to equality constraints g(x) = 0 (Lagrange multipliers).

    python -m runner task=constrained problem=expr problem.f="x*y" 'constraint.g=[x + y - 10]' objective=max

Finds every stationary point of the Lagrangian in the box (Newton on the KKT system from
several starts), classifies each along the constraint set (reduced and bordered Hessian),
and reports the best one of the kind ``objective`` asks for.  A constraint whose gradient
vanishes on g = 0 makes the KKT system singular: the run ends FAILED with a one-line reason.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List

import numpy as np

from runner.analysis import constrained as kkt
from runner.analysis import plots
from runner.analysis.core import from_expression
from runner.analysis.report import constrained_text
from runner.analysis.subjects import PROBLEM_SCHEMAS, an_point, box_for, problem_subject
from runner.errors import ConfigError
from runner.result import FAILED, FINISHED, Result, Series
from runner.config.validate import positive

DEFAULT_BOX_HALF_WIDTH = 10.0


@dataclass
class EqualityConstraints:
    """constraint=equality: g₁(x) = 0, ..., gₘ(x) = 0 over the objective's variables."""

    name: str = "equality"
    g: List[str] = field(default_factory=list)   # expressions, e.g. ["x + y - 10"]

    def check(self):
        if not self.g:
            raise ConfigError("g", "give at least one constraint, e.g. 'constraint.g=[x + y - 10]'")


@dataclass
class Minimize:
    name: str = "min"


@dataclass
class Maximize:
    name: str = "max"


CONSTRAINT_SCHEMAS = {"equality": EqualityConstraints}
OBJECTIVE_SCHEMAS = {"min": Minimize, "max": Maximize}
GROUPS = {"problem": PROBLEM_SCHEMAS, "constraint": CONSTRAINT_SCHEMAS, "objective": OBJECTIVE_SCHEMAS}


@dataclass
class ConstrainedKnobs:
    box: Any = None        # [lo, hi] for every axis or [[lo, hi], ...]; null = x0 ± 10
    starts: int = 32       # Newton starts (a grid for n ≤ 3)
    tol: float = 1e-10     # ‖∇L‖ at a solution

    def check(self):
        if not 1 <= self.starts <= 10_000:
            raise ConfigError("starts", f"must be between 1 and 10000, got {self.starts}")
        positive("tol", self.tol)


SCHEMA = ConstrainedKnobs


def _inputs(cfg, v, seed):
    """(subject f, Constraints, parsed g) with every input checked before any work."""
    from runner.expr.compile import parse_expression

    subject = problem_subject(cfg.problem, v["problem"], seed)
    if subject.is_vector or subject.value_grad is None or subject.hessian is None:
        raise ConfigError("problem.f", "the objective must be a scalar function with a gradient and Hessian")
    parsed = parse_expression(list(v["constraint"].g), variables=subject.variables, key="constraint.g")
    if len(parsed.exprs) > subject.dim:
        raise ConfigError("constraint.g", f"{len(parsed.exprs)} constraints on {subject.dim} variables "
                                          f"({', '.join(subject.variables)}): at most {subject.dim}")
    return subject, kkt.build_constraints(parsed), parsed


def run(cfg, ctx) -> Result:
    v = ctx.validated
    knobs: ConstrainedKnobs = v["constrained"]
    objective = v["objective"].name
    subject, cons, parsed = _inputs(cfg, v, ctx.seed)
    center = np.asarray(subject.x0, dtype=float)
    lo, hi = box_for(knobs.box, center, "constrained.box", DEFAULT_BOX_HALF_WIDTH)
    raw = kkt.solve_kkt(subject, cons, lo, hi, knobs.starts, ctx.seed, knobs.tol)
    points = kkt.classify_points(subject, cons, raw, lo, hi)
    solution = kkt.pick_solution(points, objective)
    outcome, status, message = _outcome(points, solution, raw, subject.dim, objective, cons)
    counts = {name: int(np.sum(raw["status"] == code)) for code, name in enumerate(kkt.newton.STATUS_NAMES)}
    final = {"objective": objective, "constraints": cons.texts, "variables": subject.variables,
             "outcome": outcome, "solution": solution, "stationary_points": points,
             "box": [lo.tolist(), hi.tolist()],
             "search": {"starts": int(raw["status"].size), "start_outcomes": counts}}
    info = {"problem": subject.name, "label": subject.label, "objective": objective,
            "constraints": cons.texts, "dim": subject.dim}
    result = Result(task="constrained", status=status, message=message, final=final, info=info,
                    tags={"numba_compile_s": f"{subject.compile_seconds:.3f}"})
    _pack(result, subject, parsed, lo, hi)
    result.report = constrained_text(final, info)
    return result


def _outcome(points, solution, raw, n, objective, cons):
    """(outcome, Result status, message): explicit about every way the search can end."""
    if solution is not None:
        note = "" if solution["constraint_rank"] == cons.m else \
            "; the constraint gradients are dependent there, so the multipliers are not unique"
        return "solved", FINISHED, (f"{objective} of f on g = 0 at x* = {an_point(solution['x'])}, "
                                    f"f(x*) = {solution['value']:.10g} ({solution['kind']} along the constraint)"
                                    + note)
    if points:
        kinds = ", ".join(f"{p['kind']} at {an_point(p['x'])}" for p in points)
        want = "maximum" if objective == "max" else "minimum"
        return f"no_{want}", FINISHED, (f"no local {want} of f along the constraint in the box; "
                                        f"stationary points found: {kinds}")
    if kkt.singular_feasible_points(cons, raw, n):
        return "singular", FAILED, ("the Lagrange (KKT) system is singular: the constraint gradients "
                                    f"vanish or are dependent on g = 0 ({'; '.join(cons.texts)}); "
                                    "write each constraint so that its gradient is non-zero there "
                                    "(e.g. x + y - 10 instead of (x + y - 10)**2)")
    return "no_stationary_point", FAILED, ("Newton found no point with g = 0 and ∇f = Σλᵢ∇gᵢ in the box: "
                                           "is the constraint set empty there? (try constrained.box)")


def _pack(result: Result, subject, parsed, lo, hi) -> None:
    final, m = result.final, result.metrics
    m["n_stationary_points"] = Series([0], [len(final["stationary_points"])])
    sol = final["solution"]
    if sol is not None:
        m["f_star"] = Series([0], [sol["value"]])
        m["kkt_residual"] = Series([0], [sol["kkt_residual"]])
        for name, val in zip(subject.variables, sol["x"]):
            m[f"x_star.{name}"] = Series([0], [val])
        for i, lam in enumerate(sol["multipliers"]):
            m[f"lambda{i + 1}"] = Series([0], [lam])
    pts = final["stationary_points"]
    if pts:
        result.trajectory["stationary_x"] = np.array([p["x"] for p in pts])
        result.trajectory["stationary_multipliers"] = np.array([p["multipliers"] for p in pts])
        result.trajectory["stationary_value"] = np.array([p["value"] for p in pts])
    if subject.dim == 2:
        curves = [(from_expression(parsed.component(i)), f"{t} = 0") for i, t in enumerate(final["constraints"])]
        title = f"{final['objective']} {subject.label} s.t. {'; '.join(final['constraints'])} = 0"
        result.plots = [("constrained.png", lambda: plots.contour_2d(subject, lo, hi, curves=curves,
                                                                      solutions=pts, title=title))]
