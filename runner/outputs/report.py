"""The short human-readable summary printed at the end of a run."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from runner.result import Result


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, (list, tuple)) and len(value) <= 8:
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    if isinstance(value, (list, tuple)):
        return f"[{len(value)} values]"
    return str(value)


def print_summary(result: Result, run_dir: Path, run_id: Optional[str], stream=None) -> None:
    out = stream or sys.stdout
    head = " ".join(f"{k}={_fmt(v)}" for k, v in result.info.items() if not isinstance(v, (dict, list)))
    if result.report:     # the task's own tables say what final holds: not repeated here
        print(result.report, file=out)
    print(f"[{result.task}] {result.status} {head}", file=out)
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
