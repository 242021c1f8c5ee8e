"""Multiruns: one MLflow parent per sweep with a child per job, a summary that shows failed
jobs with their reason, parallel jobs on one SQLite store (and on a tracking server) without
losing a run or a metric point, skip-finished, and bad sweep input as one line."""
import csv
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from runner.sweep.summary import best_job, summary_table
from tests.conftest import run_cli


def rows_for(statuses_losses):
    return [{"job": i, "dir": f"/x/{i}", "overrides": [f"optim.lr={lr}", "problem=bowl"],
             "result": {"status": st, "final": {"loss": loss}, "steps": 10, "message": msg}}
            for i, (lr, st, loss, msg) in enumerate(statuses_losses)]


def test_summary_table_and_best_job_from_job_records():
    rows = rows_for([(0.1, "FINISHED", 0.5, ""), (0.01, "FINISHED", 0.25, ""), (9.0, "DIVERGED", 1e30, "diverged at step 3")])
    table = summary_table(rows, ["optim.lr"])
    assert [t["optim.lr"] for t in table] == ["0.1", "0.01", "9.0"]
    assert table[2]["status"] == "DIVERGED" and table[2]["message"] == "diverged at step 3"
    assert best_job(rows)["job"] == 1                       # diverged jobs never win


def children(client, parent_id):
    exp_ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(exp_ids, f"tags.mlflow.parentRunId = '{parent_id}'", max_results=1000)


def sweep_dir_of(tmp_path):
    [d] = [p.parent for p in tmp_path.glob("outputs/multirun/*/*/sweep.json")]
    return d


@pytest.mark.slow
def test_sequential_sweep_groups_runs_and_summarises_failures(tmp_path):
    out = run_cli(["-m", "problem=bowl", "optim=gd", "optim.lr=0.1,0.5,1.5", "optimize.steps=200", "quiet=true"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr                  # a diverged job does not fail the sweep
    d = sweep_dir_of(tmp_path)
    parent = json.loads((d / "sweep.json").read_text())
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    prun = client.get_run(parent["parent_run_id"])
    assert prun.info.status == "FINISHED" and prun.data.tags["calclab.sweep"] == "parent"
    assert prun.data.tags["jobs"] == "3" and prun.data.tags["jobs_diverged"] == "1"
    assert "jobs" not in prun.data.metrics          # bookkeeping is no chart
    assert "optim.lr=0.5" in prun.data.tags["best_overrides"]     # lr 0.5 on x^2+y^2: one step to 0
    kids = children(client, parent["parent_run_id"])
    assert len(kids) == 3 and {k.info.experiment_id for k in kids} == {parent["experiment_id"]}
    assert sorted(k.data.tags["calclab.status"] for k in kids) == ["DIVERGED", "FINISHED", "FINISHED"]
    with open(d / "summary.csv") as fh:
        table = list(csv.DictReader(fh))
    assert [r["optim.lr"] for r in table] == ["0.1", "0.5", "1.5"]
    assert table[2]["status"] == "DIVERGED" and "diverged at step" in table[2]["message"]
    arts = {a.path for a in client.list_artifacts(parent["parent_run_id"], "summary")}
    assert {"summary/summary.csv", "summary/loss_curves.png", "summary/final_loss_by_optim.lr.png"} <= arts


def count_back(client, parent_id, steps):
    kids = children(client, parent_id)
    points = {k.info.run_id: len(client.get_metric_history(k.info.run_id, "loss")) for k in kids}
    return len(kids), points, {k.info.status for k in kids}


@pytest.mark.slow
def test_16_parallel_jobs_on_sqlite_lose_nothing(tmp_path):
    lrs = ",".join(f"{x:.0e}" for x in (1e-5, 2e-5, 5e-5, 1e-4))
    out = run_cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "problem=rosenbrock",
                   "optim=gd,momentum,adam,nesterov", f"optim.lr={lrs}", "optimize.steps=400",
                   "optimize.grad_tol=0", "quiet=true"], cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "[sweep] 4 joblib workers warmed up" in out.stdout    # started early, one warm-up each
    parent = json.loads((sweep_dir_of(tmp_path) / "sweep.json").read_text())
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    n, points, statuses = count_back(client, parent["parent_run_id"], 400)
    assert n == 16 and statuses == {"FINISHED"}
    assert set(points.values()) == {401}                    # every step of every run
    assert [e.name for e in client.search_experiments() if client.search_runs([e.experiment_id])] == ["calclab-optimize"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_parallel_jobs_through_a_tracking_server(tmp_path):
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
                               "--artifacts-destination", str(tmp_path / 'server-artifacts'), "--workers", "1"],
                              cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None, "mlflow server did not start"
                time.sleep(0.5)
        out = run_cli(["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=4", "problem=bowl",
                       "optim=gd,adam", "optim.lr=0.01,0.02,0.05,0.1", "optimize.steps=100", "optimize.grad_tol=0",
                       f"tracking.uri={url}", "quiet=true"], cwd=tmp_path, timeout=900)
        assert out.returncode == 0, out.stderr
        parent = json.loads((sweep_dir_of(tmp_path) / "sweep.json").read_text())
        n, points, statuses = count_back(MlflowClient(url), parent["parent_run_id"], 100)
        assert n == 8 and statuses == {"FINISHED"} and set(points.values()) == {101}
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


@pytest.mark.slow
def test_skip_finished_reruns_only_what_did_not_finish(tmp_path):
    args = ["-m", "problem=bowl", "optim=gd", "optim.lr=0.1,1.5", "optimize.steps=50", "tracking=none",
            "hydra.sweep.dir=sweep", "sweep.skip_finished=true"]
    assert run_cli(args, cwd=tmp_path).returncode == 0
    first = {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "sweep").glob("*/result.json")}
    out = run_cli(args, cwd=tmp_path)
    assert out.returncode == 0
    assert "[sweep] skipped" in out.stdout and out.stdout.count("[sweep] skipped") == 1
    again = {p.parent.name: p.stat().st_mtime_ns for p in (tmp_path / "sweep").glob("*/result.json")}
    assert again["0"] == first["0"] and again["1"] != first["1"]   # FINISHED kept, DIVERGED re-run


