"""The optimize task through the runner: bad input stops before work with one line, a diverging
run says so and keeps its trajectory, and MLflow holds everything a run produced.  The
subprocess tests (marked slow) run the README's commands for real."""
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from runner import app
from runner.errors import ConfigError
from tests.conftest import REPO, compose, run_cli


# ---- bad input, in process (fast) ---------------------------------------------------------

@pytest.mark.parametrize("overrides,key,message", [
    (["+optim.lrr=1"], "optim.lrr", "unknown key for optim 'gd'; allowed: name, lr, clip_norm"),
    (["optim.lr=-1"], "optim.lr", "must be > 0"),
    (["optim.lr=0"], "optim.lr", "must be > 0"),
    (["optim=adam", "optim.betas=[0.9,1.5]"], "optim.betas", ""),
    (["optimize.steps=0"], "optimize.steps", "must be >= 1"),
    (["optimize.steps=200000000"], "optimize.steps", "must be <= 1e+08"),
    (["+optimize.stepz=3"], "optimize.stepz", "unknown key"),
    (["optim.lr=abc"], "optim.lr", "could not be converted to Float"),
    (["optimize.steps=1.5"], "optimize.steps", ""),
    (["seed=-1"], "seed", "non-negative integer"),
    (["problem.x0=[1,2,3]"], "problem.x0", "expected 1 values (x), got 3"),
    (["problem=expr", "problem.f=x**2 + y", "problem.x0=[1]"], "problem.x0", "expected 2 values (x, y), got 1"),
    (["problem=expr", "problem.f=\"__import__('os').system('x')\""], "problem.f", "refused"),
    (["problem=bowl", "optimize.batch_size=4"], "optimize.batch_size", "no data rows"),
])
def test_bad_config_is_one_error_naming_the_key_before_any_work(tmp_path, overrides, key, message):
    cfg = compose(overrides + ["tracking=none", "quiet=true"])
    with pytest.raises(ConfigError) as e:
        app.execute(cfg, tmp_path / "run")
    assert e.value.key == key and message in e.value.problem
    assert "\n" not in str(e.value)
    assert not (tmp_path / "run" / "result.json").exists()


def test_a_diverging_run_says_so_and_keeps_its_trajectory(run_app, mlflow_uri):
    result, doc, run_dir = run_app("problem=quadratic", "optim.lr=1.5", "optimize.steps=1000")
    assert result.status == doc["status"] == "DIVERGED"
    assert "diverged at step" in doc["message"] and "lower optim.lr" in doc["message"]
    steps = doc["steps"]
    assert 0 < steps < 1000
    traj = np.load(run_dir / "trajectory.npz")
    assert traj["loss"].size == steps + 1
    # x - 2 is multiplied by (1 - 2 lr) = -2 every step: the recorded path is that recurrence
    np.testing.assert_allclose(traj["params"][:10, 0] - 2, -2 * (-2.0) ** np.arange(10))
    client = MlflowClient(mlflow_uri)
    run = client.get_run(doc["mlflow_run_id"])
    assert run.info.status == "FAILED" and run.data.tags["calclab.status"] == "DIVERGED"
    # its charts stop before the blow-up (the loss grows 4x a step up to ~1e300 here), and say where
    history = client.get_metric_history(run.info.run_id, "loss")
    f0 = float(traj["loss"][0])
    assert max(abs(m.value - f0) for m in history) <= 100 * max(1.0, abs(f0))
    shown = int(run.data.tags["calclab.curve_shown_to_step"])
    assert max(m.step for m in history) == shown and 0 < shown < steps
    assert abs(traj["loss"][shown + 1] - f0) > 100 * max(1.0, abs(f0))       # the next row is the blow-up
    assert run.data.tags["calclab.diverged_at_step"] == str(steps)


