"""A run left RUNNING by a process that is gone (SIGKILL cannot be caught) is ended KILLED,
with the reason, by the next run in that store; a run whose process is alive is left alone."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.tracking import MlflowClient

from runner.tracking import orphans, store


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_owner_tags_name_this_process():
    tags = orphans.owner_tags()
    assert tags[orphans.PID] == str(os.getpid())
    assert not orphans.is_gone(tags)
    assert orphans.is_gone({**tags, orphans.PID: str(_dead_pid())})
    assert orphans.is_gone({**tags, orphans.PID_START: "1"})          # a recycled pid: another process
    assert not orphans.is_gone({**tags, orphans.HOST: "another-host", orphans.PID: str(_dead_pid())})
    assert not orphans.is_gone({})                                    # not a calclab run


def test_the_next_run_ends_orphans_once(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client, exp_id, _ = store.open_store(uri, str(tmp_path / "art"), "orphans")
    gone = {**orphans.owner_tags(), orphans.PID: str(_dead_pid())}
    orphan = client.create_run(exp_id, tags=gone).info.run_id
    alive = client.create_run(exp_id, tags=orphans.owner_tags()).info.run_id
    foreign = client.create_run(exp_id, tags={"mlflow.source.name": "someone else"}).info.run_id
    store.open_store(uri, str(tmp_path / "art"), "orphans")            # what every run does first
    run = client.get_run(orphan)
    assert run.info.status == "KILLED" and "orphaned" in run.data.tags[orphans.REASON]
    assert client.get_run(alive).info.status == "RUNNING"
    assert client.get_run(foreign).info.status == "RUNNING"
    assert orphans.end_orphans(client, exp_id) == []                  # once


@pytest.mark.slow
def test_a_sigkilled_sweep_leaves_its_parent_running_until_the_next_run(tmp_path):
    """SIGKILL to a sweep's whole process group: its parent run stays RUNNING (nothing can end
    it then); the next run in the same store ends it KILLED with the reason."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    proc = subprocess.Popen([sys.executable, "-m", "runner", "-m", "problem=rosenbrock", "problem.dim=1000",
                             "optim.lr=1e-5,2e-5", "optimize.steps=50000000", "optimize.grad_tol=0",
                             "optimize.record_params=0", "quiet=true"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.time() + 180
    while not list(tmp_path.glob("outputs/multirun/*/*/sweep.json")) and time.time() < deadline:
        time.sleep(0.2)
    [sweep_json] = list(tmp_path.glob("outputs/multirun/*/*/sweep.json"))
    time.sleep(2.0)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    time.sleep(1.0)
    parent_id = json.loads(sweep_json.read_text())["parent_run_id"]
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    assert client.get_run(parent_id).info.status == "RUNNING"
    done = subprocess.run([sys.executable, "-m", "runner", "problem=bowl", "optimize.steps=10", "quiet=true"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    run = client.get_run(parent_id)
    assert run.info.status == "KILLED" and "orphaned" in run.data.tags[orphans.REASON]
    assert "orphaned MLflow run" in done.stderr
