"""Runs recorded per second: the SQLite default store against an MLflow tracking server on
PostgreSQL (started here as tests/servers.py starts it, and stopped at the end), the same
sweep through the real command line, side by side; then the store alone: N runs of 101
metric points each written by one client, the calclab way (runner.tracking.store.record_run
is what a job calls; here the same MlflowClient calls without a task).

    python benchmarks/bench_server.py [--jobs 16] [--steps 100] [--repeat 3] [--launcher basic]

Needs PostgreSQL's server binaries (/usr/lib/postgresql/*/bin) and the `server` extra.  The
machine is shared: each repeat runs both stores once, in a rotated order.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests import servers  # noqa: E402

LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def sweep_seconds(uri: str | None, jobs: int, steps: int, launcher: str) -> float:
    lrs = ",".join(f"{0.001 * (i + 1):.3f}" for i in range(jobs))
    args = [sys.executable, "-m", "runner", "-m", *LAUNCHERS[launcher], "problem=bowl", "optim=adam",
            f"optim.lr={lrs}", f"optimize.steps={steps}", "optimize.grad_tol=0", "quiet=true"]
    if uri:
        args.append(f"tracking.uri={uri}")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        out = subprocess.run(args, cwd=d, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"sweep failed on {uri or 'sqlite'}:\n{out.stderr[-2000:]}")
    return wall


def client_seconds(uri: str, runs: int, points: int = 101) -> float:
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.create_experiment(f"bench-{time.time_ns()}")
    t = time.perf_counter()
    for i in range(runs):
        run = client.create_run(exp)
        rid = run.info.run_id
        client.log_batch(rid, params=[Param(f"p{k}", str(k)) for k in range(20)])
        client.log_batch(rid, metrics=[Metric("loss", 1.0 / (s + 1), 0, s) for s in range(points)])
        client.set_terminated(rid, "FINISHED")
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--launcher", choices=sorted(LAUNCHERS), default="basic")
    ap.add_argument("--client-runs", type=int, default=50)
    a = ap.parse_args()
    why = servers.postgres_missing()
    if why:
        raise SystemExit(f"bench_server: {why}")
    root = Path(tempfile.mkdtemp(prefix="calclab-bench-server-"))
    sqlite_dir = tempfile.mkdtemp(prefix="calclab-bench-sqlite-")
    sqlite_uri = f"sqlite:///{sqlite_dir}/mlflow.db"
    with servers.postgres() as db_uri, servers.mlflow_server(db_uri, root) as server:
        stores = {"sqlite (default)": None, "postgresql server": server.url}
        sweep = {k: [] for k in stores}
        client = {k: [] for k in stores}
        for r in range(a.repeat):
            names = list(stores)[r % 2:] + list(stores)[:r % 2]
            for name in names:
                sweep[name].append(sweep_seconds(stores[name], a.jobs, a.steps, a.launcher))
                client[name].append(client_seconds(stores[name] or sqlite_uri, a.client_runs))
                print(f"repeat {r}: {name}: sweep {sweep[name][-1]:.1f} s, client {client[name][-1]:.2f} s",
                      flush=True)
    print(f"\n{a.jobs}-job sweep ({a.launcher} launcher, optimize bowl, {a.steps} steps), "
          f"median of {a.repeat}; store alone: {a.client_runs} runs x 101 points")
    print(f"| store | sweep wall (s) | sweep runs/s | store alone runs/s |")
    print(f"|---|---:|---:|---:|")
    for name in stores:
        s, c = statistics.median(sweep[name]), statistics.median(client[name])
        print(f"| {name} | {s:.1f} | {a.jobs / s:.2f} | {a.client_runs / c:.1f} |")


if __name__ == "__main__":
    main()
