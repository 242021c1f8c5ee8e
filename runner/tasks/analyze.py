"""task=analyze: derivatives, Jacobians, Hessians, Taylor polynomials, critical points and
convexity of a function at a point, each computed by every available method and compared.

    python -m runner task=analyze problem=expr problem.f="x**2 + x*y + y**2" analyze.at=[0,0]
    python -m runner task=analyze problem=expr 'problem.f=[x1**2 + x2, x1*x2]' analyze.at=[2,3]
    python -m runner task=analyze analyze.activation=sigmoid analyze.at=0

The function is the problem (``problem=expr`` or any named/data problem) or, when
``analyze.activation`` is set, one of the activation functions (which the problem group has
no option for; see ``runner.analysis.activations``).  The numbers go to ``result.json``
under ``final``; the readable tables are printed unless ``quiet``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np

from runner.analysis import core as an
from runner.analysis import activations
from runner.analysis import critical
from runner.analysis import plots
from runner.analysis import taylor
from runner.analysis.report import analyze_text
from runner.analysis.subjects import PROBLEM_SCHEMAS, an_point, box_for, point_vector, problem_subject
from runner.errors import ConfigError
from runner.result import FINISHED, Result, Series
from runner.config.validate import in_range, one_of

GROUPS = {"problem": PROBLEM_SCHEMAS}
MAX_ORDER = 20                # derivatives / Taylor order k: jets are exact, but k! overflows soon after
MAX_ORDER_WITHOUT_GRAPH = 2   # named/data problems: gradient and Hessian only
MAX_SYMBOLIC_HESSIAN_DIM = 6  # print the symbolic Hessian up to this many variables


@dataclass
class AnalyzeKnobs:
    at: Any = None                      # the point: a number (1-D) or a list; null = the problem's x0
    direction: Any = None               # v for the directional derivative (normalised); null = none
    order: int = 2                      # derivative / Taylor order k
    taylor_at: Any = field(default_factory=list)   # points where T_k is compared with f
    box: Any = None                     # [lo, hi] for every axis or [[lo, hi], ...]; null = at ± 3
    starts: int = 64                    # multi-start Newton starts for critical points
    samples: int = 500                  # sampled points for the convexity test
    critical_points: bool = True
    convexity: bool = True
    activation: Optional[str] = None    # sigmoid | tanh | relu | leaky_relu | softmax
    alpha: float = 0.01                 # leaky_relu slope for x <= 0
    table_range: List[float] = field(default_factory=lambda: [-5.0, 5.0])
    table_points: int = 11

    def check(self):
        if not 1 <= self.order <= MAX_ORDER:
            raise ConfigError("order", f"must be between 1 and {MAX_ORDER}, got {self.order}")
        if not 1 <= self.starts <= 10_000:
            raise ConfigError("starts", f"must be between 1 and 10000, got {self.starts}")
        if not 1 <= self.samples <= 100_000:
            raise ConfigError("samples", f"must be between 1 and 100000, got {self.samples}")
        if self.activation is not None:
            one_of("activation", self.activation, activations.ACTIVATIONS)
        in_range("alpha", self.alpha, 0.0, 1.0)
        if len(self.table_range) != 2 or not self.table_range[0] < self.table_range[1]:
            raise ConfigError("table_range", f"must be [lo, hi] with lo < hi, got {self.table_range}")
        if not 2 <= self.table_points <= 10_001:
            raise ConfigError("table_points", f"must be between 2 and 10001, got {self.table_points}")


SCHEMA = AnalyzeKnobs


def _subject(cfg, v, knobs: AnalyzeKnobs, seed: int) -> an.Subject:
    if knobs.activation is None:
        return problem_subject(cfg.problem, v["problem"], seed)
    n = 1
    if knobs.activation == "softmax":
        n = len(knobs.at) if isinstance(knobs.at, (list, tuple)) else 3
    return activations.build(knobs.activation, knobs.alpha, n)


def run(cfg, ctx) -> Result:
    v = ctx.validated
    knobs: AnalyzeKnobs = v["analyze"]
    subject = _subject(cfg, v, knobs, ctx.seed)
    a = point_vector(knobs.at, subject, "analyze.at") if knobs.at is not None else np.array(subject.x0, float)
    _check_inputs(knobs, subject, a)
    if subject.is_vector:
        final = _vector_analysis(subject, a)
    else:
        final = _scalar_analysis(subject, a, knobs, ctx.seed)
    info = {"problem": subject.name, "label": subject.label, "dim": subject.dim,
            "outputs": subject.n_outputs}
    result = Result(task="analyze", status=FINISHED, final=final, info=info,
                    message=_message(final), tags={"numba_compile_s": f"{subject.compile_seconds:.3f}"})
    _pack(result, subject, knobs, a)
    result.report = analyze_text(final, info)
    return result


def _check_inputs(knobs: AnalyzeKnobs, subject: an.Subject, a: np.ndarray) -> None:
    """Bad input found before any work: each a one-line ConfigError."""
    value = subject.value(a)
    if not np.all(np.isfinite(value)):
        raise ConfigError("analyze.at", f"f is not defined at {an_point(a)} (value {value}); pick another point")
    if subject.tape is None and knobs.order > MAX_ORDER_WITHOUT_GRAPH:
        raise ConfigError("analyze.order", f"problem '{subject.name}' has no expression graph: "
                          f"derivatives and Taylor polynomials up to order {MAX_ORDER_WITHOUT_GRAPH} only, "
                          f"got {knobs.order}")
    if knobs.direction is not None:
        d = point_vector(knobs.direction, subject, "analyze.direction")
        if not np.linalg.norm(d) > 0:
            raise ConfigError("analyze.direction", "must be a non-zero vector")
    for i, p in enumerate(knobs.taylor_at or []):
        point_vector(p, subject, f"analyze.taylor_at[{i}]")
    box_for(knobs.box, a, "analyze.box")


def _clean(x):
    """JSON-friendly numbers: -0.0 -> 0.0, arrays -> lists."""
    arr = np.asarray(x, dtype=float) + 0.0
    return arr.tolist() if arr.ndim else float(arr)


def _vector_analysis(subject: an.Subject, a: np.ndarray) -> dict:
    methods = an.jacobian_methods(subject, a)
    diffs = an.differences(methods)
    jac = an.symbolic_jacobian(subject)
    return {
        "point": _clean(a), "variables": subject.variables, "value": _clean(subject.value(a)),
        "jacobian": _clean(next(iter(methods.values()))),
        "jacobian_symbolic": [[an.readable(e) for e in row] for row in jac],
        "methods": {"jacobian": {k: _clean(m) for k, m in methods.items()}},
        "method_differences": {"jacobian": diffs},
        "methods_agree": an.agree(methods, diffs),
    }


def _scalar_analysis(subject: an.Subject, a: np.ndarray, knobs: AnalyzeKnobs, seed: int) -> dict:
    final = {"point": _clean(a), "variables": subject.variables, "value": float(subject.value(a))}
    sym_grad = an.symbolic_gradient(subject) if subject.symbolic else None
    sym_hess = an.symbolic_hessian(subject, sym_grad) if subject.symbolic else None
    grads = {k: m[0] for k, m in an.jacobian_methods(subject, a).items()}
    methods = {"gradient": grads, "hessian": an.hessian_methods(subject, a, sym_hess)}
    gradient, hessian = next(iter(grads.values())), next(iter(methods["hessian"].values()))
    _first_and_second(final, gradient, hessian, sym_grad, sym_hess)
    kinks = _kinks(final, subject, a)
    if knobs.direction is not None:
        unit, dd = an.directional_derivative(gradient, point_vector(knobs.direction, subject, "analyze.direction"))
        final["direction"], final["directional_derivative"] = _clean(unit), dd
    sym_derivs = _one_dimensional(final, methods, subject, a, knobs.order) if subject.dim == 1 else None
    _agreement(final, methods, kinks, subject, a)
    final["taylor"] = _taylor(subject, a, knobs, sym_derivs, sym_grad, sym_hess, gradient, hessian)
    _search(final, subject, a, knobs, seed)
    if subject.name.startswith("activation:") and subject.dim == 1:
        tab = activations.table(subject, knobs.table_range[0], knobs.table_range[1], knobs.table_points)
        final["activation_table"] = {k: _clean(v) for k, v in tab.items()}
    return final


def _first_and_second(final, gradient, hessian, sym_grad, sym_hess) -> None:
    final["gradient"] = _clean(gradient)
    if sym_grad is not None:
        final["gradient_symbolic"] = [an.readable(e) for e in sym_grad]
    final["hessian"] = _clean(hessian)
    final["hessian_eigenvalues"] = _clean(np.linalg.eigvalsh(0.5 * (hessian + hessian.T)))
    if sym_hess is not None and len(sym_hess) <= MAX_SYMBOLIC_HESSIAN_DIM:
        final["hessian_symbolic"] = [[an.readable(e) for e in row] for row in sym_hess]


def _kinks(final, subject, a) -> list:
    """Axes where f has a kink at a; there the one-sided derivatives are reported."""
    left, right = an.one_sided_gradients(subject, a)
    kinks = an.kink_axes(left, right, exact=subject.tape is not None)
    final["differentiable"] = not kinks
    if kinks:
        final["gradient_left"], final["gradient_right"] = _clean(left), _clean(right)
        final["not_differentiable_along"] = [subject.variables[i] for i in kinks]
        final["one_sided"] = _one_sided_check(subject, a, left, right)
    return kinks


def _one_dimensional(final, methods, subject, a, order):
    """f, f', ..., f^(order) by every method (1-D f); returns SymPy's derivatives or None."""
    sym_derivs = an.symbolic_derivatives_1d(subject, order) if subject.symbolic else None
    if subject.tape is None:   # named/data problem: order <= 2 from its gradient and Hessian
        final["derivative"], final["second_derivative"] = final["gradient"][0], final["hessian"][0][0]
        return sym_derivs
    methods["derivatives"] = an.derivatives_1d(subject, a[0], order, sym_derivs)
    ref = next(iter(methods["derivatives"].values()))
    final["derivative"] = float(ref[1])
    final["second_derivative"] = float(ref[2]) if order >= 2 else None
    final["derivatives"] = _clean(ref)
    if sym_derivs is not None:
        final["derivatives_symbolic"] = [an.readable(e) for e in sym_derivs]
    return sym_derivs


def _agreement(final, methods, kinks, subject, a) -> None:
    """Differences of every method from the reference, and whether all are within tolerance.
    At a kink only the methods sharing the subgradient convention are compared, plus the
    one-sided derivatives of forward mode against one-sided differences."""
    final["methods"] = {sec: {k: _clean(v) for k, v in m.items()} for sec, m in methods.items()}
    final["method_differences"] = {sec: an.differences(m) for sec, m in methods.items()}
    if kinks:
        grads = methods["gradient"]
        same = {k: grads[k] for k in ("symbolic", "reverse", "problem") if k in grads}
        final["methods_agree"] = (len(same) < 2 or an.agree(same, an.differences(same))) \
            and final["one_sided"]["agree"]
    else:
        final["methods_agree"] = all(an.agree(methods[sec], final["method_differences"][sec]) for sec in methods)


def _search(final, subject, a, knobs, seed) -> None:
    """Critical points and convexity over the box (they need the problem's Hessian)."""
    lo, hi = box_for(knobs.box, a, "analyze.box")
    final["box"] = [_clean(lo), _clean(hi)]
    if subject.value_grad is None or subject.hessian is None:
        return
    if knobs.critical_points:
        found = critical.critical_points(subject, lo, hi, knobs.starts, seed)
        final["critical_points"] = found.pop("points")
        final["critical_point_search"] = found
    if knobs.convexity:
        final["convexity"] = critical.convexity(subject, lo, hi, knobs.samples, seed)


def _one_sided_check(subject, a, left, right) -> dict:
    """At a kink: forward-mode one-sided derivatives against one-sided differences."""
    fd_left, fd_right = an.one_sided_gradients(subject, a, forward_mode=False)
    diff = float(max(np.max(np.abs(left - fd_left)), np.max(np.abs(right - fd_right))))
    scale = max(1.0, float(np.max(np.abs(np.concatenate([left, right])))))
    return {"left": {"forward": _clean(left), "difference": _clean(fd_left)},
            "right": {"forward": _clean(right), "difference": _clean(fd_right)},
            "max_difference": diff, "agree": bool(diff <= 1e-6 * scale)}


def _taylor(subject, a, knobs, sym_derivs, sym_grad, sym_hess, gradient, hessian) -> dict:
    order = knobs.order
    points = [point_vector(p, subject, f"analyze.taylor_at[{i}]") for i, p in enumerate(knobs.taylor_at or [])]
    rows = taylor.at_points(subject, a, order, points, gradient, hessian)
    out = {"order": order, "point": _clean(a),
           "polynomial": taylor.polynomial_text(subject, a, order, sym_derivs, sym_grad, sym_hess)}
    out.update({k: _clean(v) if k != "points" else v for k, v in rows.items()})
    lo, hi = box_for(knobs.box, a, "analyze.box")
    direction = np.ones(subject.dim) if knobs.direction is None else point_vector(knobs.direction, subject, "analyze.direction")
    radius = min(1.0, 0.25 * float(np.min(hi - lo)))
    growth = taylor.error_growth(subject, a, order, direction, radius, gradient, hessian)
    out["error_slopes"] = growth["slopes"]
    out["_growth"] = growth   # arrays for the trajectory and the plot; removed before packing
    return out


def _message(final: dict) -> str:
    notes = []
    if final.get("differentiable") is False:
        notes.append(f"f is not differentiable at {an_point(final['point'])} along "
                     f"{', '.join(final['not_differentiable_along'])}: one-sided derivatives "
                     f"left {final['gradient_left']}, right {final['gradient_right']}; 'gradient' "
                     f"is the subgradient convention (relu'(0) = 0, |x|'(0) = 0)")
    if not final.get("methods_agree", True):
        worst = {sec: max(d.values(), default=0.0) for sec, d in final["method_differences"].items()}
        notes.append(f"methods disagree beyond tolerance: {worst}")
    return "; ".join(notes)


def _pack(result: Result, subject: an.Subject, knobs: AnalyzeKnobs, a: np.ndarray) -> None:
    """Metrics, trajectory arrays and plots from the final numbers."""
    final = result.final
    growth = final.get("taylor", {}).pop("_growth", None)
    one = lambda v: Series([0], [v])  # noqa: E731  (a scalar as a one-point metric)
    m = result.metrics
    if not subject.is_vector:
        m["value"] = one(final["value"])
        m["grad_norm"] = one(float(np.linalg.norm(final["gradient"])))
        m["hessian_min_eigenvalue"] = one(final["hessian_eigenvalues"][0])
        m["hessian_max_eigenvalue"] = one(final["hessian_eigenvalues"][-1])
    if "directional_derivative" in final:
        m["directional_derivative"] = one(final["directional_derivative"])
    if "derivatives" in final:
        m["derivative_by_order"] = Series(np.arange(len(final["derivatives"])), final["derivatives"])
    if "critical_points" in final:
        m["n_critical_points"] = one(len(final["critical_points"]))
    if "convexity" in final:
        m["convexity_min_eigenvalue"] = one(final["convexity"]["min_eigenvalue"])
    diffs = [d for sec in final["method_differences"].values() for d in sec.values()]
    m["max_method_difference"] = one(max(diffs, default=0.0))
    if growth is not None:
        result.trajectory["taylor_distance"] = growth["distance"]
        result.trajectory["taylor_error"] = growth["errors"]
        for k in range(growth["errors"].shape[0]):
            m[f"taylor_error.order_{k + 1}"] = Series(np.arange(growth["distance"].size), growth["errors"][k])
    table = final.get("activation_table")
    if table:
        for key in ("x", "value", "derivative"):
            result.trajectory[f"activation_{key}"] = np.asarray(table[key])
        m["activation.value"] = Series(np.arange(len(table["x"])), table["value"])
        m["activation.derivative"] = Series(np.arange(len(table["x"])), table["derivative"])
    result.plots = _plots(subject, final, growth, knobs, a)


def _plots(subject, final, growth, knobs, a) -> list:
    out = []
    label = subject.label
    if subject.is_vector:
        J = np.asarray(final["jacobian"])
        rows = [f"f{i + 1}" for i in range(J.shape[0])]
        out.append(("jacobian.png", lambda: plots.jacobian_heatmap(J, f"Jacobian of {label} at {an_point(a)}",
                                                                   rows, subject.variables)))
        return out
    lo, hi = (np.asarray(b) for b in final["box"])
    crit = final.get("critical_points", [])
    grad, hess = np.asarray(final["gradient"]), np.asarray(final["hessian"])
    if subject.dim == 1:
        out.append(("function.png", lambda: plots.function_1d(subject, float(a[0]), float(lo[0]), float(hi[0]),
                                                              knobs.order, crit, grad, hess)))
    elif subject.dim == 2:
        out.append(("contour.png", lambda: plots.contour_2d(subject, lo, hi, a, grad, crit,
                                                            title=f"{label}: critical points")))
    if growth is not None:
        out.append(("taylor_error.png", lambda: plots.taylor_error(growth, f"Taylor error of {label} at {an_point(a)}")))
    table = final.get("activation_table")
    if table:
        out.append(("activation.png", lambda: plots.activation_curves(
            {k: np.asarray(v) for k, v in table.items()}, label)))
    return out
