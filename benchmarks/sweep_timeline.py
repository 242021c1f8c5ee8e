"""Where a 32-job sweep of short optimize runs spends its time, from the files it writes: when
the parent run was ready (sweep.json), when the first job started (its .hydra/config.yaml) and
the last one ended (its result.json), and the tail after it (summary table and plots, the
parent run's end, exit).  Each sweep runs in a fresh directory with its own MLflow store.

    python benchmarks/sweep_timeline.py [--launcher joblib|basic] [--repeat 2]

Run it with PYTHONPATH=<another checkout> to time that checkout's code the same way.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def timeline(launcher: str, jobs: int = 32):
    cwd = tempfile.mkdtemp()
    values = ",".join(f"{0.01 + 0.01 * i:.2f}" for i in range(jobs))
    t0 = time.time()
    out = subprocess.run([sys.executable, "-m", "runner", "-m", *LAUNCHERS[launcher], "problem=bowl", "optim=gd",
                          "quiet=true", "optimize.steps=200", "optimize.grad_tol=0", f"optim.lr={values}"],
                         cwd=cwd, capture_output=True, text=True)
    wall = time.time() - t0
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    sweep = next(Path(cwd, "outputs", "multirun").glob("*/*"))
    starts = [os.stat(d / ".hydra" / "config.yaml").st_mtime - t0 for d in sweep.iterdir() if (d / ".hydra").is_dir()]
    ends = [os.stat(d / "result.json").st_mtime - t0 for d in sweep.iterdir() if (d / "result.json").is_file()]
    parent = os.stat(sweep / "sweep.json").st_mtime - t0
    return {"wall": wall, "parent run ready": parent, "first job starts": min(starts),
            "last job ends": max(ends), "tail (summary, exit)": wall - max(ends)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--launcher", default="joblib", choices=sorted(LAUNCHERS))
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    for r in range(args.repeat):
        t = timeline(args.launcher)
        print(f"{args.launcher} sweep {r + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()), flush=True)


if __name__ == "__main__":
    main()
