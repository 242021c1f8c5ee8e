"""A tracking server as a lab runs it: ``mlflow server`` on a PostgreSQL database with a
served artifact root (tests/servers.py starts both and stops them).  A sweep and 8 runs
started at once all arrive, every metric point that the downsampling rule keeps included."""
import json
import subprocess
import sys

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from runner.tracking.store import downsample
from tests.conftest import run_cli
from tests.test_sweep import children, sweep_dir_of

pytestmark = pytest.mark.slow


def test_a_sweep_reaches_the_postgresql_backed_server(tmp_path, postgres_server):
    server, _ = postgres_server
    out = run_cli(["-m", "problem=bowl", "optim=gd,adam", "optim.lr=0.05,0.1", "optimize.steps=100",
                   "optimize.grad_tol=0", f"tracking.uri={server.url}", "quiet=true"], cwd=tmp_path, timeout=1800)
    assert out.returncode == 0, out.stderr[-3000:]
    parent = json.loads((sweep_dir_of(tmp_path) / "sweep.json").read_text())
    client = MlflowClient(server.url)
    prun = client.get_run(parent["parent_run_id"])
    assert prun.info.status == "FINISHED" and prun.data.tags["jobs"] == "4"
    kids = children(client, parent["parent_run_id"])
    assert len(kids) == 4 and {k.info.status for k in kids} == {"FINISHED"}
    assert {len(client.get_metric_history(k.info.run_id, "loss")) for k in kids} == {101}
    assert "summary/summary.csv" in {a.path for a in client.list_artifacts(prun.info.run_id, "summary")}


def test_8_runs_at_once_lose_no_run_and_no_point(tmp_path, postgres_server):
    """1201 loss points each, max_points=100: the store holds exactly downsample()'s points
    of the full series kept in trajectory.npz (its first and last step included)."""
    server, _ = postgres_server
    env_cmd = [sys.executable, "-m", "runner", "problem=rosenbrock", "optim=adam", "optimize.steps=1200",
               "optimize.grad_tol=0", "tracking.max_points=100", f"tracking.uri={server.url}", "quiet=true"]
    dirs, procs = [], []
    try:
        for i in range(8):
            d = tmp_path / f"run{i}"
            d.mkdir()
            dirs.append(d)
            procs.append(subprocess.Popen(env_cmd + [f"seed={i}", f"optim.lr={0.001 * (i + 1)}",
                                                     f"hydra.run.dir={d / 'out'}"],
                                          cwd=d, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        outs = [p.communicate(timeout=1800) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert [p.returncode for p in procs] == [0] * 8, [o[1][-2000:] for o in outs]
    client = MlflowClient(server.url)
    ids = set()
    for d in dirs:
        doc = json.loads((d / "out" / "result.json").read_text())
        run = client.get_run(doc["mlflow_run_id"])
        assert run.info.status == "FINISHED"
        with np.load(d / "out" / "trajectory.npz") as traj:
            loss = traj["loss"]
        assert len(loss) == 1201
        steps, values = downsample(np.arange(len(loss)), loss, 100)
        history = sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)
        assert [m.step for m in history] == [int(s) for s in steps]
        np.testing.assert_allclose([m.value for m in history], values, rtol=1e-12)
        ids.add(run.info.run_id)
    assert len(ids) == 8

