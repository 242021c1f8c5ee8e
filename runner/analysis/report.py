"""The readable tables printed by task=analyze and task=constrained (and nothing else)."""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np


def num(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(num(x) for x in v) + "]"
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.10g}"
    return str(v)


def table(header: Sequence[str], rows: List[Sequence], indent: str = "  ") -> str:
    cells = [[str(h) for h in header]] + [[num(c) if not isinstance(c, str) else c for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, indent + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def methods_table(title: str, methods: Dict[str, list], diffs: Dict[str, float]) -> str:
    rows = [[name, np.asarray(v).ravel().tolist(), "reference" if name not in diffs else f"{diffs[name]:.2e}"]
            for name, v in methods.items()]
    return f"{title}\n" + table(["method", "value", "max |diff|"], rows)


def analyze_text(final: Dict, info: Dict) -> str:
    """The analysis as sections of aligned tables."""
    out = [f"== analyze: {info.get('label', '')} at {num(final.get('point'))}"]
    rows = [[k, final[k] if not isinstance(final[k], str) else final[k]]
            for k in ("value", "gradient", "hessian_eigenvalues", "derivative", "second_derivative",
                      "directional_derivative", "differentiable")
            if k in final and final[k] is not None]
    if "gradient_symbolic" in final:
        rows.append(["gradient (symbolic)", ", ".join(final["gradient_symbolic"])])
    if "derivatives_symbolic" in final:
        for k, text in enumerate(final["derivatives_symbolic"][1:], start=1):
            rows.append([f"d^{k}f/d{final['variables'][0]}^{k}", text])
    if "jacobian_symbolic" in final:
        rows.append(["jacobian (symbolic)", "; ".join(", ".join(r) for r in final["jacobian_symbolic"])])
    out.append(table(["quantity", "value"], rows))
    sides = final.get("one_sided")
    if sides:
        rows = [[v, sides["left"]["forward"][i], sides["left"]["difference"][i],
                 sides["right"]["forward"][i], sides["right"]["difference"][i]]
                for i, v in enumerate(final["variables"])]
        out.append("f is not differentiable here: one-sided derivatives\n" +
                   table(["variable", "left (forward mode)", "left (difference)", "right (forward mode)",
                          "right (difference)"], rows) +
                   "\n  below, symbolic and reverse mode use the subgradient convention; forward, Taylor"
                   "\n  mode and the complex step see the right side; central differences average both")
    for section, methods in final.get("methods", {}).items():
        out.append(methods_table(f"{section} by method", methods, final["method_differences"][section]))
    taylor = final.get("taylor")
    if taylor:
        head = f"Taylor polynomial of order {taylor['order']}: {taylor.get('polynomial') or '(numeric only)'}"
        rows = [[p, t, f, e] for p, t, f, e in zip(taylor["points"], taylor["taylor"], taylor["f"], taylor["error"])]
        out.append(head + ("\n" + table(["point", "Taylor", "f", "error"], rows) if rows else ""))
    if "critical_points" in final:
        rows = [[p["x"], p["value"], p["kind"], p.get("test", "-"), p["eigenvalues"]] for p in final["critical_points"]]
        found = final.get("critical_point_search", {}).get("found", len(rows))
        more = f", the first {len(rows)} listed" if found > len(rows) else ""
        out.append(f"critical points in the box ({found} found{more})\n" +
                   table(["x", "f", "kind", "decided by", "eigenvalues"], rows))
    if "convexity" in final:
        out.append(f"convexity over the box: {final['convexity']['verdict']}")
    act = final.get("activation_table")
    if act:
        rows = list(zip(act["x"], act["value"], act["derivative"]))
        out.append(f"{info.get('label', '')} table\n" + table(["x", "value", "derivative"], rows))
    return "\n\n".join(out)


def constrained_text(final: Dict, info: Dict) -> str:
    out = [f"== constrained: {info.get('objective', '')} {info.get('label', '')} "
           f"subject to {'; '.join(info.get('constraints', []))} = 0"]
    rows = [[s["x"], s["multipliers"], s["value"], s["kind"], s["bordered_hessian_minors"]]
            for s in final.get("stationary_points", [])]
    out.append(table(["x", "lambda", "f", "along the constraint", "bordered minors"], rows))
    sol = final.get("solution")
    out.append(f"solution: x* = {num(sol['x'])}, lambda = {num(sol['multipliers'])}, f(x*) = {num(sol['value'])}"
               if sol else f"no solution: {final.get('outcome')}")
    return "\n\n".join(out)
