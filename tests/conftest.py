"""Shared fixtures: one MLflow store per test session, Hydra composition, running the app
in-process (fast) or through the real command line (slow, end to end)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config):
    """Before the test processes start (pytest-xdist runs the suite in one per core: see
    ``addopts``), load every numba kernel once in this process: on a fresh clone that compiles
    them into numba's on-disk cache, which two processes compiling the same kernel at the same
    time can corrupt.  The workers then load them from the cache."""
    if hasattr(config, "workerinput") or config.option.collectonly:
        return
    import importlib

    for module in sorted(p.stem for p in (REPO / "kernels").glob("*.py") if not p.stem.startswith("_")):
        importlib.import_module(f"kernels.{module}")


@pytest.fixture(scope="session")
def mlflow_uri(tmp_path_factory) -> str:
    """An SQLite store created once (its schema costs ~1.4 s) and shared by the session."""
    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    from mlflow.tracking import MlflowClient

    MlflowClient(tracking_uri=uri).search_experiments()  # creates the schema
    return uri


def compose(overrides=()):
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    with initialize_config_module(config_module="conf", version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides))


class NullProgress:
    def update(self, n=1):
        pass

    def close(self):
        pass


def descent_outcome(run, chunks):
    """Step a runner.descent.driver.Run in the given chunks; (last status, steps, theta, loss, grad
    norm, lr, recorded iterates, recorded gradients): what fast and generic loops must agree on."""
    statuses = [run.step(n) for n in chunks]
    t = run.t
    kept = t // run.theta_every + 1 if run.theta_every else 0
    return (statuses[-1], t, run.theta.copy(), run.loss[:t + 1].copy(), run.grad_norm[:t + 1].copy(),
            run.lr[:t + 1].copy(), run.traj_theta[:kept].copy(), run.traj_grad[:kept].copy())


def task_context(tmp_path, validated, seed=0):
    return SimpleNamespace(run_dir=Path(tmp_path), seed=seed, quiet=True, validated=validated,
                           progress=lambda total, desc: NullProgress())


def run_task(cfg, tmp_path, seed=0):
    """The task of ``cfg`` run in-process after the CLI's own validation; its Result."""
    from runner import app

    task, validated = app.validate(cfg)
    return task.run(cfg, task_context(tmp_path, validated, seed))


@pytest.fixture
def run_app(tmp_path, mlflow_uri):
    """Run one job in-process through runner.app.main; returns (result, result.json dict)."""
    from runner import app

    def _run(*overrides, tracking=True):
        extra = [f"tracking.uri={mlflow_uri}"] if tracking else ["tracking=none"]
        cfg = compose(list(overrides) + extra + ["quiet=true"])
        run_dir = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        result = app.execute(cfg, run_dir)
        doc = json.loads((run_dir / "result.json").read_text())
        return result, doc, run_dir

    return _run


def run_cli(args, cwd, env_extra=None, timeout=600):
    """``python -m runner ARGS`` in ``cwd``; returns the CompletedProcess."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "runner", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """An MLflow tracking server on a fresh PostgreSQL database with a served artifact root,
    started once per session (MLflow's schema migrations on PostgreSQL take minutes on a busy
    machine) and always stopped; yields (server, database URI).  Skips where PostgreSQL is
    missing (.ci/run installs it)."""
    from tests import servers

    why = servers.postgres_missing()
    if why:
        pytest.skip(why)
    with servers.postgres() as db_uri:
        with servers.mlflow_server(db_uri, tmp_path_factory.mktemp("pg-mlflow")) as server:
            yield server, db_uri
