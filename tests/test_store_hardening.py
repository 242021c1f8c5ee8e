"""A tracking store that cannot take the run is found before any work (one line naming
``tracking.uri``, exit 2); a busy SQLite store is waited for; a store that fails after the work
keeps the results on disk, exits non-zero and says how to upload them, and the upload works."""
import json
import sqlite3
import subprocess
import sys

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from runner import app
from runner.tracking import store as tracking
from runner.tracking import route
from runner.tracking.check import check_store
from runner.tracking.messages import RunRecord
from runner.tracking.upload import main as tracking_main
from runner.errors import ConfigError
from tests.conftest import compose, run_cli

RUN = ["problem=bowl", "optim=gd", "optimize.steps=30", "quiet=true"]


def _bad_stores(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 50)
    good = tmp_path / "good.db"
    MlflowClient(f"sqlite:///{good}").search_experiments()          # a real store, then cut short
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[:6000])
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    return {
        "path under a file": ("sqlite:////etc/passwd/sub/mlflow.db", "Not a directory"),
        "under /proc": ("sqlite:////proc/x/mlflow.db", "cannot create"),
        "garbage file": (f"sqlite:///{garbage}", "not an SQLite database"),
        "truncated store": (f"sqlite:///{truncated}", "truncated"),
        "not an MLflow store": (f"sqlite:///{other}", "not an MLflow store"),
        "a directory": (f"sqlite:///{tmp_path}", "is not a file"),
        "unknown scheme": ("postgres://nowhere", "unsupported store"),
        "garbage uri": ("garbage", "unsupported store"),
        "unreachable server": ("http://127.0.0.1:9", "no store answers at 127.0.0.1:9"),
        "unreachable database server": ("postgresql://127.0.0.1:9/db", "no store answers"),
    }


