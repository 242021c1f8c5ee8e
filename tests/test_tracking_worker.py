"""The forked tracking helper (runner.tracking.worker): same MLflow contents as logging in
process, no run for an aborted or orphaned helper, errors come back to the parent."""
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from runner.tracking import store as tracking
from runner.tracking import route
from runner.tracking.messages import AbandonParent, FinishParent, RunRecord, StartParent
from runner.result import DIVERGED, Result, Series
from runner.tracking.worker import TrackingWorker
from tests.conftest import compose

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the helper is forked (Linux only)")


def _store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, str(tmp_path / "art"), "calclab-test"


def _result(n=5000):
    steps = np.arange(n)
    return Result(task="optimize", status=DIVERGED, message="loss became nan at step 4999",
                  final={"loss": 1.5}, info={"problem": "bowl", "optimizer": "gd"},
                  metrics={"loss": Series(steps, np.exp(-steps / 100.0))}, tags={"numba.compile_s": "0.1"},
                  plots=[("never.png", lambda: None)])


def _runs(uri):
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("calclab-test")
    return client, ([] if exp is None else client.search_runs([exp.experiment_id]))


def _logging_inputs(tmp_path):
    """(uri, artifact root, experiment, job config, tracking config, an artifact file)"""
    uri, art, name = _store(tmp_path)
    cfg = compose(["problem=bowl", "optim=gd", "quiet=true"])
    tcfg = tracking.MlflowTracking(uri=uri, artifact_location=art, experiment=name, max_points=100)
    artifact = tmp_path / "config.yaml"
    artifact.write_text("x: 1\n")
    return uri, art, name, cfg, tcfg, artifact


def test_the_helper_records_the_run_as_logging_in_process_would(tmp_path):
    uri, art, name, cfg, tcfg, artifact = _logging_inputs(tmp_path)
    worker = TrackingWorker.start(force=True)
    worker.open(uri, art, name)
    run_id = worker.log(RunRecord(tcfg, cfg, _result(), [artifact], ["problem=bowl"], 1.0e9, 1.0e9 + 2))
    worker.close()
    assert not worker._process.is_alive() and worker._process.exitcode == 0
    client, [run] = _runs(uri)
    assert run.info.run_id == run_id and run.info.status == "FAILED"      # DIVERGED -> FAILED
    assert run.data.tags["calclab.status"] == DIVERGED and run.data.tags["numba.compile_s"] == "0.1"
    assert run.data.params["optim.lr"] == str(cfg.optim.lr)
    history = client.get_metric_history(run_id, "loss")
    series = _result().metrics["loss"]
    kept, _ = tracking.downsample(series.steps, series.values, 100)
    assert sorted(m.step for m in history) == kept.tolist() and len(kept) < 5000
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml", "result.json"]
    assert run.info.start_time == 1.0e12


def test_an_aborted_helper_creates_no_run_and_exits(tmp_path):
    uri, art, name = _store(tmp_path)
    before_open = TrackingWorker.start(force=True)
    before_open.close()                                  # still importing: stopped at once
    assert not before_open._process.is_alive()
    after_open = TrackingWorker.start(force=True)
    after_open.open(uri, art, name)
    after_open.close()
    after_open._process.join(60)
    assert after_open._process.exitcode == 0
    assert _runs(uri)[1] == []


def test_a_helper_whose_parent_goes_away_creates_no_run(tmp_path):
    uri, art, name = _store(tmp_path)
    worker = TrackingWorker.start(force=True)
    worker.open(uri, art, name)
    worker._conn.close()                                 # as if the parent had died
    worker._process.join(60)
    assert worker._process.exitcode == 0 and _runs(uri)[1] == []


