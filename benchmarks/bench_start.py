"""Warm start: a whole ``python -m runner`` run against the bare imports it cannot avoid.

    python benchmarks/bench_start.py [--rounds 7] [--fork both|on|off]

Each round runs, one after the other in fresh processes, ``python -c "import hydra, mlflow,
numba"`` and ``python -m runner problem=quadratic optim=gd`` (tracked to MLflow in a store
made before the first round, with ``tracking.fork=true`` and/or ``false``), so that a busy
moment on this shared machine hits all of them alike.  The numba cache is warmed by one
untimed run first.  Prints each command's median and best wall time and the run's excess
over the imports (the issue's target: at most 1 s).
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

IMPORTS = [sys.executable, "-c", "import hydra, mlflow, numba"]
RUN = [sys.executable, "-m", "runner", "problem=quadratic", "optim=gd", "quiet=true"]


def wall(cmd, cwd, env) -> float:
    t = time.perf_counter()
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--fork", choices=("both", "on", "off"), default="both")
    args = ap.parse_args()
    forks = {"both": ("true", "false"), "on": ("true",), "off": ("false",)}[args.fork]

    work = Path(tempfile.mkdtemp(prefix="calclab-start-"))
    env = dict(os.environ)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlflow.db'}"
    commands = {"imports": IMPORTS}
    for fork in forks:
        commands[f"run (tracking.fork={fork})"] = RUN + [f"tracking.fork={fork}"]
    for cmd in commands.values():      # numba cache, the store's schema, the experiment
        wall(cmd, work, env)

    times = {name: [] for name in commands}
    for _ in range(args.rounds):
        for name, cmd in commands.items():
            times[name].append(wall(cmd, work, env))

    print(f"# {args.rounds} rounds, interleaved; python {sys.version.split()[0]}, cores {os.cpu_count()}")
    print(f"# run: {' '.join(RUN[1:])}")
    base = statistics.median(times["imports"])
    for name, ts in times.items():
        med = statistics.median(ts)
        extra = "" if name == "imports" else f"   over the imports: median {med - base:+.2f} s"
        print(f"{name:>26}: median {med:.2f} s  best {min(ts):.2f} s{extra}")
        print(f"{'':>26}  runs {' '.join(f'{t:.2f}' for t in ts)}")


if __name__ == "__main__":
    main()
