"""A 32-job sweep of short optimize runs, basic launcher against joblib with 2 workers, each
in a fresh directory with its own MLflow store, through the real command line.

    python benchmarks/bench_sweep.py [--jobs 32] [--steps 200]
    NUMBA_NUM_THREADS=1 python benchmarks/bench_sweep.py \
        --job "task=integrate integrand=x_squared_unit integrator=mc integrator.n=4000000000" --key seed

Reports the wall time of each, their ratio, and the per-job cost of the basic launcher
((sweep - a single run) / (jobs - 1): process start and imports are paid once per sweep,
then each job pays composition, its MLflow run and its plots).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time


def timed(args, cwd) -> float:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--job", default="problem=bowl optim=gd", help="the overrides every job shares")
    ap.add_argument("--key", default="optim.lr", choices=["optim.lr", "seed"], help="what the jobs differ in")
    args = ap.parse_args()
    lrs = ",".join(str(i) for i in range(args.jobs)) if args.key == "seed" else \
        ",".join(f"{0.01 + 0.01 * i:.2f}" for i in range(args.jobs))
    base = [*args.job.split(), "quiet=true"]
    if "task=" not in args.job:
        base += [f"optimize.steps={args.steps}", "optimize.grad_tol=0"]
    single = timed(base + [f"{args.key}={lrs.split(',')[0]}"], tempfile.mkdtemp())
    basic = timed(["-m", *base, f"{args.key}={lrs}"], tempfile.mkdtemp())
    joblib = timed(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *base, f"{args.key}={lrs}"],
                   tempfile.mkdtemp())
    print(f"jobs: {' '.join(base)} {args.key}=<{args.jobs} values>")
    print(f"one run (process start, imports, store schema, one job): {single:.2f} s")
    print(f"{args.jobs} jobs, basic launcher      : {basic:.2f} s")
    print(f"{args.jobs} jobs, joblib, 2 workers  : {joblib:.2f} s")
    print(f"joblib speed-up: {basic / joblib:.2f}x (target >= 1.6x)")
    print(f"per-job cost, basic launcher: {(basic - single) / (args.jobs - 1):.3f} s")


if __name__ == "__main__":
    main()
