"""Reliability figures: bad inputs, hostile expressions, concurrent runs on one SQLite store.

    python benchmarks/reliability.py            # in-process corpus + hostile expressions + 8 concurrent runs
    python benchmarks/reliability.py --runs 0   # without the concurrent runs

* Bad inputs: every case of tests/test_bad_inputs.py through the command line's validation path
  (Hydra composition, runner.app.execute): refused in one line / tracebacks (any other
  exception) / hangs (over 60 s) / MLflow runs left RUNNING in the store.
* Hostile expressions: parse + differentiate + compile of each; refused / executed (compiled:
  must be 0) / the worst wall time and the peak memory (ru_maxrss) of this process.
* Concurrent runs: N ``python -m runner`` processes at once on one fresh SQLite store;
  runs recorded, points lost (loss points in MLflow against the steps each run made).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HOSTILE = {
    "product of 40 sines (40 variables)": "*".join(f"sin(x{i})" for i in range(1, 41)),
    "product of 40 sines (one variable)": "*".join(f"sin({i}*x)" for i in range(1, 41)),
    "sin nested 40 deep": "sin(" * 40 + "x" + ")" * 40,
    "max nested 90 deep": "max(" * 90 + "x" + ",y)" * 90,
    "(x**64)**64... 12 deep": "(" * 12 + "x" + "**64)" * 12,
    "(x**2)**2... 12 deep": "(" * 12 + "x" + "**2)" * 12,
    "abs nested 20 deep": "abs(" * 20 + "x" + ")" * 20,
}


def bad_inputs(store_uri: str) -> dict:
    from mlflow.entities import ViewType
    from mlflow.tracking import MlflowClient

    from tests.test_bad_inputs import CASES, refusal

    counts = {"tried": 0, "one-line errors": 0, "tracebacks": 0, "hangs": 0, "runs left RUNNING": 0}
    with tempfile.TemporaryDirectory() as tmp:
        for i, (overrides, key) in enumerate(CASES.values()):
            counts["tried"] += 1
            extra = [] if any(o.startswith("tracking.uri") for o in overrides) else [f"tracking.uri={store_uri}"]
            extra += [] if any(o.startswith("quiet") for o in overrides) else ["quiet=true"]
            start = time.perf_counter()
            try:
                line = refusal(overrides + extra, Path(tmp) / f"run{i}")
            except Exception:
                counts["tracebacks"] += 1
                continue
            counts["hangs"] += time.perf_counter() - start > 60
            counts["one-line errors"] += line is not None and "\n" not in line and key in line
    client = MlflowClient(store_uri)
    exps = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    counts["runs left RUNNING"] = sum(r.info.status == "RUNNING"
                                      for r in client.search_runs(exps, run_view_type=ViewType.ALL))
    return counts


def hostile_expressions() -> dict:
    from runner.expr import compile as expr
    from runner.errors import ConfigError

    out = {"tried": 0, "refused": 0, "executed": 0, "worst_s": 0.0, "cases": {}}
    with tempfile.TemporaryDirectory() as cache:
        os.environ["CALCLAB_CACHE_DIR"] = cache
        for name, text in HOSTILE.items():
            out["tried"] += 1
            start = time.perf_counter()
            try:
                expr.compile_text(text)
                out["executed"] += 1
                verdict = "compiled"
            except ConfigError as e:
                out["refused"] += 1
                verdict = e.problem.split(";")[0][:70]
            seconds = time.perf_counter() - start
            out["worst_s"] = max(out["worst_s"], seconds)
            out["cases"][name] = (len(text), round(seconds, 2), verdict)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def concurrent_runs(n: int, steps: int = 500) -> dict:
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        env.pop("MLFLOW_TRACKING_URI", None)
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "runner", "problem=bowl", "optim=gd", f"seed={i}",
                                   f"optimize.steps={steps}", "optimize.grad_tol=0", "quiet=true",
                                   f"tracking.uri={uri}", f"hydra.run.dir={tmp}/run{i}"],
                                  cwd=tmp, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(n)]
        codes = [p.wait() for p in procs]
        wall = time.perf_counter() - start
        client = MlflowClient(uri)
        lost, recorded = 0, 0
        for i in range(n):
            doc = json.loads((Path(tmp) / f"run{i}" / "result.json").read_text())
            if not doc.get("mlflow_run_id"):
                lost += doc["steps"] + 1
                continue
            recorded += 1
            points = len(client.get_metric_history(doc["mlflow_run_id"], "loss"))
            lost += doc["steps"] + 1 - points
    return {"processes": n, "exit codes": sorted(set(codes)), "runs recorded": recorded, "points lost": lost,
            "wall_s": round(wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="concurrent processes on one store (0: skip)")
    args = parser.parse_args()
    from mlflow.tracking import MlflowClient

    with tempfile.TemporaryDirectory() as tmp:
        uri = f"sqlite:///{tmp}/mlflow.db"
        MlflowClient(uri).search_experiments()
        bad = bad_inputs(uri)
    print("bad inputs: " + ", ".join(f"{k} {v}" for k, v in bad.items()))
    hostile = hostile_expressions()
    print(f"hostile expressions: tried {hostile['tried']}, refused {hostile['refused']}, executed "
          f"{hostile['executed']}, worst {hostile['worst_s']:.1f} s, peak memory {hostile['peak_rss_mb']:.0f} MB")
    for name, (chars, seconds, verdict) in hostile["cases"].items():
        print(f"  {name:38s} {chars:4d} chars  {seconds:6.2f} s  {verdict}")
    if args.runs:
        print("concurrent runs on one fresh SQLite store: " +
              ", ".join(f"{k} {v}" for k, v in concurrent_runs(args.runs).items()))


if __name__ == "__main__":
    main()
