"""Batched sweeps: a grid of 32 log-spaced lrs x 32 beta1 values (Adam on Rosenbrock, 2,000
steps each) through the real command line with the default batched launcher and MLflow on
(the default SQLite store in a fresh directory), against Hydra's basic launcher on a 64-job
slice of the same grid; the per-job ratio; the batch's kernel time against jobs x one job's
kernel time / cores; and a 10,000-job grid with ``tracking=none``.

    python benchmarks/bench_batch.py                 # all four figures
    python benchmarks/bench_batch.py --only kernel   # kernel, grid, basic, untracked
    python benchmarks/bench_batch.py --lrs 32 --betas 32 --steps 2000 --slice 64

Every sweep counts its child runs and checks that each one is FINISHED or FAILED (none RUNNING).
The machine is shared: the load average is printed beside each figure.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def grid_args(lrs: int, betas: int, steps: int):
    lr = ",".join(f"{v:.6g}" for v in np.geomspace(1e-4, 1.0, lrs))
    beta = ",".join(f"[{b:.6g},0.999]" for b in np.linspace(0.0, 0.99, betas))
    return ["problem=rosenbrock", "optim=adam", f"optimize.steps={steps}", f"optim.lr={lr}", f"optim.betas={beta}",
            "quiet=true"]


def sweep(args, cwd, label):
    env = dict(os.environ, PYTHONPATH=REPO)
    env.pop("MLFLOW_TRACKING_URI", None)
    tic = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "runner", "-m", *args], cwd=cwd, env=env, capture_output=True,
                         text=True)
    wall = time.perf_counter() - tic
    if out.returncode != 0:
        sys.exit(f"{label} failed:\n{out.stderr[-3000:]}")
    return wall, out


def child_runs(cwd):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{os.path.join(cwd, 'outputs', 'mlflow.db')}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()], max_results=50_000)
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert not any(r.info.status == "RUNNING" for r in runs), "a run was left RUNNING"
    return len(kids), sum(r.info.status == "FINISHED" for r in kids)


def kernel_figure(lrs, betas, steps):
    """The batch's kernel time against jobs x one job's kernel time / cores (in-process)."""
    import numba

    sys.path.insert(0, REPO)
    from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS
    from runner.descent.batch import minimise_batch, prepare
    from runner.descent.driver import DescentKnobs
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem

    problem = build_problem(PROBLEM_SCHEMAS["rosenbrock"](), 0)
    knobs = DescentKnobs(steps=steps)
    sched = SCHEDULE_SCHEMAS["constant"]()
    optims = [OPTIM_SCHEMAS["adam"](lr=float(lr), betas=[float(b), 0.999])
              for lr in np.geomspace(1e-4, 1.0, lrs) for b in np.linspace(0.0, 0.99, betas)]
    minimise_batch([prepare(problem, optims[0], sched, knobs, 0)])          # load the kernels
    singles = []
    for o in optims[:: max(1, len(optims) // 32)]:
        run = prepare(problem, o, sched, knobs, 0)
        tic = time.perf_counter()
        run.step(steps)
        singles.append(time.perf_counter() - tic)
    one = float(np.median(singles))
    runs = [prepare(problem, o, sched, knobs, 0) for o in optims]
    tic = time.perf_counter()
    minimise_batch(runs)
    batch = time.perf_counter() - tic
    cores = numba.get_num_threads()
    ideal = len(optims) * one / cores
    print(f"kernel: {len(optims)} jobs in one batch {batch:.3f} s; one job alone {one * 1e3:.3f} ms "
          f"(median of {len(singles)}); jobs x one / {cores} cores = {ideal:.3f} s; ratio {batch / ideal:.2f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lrs", type=int, default=32)
    ap.add_argument("--betas", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--slice", type=int, default=64)
    ap.add_argument("--untracked", type=int, default=10_000)
    ap.add_argument("--only", default="kernel,grid,basic,untracked")
    a = ap.parse_args()
    only = set(a.only.split(","))
    if "kernel" in only:
        kernel_figure(a.lrs, a.betas, a.steps)
    per_job = {}
    if "grid" in only:
        with tempfile.TemporaryDirectory() as cwd:
            wall, _ = sweep(grid_args(a.lrs, a.betas, a.steps), cwd, "batched grid")
            n, ok = child_runs(cwd)
        jobs = a.lrs * a.betas
        per_job["batched"] = wall / jobs
        print(f"batched launcher, MLflow on: {jobs} jobs in {wall:.1f} s ({wall / jobs * 1e3:.1f} ms a job); "
              f"{n} child runs, {ok} FINISHED; load average {os.getloadavg()[0]:.1f}")
    if "basic" in only:
        side = max(1, int(round(np.sqrt(a.slice))))
        with tempfile.TemporaryDirectory() as cwd:
            wall, _ = sweep(grid_args(side, side, a.steps) + ["hydra/launcher=basic"], cwd, "basic slice")
            n, ok = child_runs(cwd)
        per_job["basic"] = wall / (side * side)
        print(f"basic launcher, MLflow on: {side * side} jobs in {wall:.1f} s ({per_job['basic'] * 1e3:.1f} ms a job); "
              f"{n} child runs, {ok} FINISHED; load average {os.getloadavg()[0]:.1f}")
    if len(per_job) == 2:
        print(f"per-job ratio basic / batched: {per_job['basic'] / per_job['batched']:.1f}x")
    if "untracked" in only:
        side = int(round(np.sqrt(a.untracked)))
        with tempfile.TemporaryDirectory() as cwd:
            wall, _ = sweep(grid_args(side, side, a.steps) + ["tracking=none"], cwd, "untracked grid")
        print(f"batched launcher, tracking=none: {side * side} jobs in {wall:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
