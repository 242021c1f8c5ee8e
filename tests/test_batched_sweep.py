"""Batched sweeps end to end (``python -m runner -m ...`` with the default batched launcher):
bit-identical to the basic launcher's jobs, a bad value and a diverging job fail alone, mixed
structures, the MLflow child runs and the parent's trajectories archive, the heat map and
ranking; plus the summaries' pure functions."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from runner.sweep.heatmap import grid, log_spaced, numeric_keys, ranking
from runner.tracking.archive import append, job_trajectory
from tests.conftest import run_cli


def test_log_spacing_numeric_keys_grid_and_ranking():
    assert log_spaced(np.geomspace(1e-4, 1, 9)) and not log_spaced(np.linspace(0.1, 0.9, 9))
    assert not log_spaced([0.0, 1.0, 10.0, 100.0])     # not positive
    table = [{"job": 0, "optim": "adam", "optim.lr": "0.1", "b": "1", "status": "FINISHED", "loss": 3.0, "steps": 9},
             {"job": 1, "optim": "adam", "optim.lr": "0.01", "b": "1", "status": "FINISHED", "loss": 1.0, "steps": 8},
             {"job": 2, "optim": "gd", "optim.lr": "0.1", "b": "2", "status": "DIVERGED", "loss": 9e20, "steps": 2},
             {"job": 3, "optim": "gd", "optim.lr": "0.01", "b": "2", "status": "FINISHED", "loss": 2.0, "steps": 7}]
    swept = ["b", "optim", "optim.lr"]
    assert numeric_keys(table, swept) == ["b", "optim.lr"]
    xs, ys, best, seen = grid(table, "optim.lr", "b", "loss")
    assert xs.tolist() == [0.01, 0.1] and ys.tolist() == [1.0, 2.0]
    np.testing.assert_array_equal(best, [[1.0, 3.0], [2.0, np.nan]])   # the diverged job is no value
    assert seen.all()
    ranked = ranking(table, swept)
    assert [(r["optim"], r["best_loss"], r["optim.lr"], r["finished"]) for r in ranked] == \
        [("adam", 1.0, "0.01", "2/2"), ("gd", 2.0, "0.01", "1/2")]


def test_keys_some_jobs_leave_unset_stay_numeric_and_scattered_values_make_no_heat_map(tmp_path):
    """An Optuna grid searches optim.momentum only for momentum, betas.0 only for Adam: both
    stay numeric (not groups of the ranking), and values sampled at random make no heat map."""
    from runner.sweep.heatmap import heat_maps

    def job(num, optim, lr, momentum, beta1, loss):
        return {"job": num, "optim": optim, "optim.lr": lr, "optim.momentum": momentum, "optim.betas.0": beta1,
                "status": "FINISHED", "loss": loss, "steps": 5}

    table = [job(0, "momentum", "0.01", "0.9", "", 2.0), job(1, "momentum", "0.02", "0.5", "", 1.0),
             job(2, "momentum", "0.03", "0.7", "", 4.0),
             job(3, "adam", "0.03", "", "0.8", 0.5), job(4, "adam", "0.04", "", "0.7", 3.0)]
    swept = ["optim", "optim.betas.0", "optim.lr", "optim.momentum"]
    assert numeric_keys(table, swept) == ["optim.betas.0", "optim.lr", "optim.momentum"]
    ranked = ranking(table, swept)
    assert [(r["optim"], r["job"], r["finished"], r.get("optim.momentum"), r.get("optim.betas.0"))
            for r in ranked] == [("adam", 3, "2/2", None, "0.8"), ("momentum", 1, "3/3", "0.5", None)]
    xs, ys, best, seen = grid(table, "optim.lr", "optim.momentum", "loss")      # the jobs that set both
    assert xs.tolist() == [0.01, 0.02, 0.03] and ys.tolist() == [0.5, 0.7, 0.9] and seen.sum() == 3
    assert heat_maps(table, swept, tmp_path) == []          # 3 of 9 cells (2 of 4, 0 of 4): no grid
    full = [job(i, "momentum", lr, m, "", 1.0 + i) for i, (lr, m) in
            enumerate([("0.01", "0.5"), ("0.01", "0.9"), ("0.02", "0.5"), ("0.02", "0.9")])]
    assert [p.name for p in heat_maps(full, ["optim.lr", "optim.momentum"], tmp_path)] == \
        ["heatmap_loss_optim.lr_optim.momentum.png"]


def test_archive_holds_each_jobs_arrays(tmp_path):
    path = tmp_path / "t.npz"
    append(path, {0: {"loss": np.arange(3.0)}, 5: {"loss": np.ones(2), "params": np.eye(2)}})
    append(path, {7: {"loss": np.zeros(4)}})
    np.testing.assert_array_equal(job_trajectory(path, 5)["params"], np.eye(2))
    np.testing.assert_array_equal(job_trajectory(path, 7)["loss"], np.zeros(4))
    with pytest.raises(KeyError):
        job_trajectory(path, 3)


def _jobs(sweep_dir: Path):
    out = {}
    for doc in sorted(sweep_dir.glob("*/result.json")):
        out[int(doc.parent.name)] = json.loads(doc.read_text())
    return out


@pytest.mark.slow
def test_a_batched_sweep_end_to_end(tmp_path):
    db = tmp_path / "mlflow.db"
    common = ["problem=rosenbrock", "optimize.steps=300", f"tracking.uri=sqlite:///{db}", "quiet=true"]
    grid_args = ["optim=adam,momentum", "optim.lr=1e-3,1e-2,2.0,-1"]
    out = run_cli(["-m", "hydra/launcher=batched", *common, *grid_args, f"hydra.sweep.dir={tmp_path / 'b'}"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert "[sweep] 8 jobs: 6 in 2 batch(es) (one kernel call each), 0 run one by one, 2 ended before any work" \
        in out.stdout
    jobs = _jobs(tmp_path / "b")
    by_over = {}
    for num, doc in jobs.items():
        over = (tmp_path / "b" / str(num) / ".hydra" / "overrides.yaml").read_text()
        by_over[num] = over
    statuses = sorted(doc["status"] for doc in jobs.values())
    assert statuses.count("FAILED") == 2 and "DIVERGED" in statuses       # lr=-1 fails alone; lr=2 diverges
    assert "optim.lr: must be > 0, got -1" in out.stderr
    # the same jobs through Hydra's basic launcher, untracked: the same numbers, job by job
    basic = run_cli(["-m", *common[:2], "tracking=none", "quiet=true", "hydra/launcher=basic", *grid_args,
                     f"hydra.sweep.dir={tmp_path / 'a'}"], tmp_path)
    assert basic.returncode == 0, basic.stderr
    alone = _jobs(tmp_path / "a")
    assert alone.keys() == jobs.keys()
    for num in jobs:
        assert alone[num]["status"] == jobs[num]["status"]
        assert alone[num].get("final") == jobs[num].get("final"), num
    # MLflow: one FINISHED parent, every job a child run with its status, params and curves;
    # the parent's archive gives each job's full trajectory back
    from mlflow.tracking import MlflowClient

    from runner.tracking import load_job_trajectory

    client = MlflowClient(f"sqlite:///{db}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    parent = [r for r in runs if r.data.tags.get("calclab.sweep") == "parent"]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parent) == 1 and parent[0].info.status == "FINISHED"
    assert len(children) == 6 and all(r.info.status in ("FINISHED", "FAILED") for r in children)
    assert all(r.info.status != "RUNNING" for r in runs)
    child = next(r for r in children if r.info.status == "FINISHED")
    history = client.get_metric_history(child.info.run_id, "loss")
    assert 2 <= len(history) <= 20 and child.data.params["optimize.steps"] == "300"
    num = next(n for n, d in jobs.items() if d.get("mlflow_run_id") == child.info.run_id)
    traj = load_job_trajectory(parent[0].info.run_id, num, f"sqlite:///{db}")
    np.testing.assert_array_equal(traj["loss"], np.load(tmp_path / "a" / str(num) / "trajectory.npz")["loss"])
    names = {a.path for a in client.list_artifacts(parent[0].info.run_id, "summary")}
    assert "summary/trajectories.npz" in names and "summary/ranking.csv" in names


@pytest.mark.slow
def test_ctrl_c_in_a_batch_keeps_its_jobs_and_runs_none_after(tmp_path):
    """Ctrl-C while a batch computes: its jobs end KILLED with what they computed (result,
    trajectory, child run), the next structure's jobs are not run, the parent run ends KILLED,
    nothing is left RUNNING, exit 130."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from mlflow.tracking import MlflowClient

    from runner.interrupt import NOT_RUN

    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "runner", "-m", "hydra/launcher=batched", "problem=rosenbrock", "problem.dim=1000",
                             "optim=momentum,adam", "optim.lr=1e-5,2e-5", "optimize.steps=10000000",
                             "optimize.grad_tol=0", "optimize.record_params=0", "quiet=true",
                             f"hydra.sweep.dir={tmp_path / 's'}"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 300
    while not (tmp_path / "s" / "sweep.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(5.0)                                   # well into the first batch's descent
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert all(line.startswith("calclab: ") for line in err.strip().splitlines()), err
    docs = _jobs(tmp_path / "s")
    assert sorted(docs) == [0, 1, 2, 3] and all(d["status"] == "KILLED" for d in docs.values())
    assert all("interrupted by the user" in docs[j]["message"] and 0 < docs[j]["steps"] < 10_000_000 for j in (0, 1))
    assert docs[2]["message"] == docs[3]["message"] == NOT_RUN
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert not any(r.info.status == "RUNNING" for r in runs)
    parent = [r for r in runs if r.data.tags.get("calclab.sweep") == "parent"]
    assert [r.info.status for r in parent] == ["KILLED"]
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(r.info.status for r in kids) == ["KILLED", "KILLED"]


@pytest.mark.slow
def test_optuna_asks_for_trials_in_batches_each_one_kernel_call(tmp_path):
    out = run_cli(["-m", "hydra/launcher=batched", "+search=adam_lr", "hydra.sweeper.n_trials=8", "hydra.sweeper.n_jobs=4",
                   "optimize.steps=300", "quiet=true", f"hydra.sweep.dir={tmp_path / 's'}"], cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("[sweep] 4 jobs: 4 in 1 batch(es) (one kernel call each)") == 2, out.stdout
    from mlflow.tracking import MlflowClient
    from omegaconf import OmegaConf

    found = OmegaConf.to_container(OmegaConf.load(tmp_path / "s" / "optimization_results.yaml"))
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    kids = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(kids) == 8 == found["n_trials"] and all(r.info.status != "RUNNING" for r in runs)
    losses = [r.data.metrics["loss"] for r in kids if r.info.status == "FINISHED"]
    assert found["best_value"] == pytest.approx(min(losses), rel=1e-12)