CASES = ["path under a file", "under /proc", "garbage file", "truncated store", "not an MLflow store",
         "a directory", "unknown scheme", "garbage uri", "unreachable server", "unreachable database server"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_store_is_one_line_before_any_work(tmp_path, case):
    uri, cause = _bad_stores(tmp_path)[case]
    cfg = compose(RUN + [f"tracking.uri={uri}"])
    with pytest.raises(ConfigError) as err:
        app.execute(cfg, tmp_path / "run")
    assert err.value.key == "tracking.uri" and cause in err.value.problem
    assert not (tmp_path / "run").exists()            # nothing computed, nothing written


def test_a_good_store_and_a_new_one_pass(tmp_path, mlflow_uri):
    check_store(tracking.MlflowTracking(uri=mlflow_uri))
    check_store(tracking.MlflowTracking(uri=f"sqlite:///{tmp_path}/new/dir/mlflow.db"))


def _hold_write_lock(db, seconds):
    """A process that holds the write lock of the SQLite file ``db`` (readers go on, as with another
    writer busy) for ``seconds`` or until
    a line comes on its standard input."""
    code = ("import select, sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); "
            "select.select([sys.stdin], [], [], float(sys.argv[2])); c.execute('COMMIT')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(db), str(seconds)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def _release(holder):
    holder.communicate("go\n", timeout=30)


def _fresh_store(tmp_path):
    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    MlflowClient(f"sqlite:///{db}").search_experiments()
    return db


def _finished_run(tmp_path):
    """A run computed without tracking: (config, Result, its files)."""
    from runner.outputs import files as outputs

    cfg = compose(RUN + ["tracking=none"])
    result = app.execute(cfg, tmp_path / "run")
    return cfg, result, outputs.write_artifacts(result, cfg, tmp_path / "run")


def test_a_busy_store_is_waited_for(tmp_path):
    """Another process holds the store's write lock for 8 s (longer than SQLite's own 5 s wait):
    the run's record waits for it (tracking.busy_timeout) and arrives whole."""
    db = _fresh_store(tmp_path)
    cfg, result, files = _finished_run(tmp_path)
    tcfg = tracking.MlflowTracking(uri=f"sqlite:///{db}", busy_timeout=30)
    holder = _hold_write_lock(db, 8)
    try:
        run_id = route.log_run(RunRecord(tcfg, cfg, result, [str(f) for f in files], [], 1.0e9, 1.0e9 + 1))
    finally:
        holder.wait()
    run = MlflowClient(f"sqlite:///{db}").get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.metrics["loss"] == pytest.approx(result.final["loss"])


def test_a_store_that_fails_after_the_work_exits_non_zero_and_the_upload_records_it(tmp_path, monkeypatch, capsys):
    db = _fresh_store(tmp_path)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()                   # MLflow's lines about creating the store
    holder = _hold_write_lock(db, 600)
    try:
        cfg = compose(RUN + [f"tracking.uri=sqlite:///{db}", "tracking.busy_timeout=0"])
        with pytest.raises(SystemExit) as ended:
            app.main(cfg)
    finally:
        _release(holder)
    assert ended.value.code == app.TRACKING_FAILED_EXIT
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("calclab: error: tracking.uri: ") and "database is locked" in line
    assert line.endswith(f"python -m runner.tracking upload {tmp_path}")
    doc = json.loads((tmp_path / "result.json").read_text())
    assert doc["status"] == "FINISHED" and doc["mlflow_run_id"] is None

    assert tracking_main(["upload", str(tmp_path)]) == 0
    client = MlflowClient(f"sqlite:///{db}")
    run_id = json.loads((tmp_path / "result.json").read_text())["mlflow_run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.params["optim.name"] == "gd"
    history = client.get_metric_history(run_id, "loss")
    assert len(history) == len(doc_loss(tmp_path)) and history[-1].value == pytest.approx(doc["final"]["loss"])
    assert {a.path for a in client.list_artifacts(run_id)} >= {"config.yaml", "trajectory.npz"}
    assert tracking_main(["upload", str(tmp_path)]) == 0          # recorded once: nothing sent again
    assert len(client.search_runs([run.info.experiment_id], run_view_type=ViewType.ALL)) == 1


def doc_loss(run_dir):
    import numpy as np

    with np.load(run_dir / "trajectory.npz") as t:
        return t["loss"]


def test_upload_of_a_directory_without_runs_is_one_line(tmp_path, capsys):
    assert tracking_main(["upload", str(tmp_path)]) == 1
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"calclab: error: {tmp_path}: no result.json")


@pytest.mark.slow
@pytest.mark.parametrize("uri", ["sqlite:////etc/passwd/sub/mlflow.db", "sqlite:////proc/x/mlflow.db",
                                 "http://127.0.0.1:9", "postgres://nowhere"])
@pytest.mark.parametrize("multirun", [False, True])
def test_a_bad_store_through_the_cli(tmp_path, uri, multirun):
    args = (["-m", "optim.lr=0.1,0.2"] if multirun else []) + RUN + [f"tracking.uri={uri}"]
    proc = run_cli(args, tmp_path, timeout=120)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("calclab: error: tracking.uri: ") and "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("result.json"))


@pytest.mark.slow
def test_a_sweep_whose_jobs_records_fail_exits_non_zero_and_the_upload_puts_them_under_its_parent(tmp_path):
    """The store takes the sweep's parent run, then is locked while the jobs compute: each job's
    record fails (busy_timeout=0), the sweep ends its parent, exits 4 and names the upload; the
    upload records the jobs as child runs of that parent, once."""
    import os
    import time

    db = _fresh_store(tmp_path)
    sweep = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "-m", "problem=rosenbrock", "problem.dim=1000", "optimize.grad_tol=0",
         "optimize.steps=400000", "optimize.record_params=0", "quiet=true", "optim.lr=1e-5,2e-5",
         f"tracking.uri=sqlite:///{db}", "tracking.busy_timeout=0", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    holder = None
    try:
        deadline = time.time() + 240
        while not (sweep / "sweep.json").is_file() or not (sweep / "0" / ".hydra").is_dir():
            assert time.time() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        holder = _hold_write_lock(db, 600)      # the parent run exists; the first job computes
        while len(list(sweep.glob("*/result.json"))) < 2:
            assert time.time() < deadline and proc.poll() is None, proc.communicate()
            time.sleep(0.1)
    finally:
        if holder is not None:
            _release(holder)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == app.TRACKING_FAILED_EXIT, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(f"upload them with: python -m runner.tracking upload {sweep}")
    docs = [json.loads(p.read_text()) for p in sorted(sweep.glob("*/result.json"))]
    assert [(d["status"], d["mlflow_run_id"], bool(d["mlflow_record_failed"])) for d in docs] == [("FINISHED", None, True)] * 2

    parent_id = json.loads((sweep / "sweep.json").read_text())["parent_run_id"]
    assert tracking_main(["upload", str(sweep)]) == 0
    assert tracking_main(["upload", str(sweep)]) == 0          # nothing is recorded twice
    client = MlflowClient(f"sqlite:///{db}")
    assert client.get_run(parent_id).info.status == "FINISHED"
    children = client.search_runs([client.get_run(parent_id).info.experiment_id],
                                  f"tags.mlflow.parentRunId = '{parent_id}'", run_view_type=ViewType.ALL)
    uploaded = {json.loads(p.read_text())["mlflow_run_id"] for p in sweep.glob("*/result.json")}
    assert {r.info.run_id for r in children} == uploaded and len(uploaded) == 2
    assert all(r.info.status == "FINISHED" and "loss" in r.data.metrics for r in children)
    assert all("mlflow_record_failed" not in json.loads(p.read_text()) for p in sweep.glob("*/result.json"))
