"""No path leaves a sweep's MLflow parent run RUNNING: a sweep override naming a missing
option, jobs that fail, a launcher that refuses its settings, Ctrl-C, SIGTERM and even SIGKILL
of the sweeping process (its tracking helper ends the parent run KILLED then)."""
import os
import signal
import subprocess
import sys
import time

import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

SHORT = ["problem=bowl", "optim=gd", "optimize.steps=30", "quiet=true"]
LONG = ["problem=rosenbrock", "problem.dim=1000", "optimize.steps=10000000", "optimize.grad_tol=0",
        "optimize.record_params=0", "quiet=true", "optim.lr=1e-5,2e-5"]
CASES = {   # name: (arguments, signal sent once a job computes, exit code)
    "missing option": (["optim=adamm,adam", *SHORT[:1], *SHORT[2:]], None, 2),
    "jobs fail": (SHORT + ["optim.lr=-1,0.01"], None, 0),     # one job fails (a sweep all of whose jobs fail stops before them)
    "launcher refuses": (SHORT + ["seed=0,1", "hydra/launcher=joblib", "hydra.launcher.n_jobs=0"], None, 2),
    "ctrl-c": (LONG, signal.SIGINT, 130),
    "sigterm": (LONG, signal.SIGTERM, 143),
    "sigkill": (LONG, signal.SIGKILL, -signal.SIGKILL),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_no_sweep_path_leaves_a_run_running(tmp_path, case):
    args, sig, code = CASES[case]
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    db = tmp_path / "mlflow.db"
    proc = subprocess.Popen([sys.executable, "-m", "runner", "-m", *args, f"tracking.uri=sqlite:///{db}",
                             f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if sig is not None:
        deadline = time.time() + 180
        while not list(tmp_path.glob("sweep/0/.hydra")) and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(3.0)                                  # the first job is computing
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    if sig is None:
        assert err.strip() == "" or all(line.startswith("calclab: ") for line in err.strip().splitlines()), err
    time.sleep(1.0 if sig == signal.SIGKILL else 0)      # the helper ends the parent after its parent died
    for _ in range(50):
        runs = MlflowClient(f"sqlite:///{db}").search_runs(
            [e.experiment_id for e in MlflowClient(f"sqlite:///{db}").search_experiments(view_type=ViewType.ALL)],
            run_view_type=ViewType.ALL)
        if all(r.info.status != "RUNNING" for r in runs):
            break
        time.sleep(0.2)
    assert runs and [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []
