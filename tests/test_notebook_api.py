"""``import calclab``: runs, sweeps and run collections from Python, as in a notebook."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

import calclab
from conftest import REPO
from runner.errors import ConfigError


def gd_iterates(x0, lr, n):
    """x_{k+1} = x_k - lr (2 x_k - 4): gradient descent on x^2 - 4x + 5, by hand."""
    xs = [x0]
    for _ in range(n):
        xs.append(xs[-1] - lr * (2 * xs[-1] - 4))
    return xs


def test_run_returns_the_result_with_its_trajectory_run_dir_and_mlflow_run(tmp_path, monkeypatch, mlflow_uri):
    monkeypatch.chdir(tmp_path)
    r = calclab.run(["+experiment=seed/gd_quadratic", f"tracking.uri={mlflow_uri}"])
    assert r.status == "FINISHED" and r.task == "optimize"
    np.testing.assert_allclose(r.trajectory["params"][:4, 0], gd_iterates(0.0, 0.1, 3), atol=1e-12)
    assert r.run_dir.parent.parent == tmp_path / "outputs" / "runs"      # as the command line
    assert json.loads((r.run_dir / "result.json").read_text())["mlflow_run_id"] == r.run_id is not None
    assert r.config["optim"]["lr"] == 0.1
    assert "0.976" in repr(r)                     # the report, with the first iterations
    page = r._repr_html_()
    assert page.count('src="data:image/png;base64,') == len(r.plot_files()) >= 1


def test_bad_input_raises_one_line_before_any_work(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"^optim\.lr: must be > 0"):
        calclab.run("optim.lr=-1 tracking=none")
    with pytest.raises(ConfigError, match=r"^optim\.lrr: unknown key"):
        calclab.run("optim.lrr=1 tracking=none")
    assert not (tmp_path / "outputs" / "runs").exists()


def test_runs_are_found_by_config_values_and_loaded_into_pandas(tmp_path, monkeypatch, mlflow_uri):
    monkeypatch.chdir(tmp_path)
    seed = 48_213   # a value no other test's run has, so the shared store's other runs drop out
    made = {lr: calclab.run(f"problem=quadratic_x2 optim=gd optim.lr={lr} optimize.steps=5 optimize.grad_tol=0 "
                            f"seed={seed} tracking.uri={mlflow_uri}") for lr in (0.1, 0.2)}
    found = calclab.runs(tracking_uri=mlflow_uri, experiment="calclab-optimize", seed=seed)
    assert sorted(r.info.run_id for r in found) == sorted(m.run_id for m in made.values())
    only = found.filter(optim__lr=0.2)
    assert [r.info.run_id for r in only] == [made[0.2].run_id]
    assert len(found.filter({"optim.lr": {0.1, 0.2}})) == 2
    frame = found.to_frame(config=["optim.lr"]).set_index("optim.lr")
    for lr, r in made.items():   # x^2 from x0 under GD: x_k = (1 - 2 lr)^k x0, so f = x_5^2
        x5 = (1 - 2 * lr) ** 5 * r.final["x0"][0]
        assert frame.loc[lr, "loss"] == pytest.approx(x5 ** 2, rel=1e-12)
        assert frame.loc[lr, "status"] == "FINISHED"
    steps = found.trajectories()
    assert len(steps) == 12 and set(steps.run_id) == {m.run_id for m in made.values()}
    np.testing.assert_allclose(found.filter(optim__lr=0.1).trajectory(0)["loss"], made[0.1].trajectory["loss"])


@pytest.mark.slow
def test_sweep_returns_one_row_per_job(tmp_path, monkeypatch, mlflow_uri):
    monkeypatch.chdir(tmp_path)
    jobs = calclab.sweep(["optim=gd,adam", "optimize.steps=20", f"tracking.uri={mlflow_uri}"])
    assert list(jobs["optim"]) == ["gd", "adam"] and set(jobs["status"]) == {"FINISHED"}
    assert "optimize.steps" not in jobs.columns        # given to every job: not a column
    for _, job in jobs.iterrows():
        doc = json.loads((tmp_path / job["run_dir"] / "result.json").read_text())
        assert job["loss"] == doc["final"]["loss"] and job["run_id"] == doc["mlflow_run_id"]
    with pytest.raises(ConfigError, match="optim/adamm"):
        calclab.sweep("optim=gd,adamm tracking=none")


@pytest.mark.slow
def test_the_readme_python_example_runs(tmp_path):
    (block,) = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(), flags=re.S)
    proc = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "FINISHED [0.    0.4   0.72  0.976]" in proc.stdout
