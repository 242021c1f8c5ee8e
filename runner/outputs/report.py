"""The short human-readable summary printed at the end of a run."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import numpy as np

from runner.result import Result


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, (list, tuple)):
        return f"[{len(value)} values]"
    return str(value)


FIRST_ROWS = 4        # steps 0..3: the iterations a worked example prints
MAX_TABLE_DIM = 4     # wider parameter vectors are not readable in a row


def _short(values) -> str:
    """A number or vector to 3 significant digits, as the tutorial prints its iterations."""
    flat = np.atleast_1d(np.asarray(values, dtype=float))
    text = ", ".join(f"{v:.3g}" for v in flat)
    return text if flat.size == 1 else f"({text})"


def first_iterations(result: Result) -> str:
    """The first steps of a descent as a table (step, params, loss, gradient), then the last
    step; empty unless the trajectory recorded every early iterate of a small problem."""
    traj = result.trajectory
    params, grad, at = traj.get("params"), traj.get("grad"), traj.get("params_step")
    if params is None or grad is None or at is None or len(at) == 0 or params.shape[1] > MAX_TABLE_DIM:
        return ""
    if not np.array_equal(at[:FIRST_ROWS], np.arange(min(FIRST_ROWS, len(at)))):
        return ""     # iterates thinned (record_params > 1): no consecutive first steps to show
    loss = traj["loss"]
    rows = list(range(min(FIRST_ROWS, len(at))))
    if len(at) > FIRST_ROWS:
        rows.append(len(at) - 1)
    cells = [("step", "params", "loss", "gradient")]
    cells += [(str(at[i]), _short(params[i]), _short(loss[at[i]]), _short(grad[i])) for i in rows]
    widths = [max(len(c[j]) for c in cells) for j in range(4)]
    lines = ["  " + "  ".join(c[j].rjust(widths[j]) if j == 0 else c[j].ljust(widths[j]) for j in range(4)).rstrip()
             for c in cells]
    if len(at) > FIRST_ROWS:
        lines.insert(len(lines) - 1, "  " + "...".rjust(widths[0]))
    return "\n".join(["  first iterations (loss and gradient at that step's params):"] + lines)


def print_summary(result: Result, run_dir: Path, run_id: Optional[str], stream=None) -> None:
    out = stream or sys.stdout
    head = " ".join(f"{k}={_fmt(v)}" for k, v in result.info.items() if not isinstance(v, (dict, list)))
    if result.report:     # the task's own tables say what final holds: not repeated here
        print(result.report, file=out)
    print(f"[{result.task}] {result.status} {head}", file=out)
    table = first_iterations(result)
    if table:
        print(table, file=out)
    if not result.report:
        width = max((len(k) for k in result.final), default=0)
        for key, value in result.final.items():
            if key == "erratum":
                continue
            print(f"  {key:<{width}}  {_fmt(value)}", file=out)
    check = result.final.get("grad_check")
    if isinstance(check, dict) and "verdict" in check:
        print(f"  grad check: {check['verdict']}", file=out)
    for warning in result.final.get("warnings") or []:
        print(f"  warning: {warning}", file=out)
    if result.message:
        print(f"  {result.message}", file=out)
    print(f"  run dir: {run_dir}", file=out)
    if run_id:
        print(f"  mlflow run: {run_id}", file=out)
    if result.final.get("erratum"):   # last: what the tutorial gets wrong in this example
        print(result.final["erratum"], file=out)
    out.flush()