def test_a_store_that_cannot_be_opened_comes_back_as_an_error(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    uri = f"sqlite:///{tmp_path / 'file' / 'mlflow.db'}"
    cfg = compose(["problem=bowl", "optim=gd", "quiet=true"])
    worker = TrackingWorker.start(force=True)
    worker.open(uri, None, "calclab-test")
    with pytest.raises(Exception, match="(?i)unable to open|no such|not a directory|OperationalError"):
        worker.log(RunRecord(tracking.MlflowTracking(uri=uri), cfg, _result(10), [], [], 0.0, 1.0))


def test_prestart_forks_for_a_run_or_a_multirun_only(monkeypatch):
    started = []
    monkeypatch.setattr(TrackingWorker, "start", classmethod(lambda cls, force=False: started.append(1) or "w"))
    for argv in (["--help"], ["--cfg", "job"], ["-m", "--cfg", "job"], ["--info"], ["hydra/launcher=joblib"]):
        TrackingWorker.prestart(argv)
        assert TrackingWorker.claim() is None
    for argv in (["problem=bowl"], ["-m", "optim=gd,adam"], ["-m", "hydra/launcher=joblib", "seed=0,1"]):
        TrackingWorker.prestart(argv)
        assert TrackingWorker.claim() == "w" and TrackingWorker.claim() is None
    assert len(started) == 3


def test_the_helper_creates_and_ends_a_sweeps_parent_run(tmp_path):
    uri, art, name = _store(tmp_path)
    summary = tmp_path / "summary.csv"
    summary.write_text("job,loss\n0,1.5\n")
    worker = TrackingWorker.start(force=True)
    tags = {"calclab.sweep": "parent", "mlflow.source.name": "calclab"}
    parent = worker.call(StartParent(uri, art, name, "sweep: optim.lr=0.1,0.2", tags,
                                     {"sweep.overrides": "optim.lr=0.1,0.2"}))
    client, [run] = _runs(uri)
    assert parent == {"tracking_uri": uri, "experiment_id": run.info.experiment_id,
                      "parent_run_id": run.info.run_id}
    assert run.info.status == "RUNNING" and run.data.tags["calclab.sweep"] == "parent"
    worker.call(FinishParent(parent, {"jobs": 2, "best_loss": 1.5}, {"best_job": "0"},
                             {"best.optim.lr": 0.1}, [str(summary)]))
    worker.close()
    worker._process.join(10)
    assert worker._process.exitcode == 0
    run = client.get_run(parent["parent_run_id"])
    assert run.info.status == "FINISHED" and run.data.metrics == {"jobs": 2.0, "best_loss": 1.5}
    assert run.data.tags["best_job"] == "0" and run.data.params["best.optim.lr"] == "0.1"
    assert [a.path for a in client.list_artifacts(run.info.run_id, "summary")] == ["summary/summary.csv"]


@pytest.mark.parametrize("jobs_ran", [True, False])
def test_an_abandoned_sweep_parent_is_killed_or_deleted(tmp_path, jobs_ran):
    uri, art, name = _store(tmp_path)
    worker = TrackingWorker.start(force=True)
    parent = worker.call(StartParent(uri, art, name, "sweep", {}, {}))
    worker.call(AbandonParent(parent, jobs_ran))
    worker.close()
    client = MlflowClient(uri)
    run = client.get_run(parent["parent_run_id"])
    assert (run.info.status, run.info.lifecycle_stage) == (("KILLED", "active") if jobs_ran else ("KILLED", "deleted"))


def test_a_failed_call_comes_back_as_the_error_and_the_helper_serves_on(tmp_path):
    uri, art, name = _store(tmp_path)
    worker = TrackingWorker.start(force=True)
    with pytest.raises(Exception, match="no_such_run"):
        worker.call(AbandonParent({"tracking_uri": uri, "parent_run_id": "no_such_run"}, True))
    assert worker.call(StartParent(uri, art, name, "sweep", {}, {}))["tracking_uri"] == uri
    worker.close()


def _cli(tmp_path, *args, **kw):
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen([sys.executable, "-m", "runner", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _children_of(pid):
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


@pytest.mark.slow
def test_a_cli_run_is_logged_by_the_helper_and_leaves_no_process(tmp_path):
    proc = _cli(tmp_path, "problem=bowl", "optim=gd", "optimize.steps=50", "quiet=true")
    helpers = []
    while proc.poll() is None:                           # the helper is a child of the run
        helpers += _children_of(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert helpers, "no helper process was forked"
    for pid in set(helpers):
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    [doc] = [json.loads(p.read_text()) for p in tmp_path.glob("outputs/runs/*/*/result.json")]
    run = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}").get_run(doc["mlflow_run_id"])
    assert run.info.status == "FINISHED" and len(run.data.metrics) >= 3


@pytest.mark.slow
@pytest.mark.parametrize("args", [["optim.lr=-1"], ["optim.lrr=1"], ["--cfg", "job"]])
def test_no_run_and_no_leftover_helper_when_nothing_is_to_be_logged(tmp_path, args):
    proc = _cli(tmp_path, "problem=bowl", "optim=gd", *args)
    helpers = []
    while proc.poll() is None:
        helpers += _children_of(proc.pid)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == (0 if "--cfg" in args else 2), err
    assert "Traceback" not in err and "Process calclab-tracking" not in err
    for pid in set(helpers):
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    db = tmp_path / "outputs" / "mlflow.db"
    if db.exists():
        client = MlflowClient(f"sqlite:///{db}")
        assert all(not client.search_runs([e.experiment_id]) for e in client.search_experiments())


def test_a_run_executed_in_process_logs_in_process(tmp_path, monkeypatch):
    """Only ``python -m runner`` forks the helper (at start-up): a long-lived caller of
    app.execute has MLflow imported after its first run, and a helper per run would import
    it again every time (BENCHMARKS.md, tracking overhead)."""
    from runner import app

    def no_fork(cls, force=False):
        raise AssertionError("forked a tracking helper for an in-process run")

    monkeypatch.setattr(TrackingWorker, "start", classmethod(no_fork))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = compose(["problem=bowl", "optim=gd", "quiet=true", f"tracking.uri={uri}", "tracking.experiment=calclab-test"])
    result = app.execute(cfg, tmp_path / "run")
    assert result.status == "FINISHED"
    run_id = json.loads((tmp_path / "run" / "result.json").read_text())["mlflow_run_id"]
    assert [r.info.run_id for r in _runs(uri)[1]] == [run_id]


def test_a_sweeps_jobs_have_the_helper_record_their_runs_and_fall_back_when_it_is_gone(tmp_path):
    from runner.tracking.worker import log_through

    uri, art, name, cfg, tcfg, artifact = _logging_inputs(tmp_path)
    worker = TrackingWorker.start(force=True)
    worker.start_sweep(StartParent(uri, art, name, "sweep", {"calclab.sweep": "parent"}, {}))
    parent = worker.reply()
    assert parent["log_address"] and len(bytes.fromhex(parent["log_key"])) == 16
    run_ids = [log_through(RunRecord(tcfg, cfg, _result(), [artifact], [f"seed={i}"], 1.0e9, 1.0e9 + 2, parent)) for i in range(3)]
    assert worker.wait_for_runs() == []
    client, runs = _runs(uri)
    kids = {r.info.run_id: r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent["parent_run_id"]}
    assert set(kids) == set(run_ids) and len(set(run_ids)) == 3
    run = kids[run_ids[0]]
    assert run.info.status == "FAILED" and run.data.tags["overrides"] == "seed=0"       # DIVERGED -> FAILED
    assert len(client.get_metric_history(run.info.run_id, "loss")) <= 100
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["config.yaml", "result.json"]
    wrong_key = {**parent, "log_key": "00" * 16}
    assert log_through(RunRecord(tcfg, cfg, _result(), [], [], 1.0, 2.0, wrong_key)) is None       # the job logs itself
    worker.call(FinishParent(parent, {}, {}, {}, []))
    worker.close()
    worker._process.join(10)
    assert log_through(RunRecord(tcfg, cfg, _result(), [], [], 1.0, 2.0, parent)) is None          # helper gone
    # and tracking.log_run then records it in-process, still as a child of the sweep
    run_id = route.log_run(RunRecord(tcfg, cfg, _result(), [artifact], ["seed=9"], 1.0e9, 1.0e9 + 2, parent))
    assert MlflowClient(uri).get_run(run_id).data.tags["mlflow.parentRunId"] == parent["parent_run_id"]


@pytest.fixture
def max_behind_1(monkeypatch):
    from runner.tracking import worker as tracking_worker

    monkeypatch.setattr(tracking_worker, "MAX_BEHIND", 1)


@pytest.fixture
def gate(monkeypatch, tmp_path):
    """Make the helper forked next hold every child run's params, metrics and artifacts until
    the returned file exists (at most 60 s); the fork copies the patched module."""
    gate = tmp_path / "gate"
    real = tracking.fill_run

    def gated(*args, **kw):
        deadline = time.time() + 60
        while not gate.exists() and time.time() < deadline:
            time.sleep(0.01)
        return real(*args, **kw)

    monkeypatch.setattr(tracking, "fill_run", gated)
    return gate


@pytest.fixture
def sweep_helper(tmp_path):
    """A forked helper that made a sweep's parent run: (worker, parent, uri, cfg, tcfg,
    artifact).  Stopped after the test however it ended (pytest would wait for it at exit)."""
    uri, art, name, cfg, tcfg, artifact = _logging_inputs(tmp_path)
    worker = TrackingWorker.start(force=True)
    try:
        worker.start_sweep(StartParent(uri, art, name, "sweep", {"calclab.sweep": "parent"}, {}))
        yield worker, worker.reply(), uri, cfg, tcfg, artifact
    finally:
        worker.close()
        worker._process.join(60)
        if worker._process.is_alive():
            worker._process.kill()


def test_a_sweep_job_waits_for_its_run_to_be_created_not_completed(gate, sweep_helper):
    from runner.tracking.worker import log_through

    worker, parent, uri, cfg, tcfg, artifact = sweep_helper
    run_id = log_through(RunRecord(tcfg, cfg, _result(), [artifact], ["seed=1"], 1.0e9, 1.0e9 + 2, parent))
    client = MlflowClient(uri)
    run = client.get_run(run_id)            # the job has its id while the helper still holds the rest
    assert run.info.status == "RUNNING" and run.data.tags["overrides"] == "seed=1"
    assert run.data.tags["mlflow.parentRunId"] == parent["parent_run_id"] and not run.data.metrics
    gate.touch()
    assert worker.wait_for_runs() == []
    run = client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.params["optim.lr"]          # DIVERGED -> FAILED
    assert len(client.get_metric_history(run_id, "loss")) <= 100
    assert [a.path for a in client.list_artifacts(run_id)] == ["config.yaml", "result.json"]
    worker.call(FinishParent(parent, {}, {}, {}, []))
    worker.close()


def test_a_child_run_that_cannot_be_completed_ends_failed_and_is_reported(tmp_path, sweep_helper):
    from runner.tracking.worker import log_through

    worker, parent, uri, cfg, tcfg, artifact = sweep_helper
    result = _result()
    result.status = "FINISHED"
    run_id = log_through(RunRecord(tcfg, cfg, result, [artifact, tmp_path / "gone.png"], ["seed=2"], 1.0e9, 1.0e9 + 2, parent))
    [line] = worker.wait_for_runs()
    assert line.startswith(f"MLflow run {run_id} (seed=2) ended FAILED: ") and "gone.png" in line
    assert MlflowClient(uri).get_run(run_id).info.status == "FAILED"
    assert worker.wait_for_runs() == []          # each failure is reported once
    worker.close()


def test_the_helper_completes_the_runs_it_was_sent_before_it_exits(gate, sweep_helper):
    from runner.tracking.worker import log_through

    worker, parent, uri, cfg, tcfg, artifact = sweep_helper
    run_ids = [log_through(RunRecord(tcfg, cfg, _result(), [artifact], [f"seed={i}"], 1.0e9, 1.0e9 + 2, parent)) for i in range(2)]
    worker.close()                          # the sweep is gone (Ctrl-C, a crash) before the runs are complete
    gate.touch()
    worker._process.join(60)
    assert worker._process.exitcode == 0
    client = MlflowClient(uri)
    for run_id in run_ids:
        assert client.get_run(run_id).info.status == "FAILED"                 # DIVERGED, as sent: not RUNNING
        assert len(client.get_metric_history(run_id, "loss")) > 0


def test_a_job_waits_once_the_helper_is_max_behind(max_behind_1, gate, sweep_helper):
    import threading

    from runner.tracking.worker import log_through
    worker, parent, uri, cfg, tcfg, artifact = sweep_helper
    first = log_through(RunRecord(tcfg, cfg, _result(), [artifact], ["seed=0"], 1.0e9, 1.0e9 + 2, parent))
    second = []
    job = threading.Thread(target=lambda: second.append(
        log_through(RunRecord(tcfg, cfg, _result(), [artifact], ["seed=1"], 1.0e9, 1.0e9 + 2, parent))))
    job.start()
    job.join(2.0)
    assert job.is_alive() and not second     # held back: one run is already incomplete
    gate.touch()
    job.join(60)
    assert second and second[0] != first
    assert worker.wait_for_runs() == []
    worker.close()