@pytest.mark.slow
@pytest.mark.parametrize("args,start", [
    (["-m", "hydra/launcher=nope", "optim.lr=0.1,0.2"], "calclab: error: In 'hydra/config': Could not find 'hydra/launcher/nope'"),
    (["-m", "optim.lrr=0.1,0.2"], "calclab: error: optim.lrr: unknown key"),
    (["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "optim.lrr=0.1,0.2"],   # workers warming meanwhile
     "calclab: error: optim.lrr: unknown key"),
    # a key only Adam has, swept with an optimizer that lacks it: the up-front check composes
    # one job per optimizer (hydra_plugins/calclab_sweeper/basic_sweeper.py), so the GD jobs are caught too
    (["-m", "optim=adam,gd", "optim.beta1=0.8,0.9"], "calclab: error: optim.beta1: unknown key"),
    (["-m", "optim.lr=0.1,-1"], None),
])
def test_bad_sweep_input(tmp_path, args, start):
    out = run_cli(args + ["quiet=true"], cwd=tmp_path)
    if start is None:      # a bad value in one job: that job fails with one line, the sweep goes on
        assert out.returncode == 0 and "calclab: error: optim.lr: must be > 0" in out.stderr
        d = sweep_dir_of(tmp_path)
        with open(d / "summary.csv") as fh:
            assert [r["status"] for r in csv.DictReader(fh)] == ["FINISHED", "FAILED"]
        return
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), out.stderr
    assert not list(tmp_path.glob("outputs/multirun/*/*/0"))  # no job started
    store = tmp_path / "outputs" / "mlflow.db"
    if store.exists():                                        # and no parent run left behind
        client = MlflowClient(f"sqlite:///{store}")
        assert client.search_runs([e.experiment_id for e in client.search_experiments()]) == []


@pytest.mark.slow
def test_optuna_search_trials_are_child_runs_and_the_best_is_on_the_parent(tmp_path):
    out = run_cli(["-m", "+search=adam_lr", "hydra.sweeper.n_trials=6", "optimize.steps=300", "quiet=true"],
                  cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    d = sweep_dir_of(tmp_path)
    from omegaconf import OmegaConf

    found = OmegaConf.to_container(OmegaConf.load(d / "optimization_results.yaml"))
    parent = json.loads((d / "sweep.json").read_text())
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    kids = children(client, parent["parent_run_id"])
    assert len(kids) == 6 == found["n_trials"]
    losses = [k.data.metrics["loss"] for k in kids if k.data.tags["calclab.status"] == "FINISHED"]
    assert found["best_value"] == pytest.approx(min(losses), rel=1e-12)    # the best child is the best trial
    lrs = [float(k.data.params["optim.lr"]) for k in kids]
    assert all(1e-4 <= lr <= 3e-1 for lr in lrs) and len(set(lrs)) == 6
    prun = client.get_run(parent["parent_run_id"])
    assert float(prun.data.params["best.optim.lr"]) == pytest.approx(found["best_params"]["optim.lr"])
    assert prun.data.metrics["best_loss"] == pytest.approx(found["best_value"])


@pytest.mark.slow
def test_local_ray_launcher_runs_every_job_as_a_child_run(tmp_path):
    pytest.importorskip("ray")
    out = run_cli(["-m", "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2", "problem=bowl",
                   "optim=gd,adam", "optim.lr=0.05,0.1", "optimize.steps=100", "optimize.grad_tol=0", "quiet=true"],
                  cwd=tmp_path, timeout=600, env_extra={"RAY_USAGE_STATS_ENABLED": "0"})
    assert out.returncode == 0, out.stderr[-3000:]
    parent = json.loads((sweep_dir_of(tmp_path) / "sweep.json").read_text())
    n, points, statuses = count_back(MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}"),
                                     parent["parent_run_id"], 100)
    assert n == 4 and statuses == {"FINISHED"} and set(points.values()) == {101}