def test_mlflow_holds_params_every_metric_step_artifacts_and_status(run_app, mlflow_uri):
    result, doc, run_dir = run_app("problem=rosenbrock", "optim=adam", "optim.lr=0.01",
                                   "optimize.steps=300", "optimize.grad_tol=0")
    client = MlflowClient(mlflow_uri)
    run = client.get_run(doc["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert client.get_experiment(run.info.experiment_id).name == "calclab-optimize"
    p = run.data.params
    assert p["optim.name"] == "adam" and p["optim.lr"] == "0.01" and p["problem.name"] == "rosenbrock"
    assert p["optimize.steps"] == "300" and p["seed"] == "0"
    t = run.data.tags
    assert t["task"] == "optimize" and t["problem"] == "rosenbrock" and t["optimizer"] == "adam"
    assert "numba_compile_s" in t and "numba" in t.get("versions", "") + json.dumps(t)
    traj = np.load(run_dir / "trajectory.npz")
    for name in ("loss", "grad_norm", "lr", "param.x", "param.y"):
        hist = sorted(client.get_metric_history(run.info.run_id, name), key=lambda m: m.step)
        last = 300 if name != "lr" else 299     # lr is the rate of each step taken: none after the last
        assert [m.step for m in hist] == list(range(last + 1)), name
    loss = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "loss"), key=lambda m: m.step)]
    np.testing.assert_allclose(loss, traj["loss"], rtol=1e-15)
    files = {f.path for f in client.list_artifacts(run.info.run_id)}
    assert {"trajectory.npz", "config.yaml", "plots"} <= files
    plots = {f.path for f in client.list_artifacts(run.info.run_id, "plots")}
    assert {"plots/loss.png", "plots/contour.png"} <= plots
    from runner.tracking.store import load_trajectory

    back = load_trajectory(run.info.run_id, mlflow_uri)
    np.testing.assert_array_equal(back["params"], traj["params"])


def test_long_runs_are_downsampled_in_mlflow_but_whole_in_the_artifact(run_app, mlflow_uri):
    result, doc, run_dir = run_app("problem=rosenbrock", "optim=gd", "optim.lr=0.001",
                                   "optimize.steps=20000", "optimize.grad_tol=0")
    client = MlflowClient(mlflow_uri)
    hist = client.get_metric_history(doc["mlflow_run_id"], "loss")
    steps = sorted(m.step for m in hist)
    assert len(steps) <= 1000 and steps[0] == 0 and steps[-1] == 20000
    assert np.load(run_dir / "trajectory.npz")["loss"].size == 20001


# ---- the real command line (slow) -------------------------------------------------------

