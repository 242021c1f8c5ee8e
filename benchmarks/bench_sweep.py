"""A 32-job sweep of short optimize runs, basic launcher against joblib with 2 workers, each
in a fresh directory with its own MLflow store, through the real command line; then what a
job and a joblib worker cost, part by part.

    python benchmarks/bench_sweep.py [--jobs 32] [--steps 200] [--repeat 3]
    python benchmarks/bench_sweep.py --variants basic,joblib,joblib-cold --repeat 3
    NUMBA_NUM_THREADS=1 python benchmarks/bench_sweep.py \
        --job "task=integrate integrand=x_squared_unit integrator=mc integrator.n=4000000000" --key seed

Variants: ``basic`` (the sequential launcher), ``joblib`` (2 workers, started and warmed while
the sweep is prepared: runner.sweep.workers), ``joblib-cold`` (2 workers, started by the
launcher: ``sweep.prewarm_workers=false``), ``basic-check-all`` and ``joblib-check-all`` (Hydra's up-front
check of every job's config instead of one per structure: ``hydra.sweeper.check=all``).  The machine is shared: each repeat runs every
variant once, in a rotated order, and the speed-up is taken within a repeat.

Parts: a fresh interpreter and each group of imports a worker pays once (in fresh processes,
fastest of 3, the interpreter start subtracted); the per-job steps in a warm process (median
of 5): composing the job's config, validating and running the task, writing outputs
(trajectory.npz and the plots), and the job's MLflow child run (create, params, metrics,
artifacts, terminate) on an SQLite store.  Each joblib sweep also prints how long its
workers took to start and import, measured in the workers themselves.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

VARIANTS = {
    "basic": [],
    "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
    "joblib-cold": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "sweep.prewarm_workers=false"],
    "basic-check-all": ["hydra.sweeper.check=all"],
    "joblib-check-all": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.check=all"],
}
WARMED = re.compile(r"\[sweep\] (\d+) joblib workers warmed up .*process start ([\d.]+) s, imports ([\d.]+) s")
IMPORT_GROUPS = {
    "Hydra, the joblib job wrapper, the app": "import hydra_plugins.hydra_joblib_launcher._core, runner.app",
    "MLflow and its SQLAlchemy store": "import mlflow.store.tracking.sqlalchemy_store, mlflow.tracking",
    "matplotlib (object API, Agg)": "import matplotlib.figure, matplotlib.backends.backend_agg",
    "the task and its kernels (numba cache)": "from runner.tasks import registry; t = registry.load_task({task!r}); "
                                              "getattr(t, 'warmup', lambda: None)()",
}


def machine_busy() -> float:
    """CPU seconds all processes have used since boot (from /proc/stat; 0 where missing)."""
    try:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return 0.0
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")   # minus idle, iowait


def run_cli(args, cwd):
    """(wall seconds, stdout, cores others kept busy meanwhile) of ``python -m runner ARGS``
    in ``cwd``: the machine's busy CPU time minus this run's, per second."""
    busy, ours = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(out.stderr[-2000:])
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = used.ru_utime + used.ru_stime - ours.ru_utime - ours.ru_stime
    return wall, out.stdout, max(0.0, (machine_busy() - busy - ours) / wall)


def fresh_process(code: str) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - t


def worker_parts(task: str):
    """{part: seconds} a fresh worker pays before its first job (fastest of 3 each)."""
    start = min(fresh_process("pass") for _ in range(3))
    parts = {"interpreter start": start}
    for name, code in IMPORT_GROUPS.items():
        parts[f"imports: {name}"] = min(fresh_process(code.format(task=task)) for _ in range(3)) - start
    return parts


def job_parts(job_overrides, repeat: int = 5):
    """{part: median seconds} of one job's steps, in this process once it is warm (main runs
    it in a fresh child through ``--job-parts``, so nothing measured before is cached)."""
    from pathlib import Path

    from hydra import compose, initialize_config_module

    from runner import app
    from runner.tasks import registry
    from runner.outputs import files as outputs
    from runner.tracking import store as tracking
    from runner.tracking import route
    from runner.tracking.messages import RunRecord

    tmp = Path(tempfile.mkdtemp())
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    overrides = [*job_overrides, f"tracking.uri={uri}", "quiet=true"]
    client = tracking.client_for(uri)
    exp_id = tracking.experiment_id(client, "bench-sweep", str(tmp / "artifacts"))
    parent = {"tracking_uri": uri, "experiment_id": exp_id,
              "parent_run_id": client.create_run(exp_id, run_name="sweep").info.run_id}
    times = {"compose the job's config": [], "validate and run the task": [],
             "outputs (trajectory.npz, plots)": [], "MLflow child run": []}
    with initialize_config_module(config_module="conf", version_base="1.3"):
        for i in range(repeat + 1):              # the first round warms up (imports, kernels, fonts)
            t0 = time.perf_counter()
            cfg = compose(config_name="config", overrides=overrides)
            t1 = time.perf_counter()
            task, validated = app.validate(cfg)
            ctx = registry.TaskContext(run_dir=tmp / f"job{i}", seed=int(cfg.seed), quiet=True, validated=validated)
            started = time.time()
            result = task.run(cfg, ctx)
            t2 = time.perf_counter()
            files = outputs.write_artifacts(result, cfg, ctx.run_dir)
            t3 = time.perf_counter()
            route.log_run(RunRecord(validated["tracking"], cfg, result, files, overrides, started, time.time(), parent))
            t4 = time.perf_counter()
            if i:
                for key, dt in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    times[key].append(dt)
    return {k: statistics.median(v) for k, v in times.items()}


def sweep_args(args):
    values = ",".join(str(i) for i in range(args.jobs)) if args.key == "seed" else \
        ",".join(f"{0.01 + 0.01 * i:.2f}" for i in range(args.jobs))
    base = [*args.job.split(), "quiet=true"]
    if "task=" not in args.job:
        base += [f"optimize.steps={args.steps}", "optimize.grad_tol=0"]
    return base, f"{args.key}={values}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--job", default="problem=bowl optim=gd", help="the overrides every job shares")
    ap.add_argument("--key", default="optim.lr", choices=["optim.lr", "seed"], help="what the jobs differ in")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of all variants (rotated order)")
    ap.add_argument("--variants", default="basic,joblib", help=f"comma-separated, of {', '.join(VARIANTS)}")
    ap.add_argument("--no-parts", action="store_true", help="skip the per-job and per-worker parts")
    ap.add_argument("--job-parts", action="store_true", help=argparse.SUPPRESS)   # child mode
    args = ap.parse_args()
    base, swept = sweep_args(args)
    if args.job_parts:
        print(json.dumps(job_parts([*base, swept.split(",")[0]])))
        return
    variants = args.variants.split(",")
    if unknown := set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")

    single = run_cli(base + [swept.split(",")[0]], tempfile.mkdtemp())[0]
    walls = {v: [] for v in variants}
    warmed = []
    for r in range(args.repeat):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        others = {}
        for v in order:
            wall, stdout, others[v] = run_cli(["-m", *VARIANTS[v], *base, swept], tempfile.mkdtemp())
            walls[v].append(wall)
            warmed += [(float(m.group(2)), float(m.group(3))) for m in WARMED.finditer(stdout)]
        print(f"round {r + 1}: " + ", ".join(f"{v} {walls[v][-1]:.2f} s (others busy {others[v]:.1f} cores)"
                                               for v in variants), flush=True)

    print(f"\njobs: {' '.join(base)} {args.key}=<{args.jobs} values>")
    print(f"one run (process start, imports, store schema, one job): {single:.2f} s")
    for v in variants:
        print(f"{args.jobs} jobs, {v:12s}: median {statistics.median(walls[v]):6.2f} s  "
              f"(runs: {', '.join(f'{w:.2f}' for w in walls[v])})")
    if "basic" in variants:
        for v in variants:
            if v != "basic":
                ratios = [b / w for b, w in zip(walls["basic"], walls[v])]
                print(f"{v} speed-up over basic: median {statistics.median(ratios):.2f}x "
                      f"(per round: {', '.join(f'{x:.2f}' for x in ratios)}; target >= 1.6x)")
        print(f"per-job cost, basic launcher: {(statistics.median(walls['basic']) - single) / (args.jobs - 1):.3f} s")
    if warmed:
        print(f"joblib workers warmed while the sweep was prepared (mean over {len(warmed)} sweeps): process start "
              f"{statistics.mean(w[0] for w in warmed):.2f} s, imports {statistics.mean(w[1] for w in warmed):.2f} s")
    if args.no_parts:
        return
    print("\nper worker, paid once before its first job (fresh interpreters, fastest of 3):")
    task = next((o.split("=", 1)[1] for o in base if o.startswith("task=")), "optimize")
    for name, seconds in worker_parts(task).items():
        print(f"  {name:52s} {seconds:6.3f} s")
    out = subprocess.run([sys.executable, __file__, "--job-parts", "--job", args.job, "--key", args.key,
                          "--steps", str(args.steps), "--jobs", str(args.jobs)],
                         capture_output=True, text=True, check=True)
    print("per job, in a warm process (median of 5):")
    for name, seconds in json.loads(out.stdout.strip().splitlines()[-1]).items():
        print(f"  {name:52s} {seconds:6.3f} s")


if __name__ == "__main__":
    main()