@pytest.mark.slow
def test_a_ray_address_that_does_not_answer_is_one_line(tmp_path):
    pytest.importorskip("ray")
    with socket.socket() as s:          # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run_cli(["-m", "hydra/launcher=ray_cluster", f"hydra.launcher.ray.init.address=127.0.0.1:{port}",
                   "optim.lr=0.1,0.2"], cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"calclab: error: hydra.launcher.ray.init.address: no Ray cluster answers at 127.0.0.1:{port} "
        "(Connection refused); start one with `ray start --head` or drop the address for a local Ray"]


@pytest.mark.slow
@pytest.mark.parametrize("launcher, sig", [(["hydra/launcher=basic"], "SIGINT"), (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], "SIGINT"),
                                           (["hydra/launcher=basic"], "SIGTERM"), (["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"], "SIGTERM")],
                         ids=["basic-ctrl-c", "joblib-ctrl-c", "basic-sigterm", "joblib-sigterm"])
def test_ctrl_c_stops_the_sweep_and_keeps_what_the_running_jobs_computed(tmp_path, launcher, sig):
    """Ctrl-C or SIGTERM (to the whole process group, as a terminal or a scheduler sends it):
    the running jobs end KILLED with their trajectory and child run, the others do not run, the
    summary is written, the parent run ends KILLED, exit 130 (143 for SIGTERM), and nothing but
    calclab's lines on stderr."""
    import signal

    from runner.interrupt import NOT_RUN

    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "runner", "-m", *launcher, "problem=rosenbrock", "problem.dim=1000",
                             "optim.lr=1e-5,2e-5,3e-5", "optimize.steps=10000000", "optimize.grad_tol=0",
                             "optimize.record_params=0", "quiet=true"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    first = 2 if "joblib" in launcher[0] else 1
    deadline = time.time() + 120
    while len(list(tmp_path.glob("outputs/multirun/*/*/*/.hydra"))) < first and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(3.0)                                   # well into the running jobs' descent
    os.killpg(proc.pid, getattr(signal, sig))
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == (130 if sig == "SIGINT" else 143), err
    lines = err.strip().splitlines()
    assert all(line.startswith("calclab: ") for line in lines), err
    verb = "interrupted" if sig == "SIGINT" else "terminated by SIGTERM"
    assert lines[-1].startswith(f"calclab: {verb}: {first} of the sweep's jobs ran")
    d = sweep_dir_of(tmp_path)
    docs = {p.parent.name: json.loads(p.read_text()) for p in d.glob("*/result.json")}
    assert sorted(docs) == ["0", "1", "2"] and all(doc["status"] == "KILLED" for doc in docs.values())
    ran = [docs[str(j)] for j in range(first)]
    words = "interrupted by the user" if sig == "SIGINT" else "terminated by SIGTERM"
    assert all(words in doc["message"] and 0 < doc["steps"] < 10_000_000 for doc in ran)
    assert docs["2"]["message"] == NOT_RUN
    for j, doc in enumerate(ran):
        traj = np.load(d / str(j) / "trajectory.npz")
        assert traj["loss"].size == doc["steps"] + 1
    with open(d / "summary.csv") as fh:
        assert [r["status"] for r in csv.DictReader(fh)] == ["KILLED"] * 3
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    parent_id = json.loads((d / "sweep.json").read_text())["parent_run_id"]
    assert client.get_run(parent_id).info.status == "KILLED"
    kids = children(client, parent_id)
    assert len(kids) == first and all(r.info.status == "KILLED" for r in kids)