@pytest.mark.slow
def test_readme_command_fits_the_tutorials_line_and_logs_to_the_default_store(tmp_path):
    out = run_cli(["problem=linreg", "optim=adam"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    [result_json] = list((tmp_path / "outputs" / "runs").glob("*/*/result.json"))
    doc = json.loads(result_json.read_text())
    assert doc["status"] == "FINISHED" and doc["problem"] == "linreg" and doc["optimizer"] == "adam"
    assert doc["final"]["params"] == pytest.approx([2.0, 1.0], abs=1e-4)
    store = tmp_path / "outputs" / "mlflow.db"
    run = MlflowClient(f"sqlite:///{store}").get_run(doc["mlflow_run_id"])
    assert run.info.status == "FINISHED"
    assert run.info.artifact_uri.startswith(str((tmp_path / "outputs" / "mlartifacts").as_uri())) or \
        str(tmp_path / "outputs" / "mlartifacts") in run.info.artifact_uri


@pytest.mark.slow
@pytest.mark.parametrize("args,start", [
    (["optim.lrr=1"], "calclab: error: optim.lrr: unknown key"),
    (["optim=adamm"], "calclab: error: In 'task/optimize': Could not find 'optim/adamm'; Available options in 'optim': adabelief"),
    (["optim.lr=-1"], "calclab: error: optim.lr: must be > 0"),
    (["-m", "--cfg", "job"], "calclab: error: Only one of --run, --multirun, --cfg"),   # Hydra's own check
    (["-m", "hydra.sweeper.check=some", "optim.lr=0.1,0.2"], "calclab: error: Error in call to target "
     "'hydra_plugins.calclab_sweeper.basic_sweeper.CalclabBasicSweeper'"),
    (["problem=expr", "problem.f=\"__import__('os').system('x')\"", "problem.x0=[0]"], "calclab: error: problem.f: refused"),
])
def test_bad_input_on_the_command_line_is_one_line_exit_2_and_no_mlflow_run(tmp_path, args, start):
    out = run_cli(args, cwd=tmp_path)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), out.stderr
    assert "Traceback" not in out.stdout + out.stderr
    store = tmp_path / "outputs" / "mlflow.db"
    if store.exists():
        assert MlflowClient(f"sqlite:///{store}").search_runs(["0"]) == []
        for exp in MlflowClient(f"sqlite:///{store}").search_experiments():
            assert MlflowClient(f"sqlite:///{store}").search_runs([exp.experiment_id]) == []


@pytest.mark.slow
def test_diverged_exit_code_and_help_and_cfg(tmp_path):
    out = run_cli(["optim.lr=1.5", "tracking=none"], cwd=tmp_path)
    assert out.returncode == 3 and "DIVERGED" in out.stderr
    help_text = run_cli(["--help"], cwd=tmp_path).stdout
    for group in ("problem:", "optim:", "schedule:", "tracking:", "experiment/seed:", "task:"):
        assert group in help_text
    assert "rosenbrock" in help_text and "adam" in help_text
    cfg = run_cli(["problem=rosenbrock", "optim=adam", "--cfg", "job"], cwd=tmp_path)
    assert "name: rosenbrock" in cfg.stdout and "betas:" in cfg.stdout


@pytest.mark.slow
def test_console_script_and_wheel_ship_the_config_tree(tmp_path):
    exe = shutil.which("calclab")
    if exe is not None:   # installed (pip install -e .): same CLI as python -m runner
        out = subprocess.run([exe, "--cfg", "job"], capture_output=True, text=True, cwd=tmp_path)
        assert out.returncode == 0 and "task: optimize" in out.stdout
    wheel_dir = tmp_path / "wheel"
    # build isolation: pip fetches the build backend pyproject.toml asks for, as `pip install .` does
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheel_dir), str(REPO)],
                           capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    [wheel] = list(wheel_dir.glob("calclab-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for f in Path(REPO, "conf").rglob("*.yaml"):
        assert f.relative_to(REPO).as_posix() in names
    assert "runner/__main__.py" in names and "kernels/descent.py" in names


@pytest.mark.slow
@pytest.mark.parametrize("sig, code, words", [("SIGINT", 130, "interrupted by the user"),
                                              ("SIGTERM", 143, "terminated by SIGTERM")])
def test_ctrl_c_or_sigterm_ends_the_run_killed_and_keeps_what_it_computed(tmp_path, sig, code, words):
    """SIGTERM (what schedulers and docker stop send) is a stop like Ctrl-C, not a crash: KILLED,
    the partial trajectory and the MLflow run kept; exit 128 + the signal."""
    import os
    import signal
    import time

    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen([sys.executable, "-m", "runner", "problem=rosenbrock", "problem.dim=1000",
                             "optim.lr=1e-5", "optimize.steps=10000000", "optimize.grad_tol=0"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not list(tmp_path.glob("outputs/runs/*/*/")) and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(4.0)                       # well into the descent
    proc.send_signal(getattr(signal, sig))
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    [result_json] = list(tmp_path.glob("outputs/runs/*/*/result.json"))
    doc = json.loads(result_json.read_text())
    assert doc["status"] == "KILLED" and words in doc["message"]
    steps = doc["steps"]
    assert 0 < steps < 10_000_000
    traj = np.load(result_json.parent / "trajectory.npz")
    assert traj["loss"].size == steps + 1 and np.isfinite(traj["loss"]).all()
    run = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}").get_run(doc["mlflow_run_id"])
    assert run.info.status == "KILLED"


# ---- mini-batches and reproducibility ------------------------------------------------------

def _sgd(tmp_path, seed, *extra):
    cfg = compose(["problem=logreg", "optim=sgd", "optim.lr=0.1", "optimize.steps=300", "optimize.grad_tol=0",
                   "tracking=none", "quiet=true", f"seed={seed}", *extra])
    return app.execute(cfg, tmp_path / f"sgd{seed}-{len(list(tmp_path.iterdir()))}")


def test_sgd_minibatches_are_reproducible_by_seed_and_follow_the_chunking(tmp_path):
    a, b, c = _sgd(tmp_path, 3), _sgd(tmp_path, 3), _sgd(tmp_path, 4)
    assert a.info["batch_size"] == 32                       # sgd's default batch
    np.testing.assert_array_equal(a.trajectory["params"], b.trajectory["params"])
    assert not np.array_equal(a.trajectory["params"], c.trajectory["params"])
    full = _sgd(tmp_path, 3, "optimize.batch_size=1000")    # >= n rows: full batch
    assert full.info["batch_size"] == 0
    # the mini-batch losses are noisy, the full-batch ones decrease monotonically at this lr
    assert np.all(np.diff(full.trajectory["loss"]) <= 1e-15)
    assert np.any(np.diff(a.trajectory["loss"][:-1]) > 0)


@pytest.mark.slow
def test_same_seed_same_numbers_whatever_the_thread_count(tmp_path):
    docs = []
    for threads in ("1", "2"):
        out = run_cli(["problem=logreg", "optim=sgd", "optimize.steps=500", "seed=11", "tracking=none",
                       f"hydra.run.dir=run{threads}"], cwd=tmp_path, env_extra={"NUMBA_NUM_THREADS": threads})
        assert out.returncode == 0, out.stderr
        docs.append(np.load(tmp_path / f"run{threads}" / "trajectory.npz"))
    np.testing.assert_array_equal(docs[0]["params"], docs[1]["params"])
    np.testing.assert_array_equal(docs[0]["loss"], docs[1]["loss"])
