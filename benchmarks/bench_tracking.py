"""What MLflow tracking adds to a 100,000-step optimize run (metrics downsampled to
tracking.max_points, the full trajectory.npz, the config and two plots as artifacts).

    python benchmarks/bench_tracking.py [--steps 100000] [--repeat 3]

Both variants run in this process, alternately, after a warm-up that compiles the kernels,
imports MLflow and creates the store's schema (a one-time cost, reported separately).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from hydra import compose, initialize_config_module

    from runner import app

    tmp = Path(tempfile.mkdtemp())
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    base = ["problem=rosenbrock", "optim=gd", "optim.lr=0.001", f"optimize.steps={args.steps}",
            "optimize.grad_tol=0", "quiet=true"]

    def run(tracking: list, tag: str) -> float:
        with initialize_config_module(config_module="conf", version_base="1.3"):
            cfg = compose(config_name="config", overrides=base + tracking)
        t = time.perf_counter()
        app.execute(cfg, tmp / f"{tag}-{time.perf_counter_ns()}")
        return time.perf_counter() - t

    t = time.perf_counter()
    run(["tracking=none"], "warm")
    run([f"tracking.uri={uri}"], "warm")
    print(f"warm-up (compile, import mlflow, create store schema): {time.perf_counter() - t:.2f} s")
    none, tracked = [], []
    for _ in range(args.repeat):
        none.append(run(["tracking=none"], "none"))
        tracked.append(run([f"tracking.uri={uri}"], "mlflow"))
    print(f"{args.steps} steps, tracking=none  : best {min(none):.3f} s")
    print(f"{args.steps} steps, tracking=mlflow: best {min(tracked):.3f} s")
    print(f"tracking adds {min(tracked) - min(none):.3f} s (best of {args.repeat}; target <= 2 s)")


if __name__ == "__main__":
    main()
