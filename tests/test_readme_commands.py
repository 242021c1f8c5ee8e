"""Every command of the README, run as typed.

The README's code blocks are parsed (indented and fenced blocks alike); each `python -m runner`
command runs through bash exactly as written (so quoting is the shell's, as for a reader), in
a fresh temporary directory, with `python` meaning this interpreter.  Where a command leaves a
size open, TINY appends overrides that make it quick (listed below, per command); every
command also gets `tracking.uri=` a test store unless it names one.  Commands that cannot run
here are listed in SKIPPED with the reason.  A README command that is neither run nor skipped
fails the collection test, so the README cannot drift from what works.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

BLOCK_LINE = re.compile(r"^(?: {4,}|\t)(\S.*)$")
SHELL_COMMAND = re.compile(r"(python3?|pip|mlflow|git|pytest|calclab|\.|cd) ")

# command (comment removed) -> why it is not run here
SKIPPED = {
    "mlflow server --host 127.0.0.1 --port 5000 --workers 2 \\":
        "starts the PostgreSQL-backed tracking server of 'Beyond one machine' (tests/test_server.py runs "
        "that set-up on a free port)",
    "python -m runner -m problem=bowl optim=gd,adam optim.lr=0.05,0.1 tracking.uri=http://127.0.0.1:5000":
        "needs that server on port 5000 (tests/test_server.py runs a sweep against its own)",
    "git clone <repository URL> calclab": "a placeholder URL and the network",
    "cd calclab": "part of the clone step",
    "python3 -m venv .venv": "makes a virtual environment; the tests already run in an installed one",
    ". .venv/bin/activate": "part of the virtual-environment step",
    'pip install -e ".[test]"': "installs into the environment; the tests run in an installed one",
    "pytest": "the test suite itself",
    "mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db": "a server that runs until stopped",
    "python -m runner -m hydra/launcher=ray_cluster hydra.launcher.ray.init.address=HOST:6379 ...":
        "needs an existing Ray cluster (HOST is a placeholder)",
}

# command -> overrides appended to make it quick; only keys the command leaves open
TINY = {
    "python -m runner problem=linreg optim=adam": "optimize.steps=200",
    "python -m runner problem=rosenbrock optim=adam optim.lr=0.01 optimize.steps=5000": "",
    "python -m runner -m optim=gd,momentum,adam optim.lr=1e-3,1e-2": "optimize.steps=50",
    "python -m runner task=integrate integrand=x_squared integrator=mc integrator.n=100000000": "",
    "python -m runner task=train model=mlp data=moons optim=adam": "train.steps=20",
    "python -m runner task=train data=digits model.hidden=[32] model.output=softmax model.loss=cce optim.lr=0.005":
        "train.steps=20",
    "python -m runner task=train model=rnn data=sequence data.T=20": "train.steps=20",
    "python -m runner -m +experiment=rnn_vanishing": "train.steps=20",
    "python -m runner -m problem=rosenbrock optim=gd,momentum,adam optim.lr=1e-4,1e-3,1e-2": "optimize.steps=50",
    "python -m runner -m hydra/launcher=batched problem=rosenbrock optim=adam optim.lr=1e-4,1e-3,1e-2,1e-1 "
    "'optim.betas=[0.0,0.999],[0.9,0.999],[0.99,0.999]'": "optimize.steps=50",
    "python -m runner -m hydra/launcher=joblib hydra.launcher.n_jobs=2 +experiment=optimizer_shootout":
        "optimize.steps=50",
    "python -m runner -m hydra/launcher=ray optim.lr=1e-3,1e-2": "optimize.steps=50",
    "python -m runner -m +search=adam_lr": "hydra.sweeper.n_trials=3 optimize.steps=50",
    "python -m runner -m +search=shootout":
        "hydra.sweeper.n_trials=2 hydra.sweeper.n_jobs=2 hydra.sweeper.grid.problem=beale optimize.steps=50",
    "python -m runner -m hydra/sweeper=optuna optim=adam 'optim.lr=tag(log, interval(1e-4, 1e-1))' "
    "hydra.sweeper.n_trials=30": "optimize.steps=20",
}
NO_RESULT = ("--help", "--cfg")   # print and exit: no run directory
LOAD_TRAJECTORY = "python -c \"from runner.tracking import load_trajectory as L; t = L('RUN_ID'); print(t['loss'])\""


def readme_commands(text: str) -> list:
    """The shell commands of the README's code blocks, comments removed, split at `&&`."""
    commands, fenced, previous_blank = [], False, True
    in_block = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            fenced = not fenced
            continue
        match = BLOCK_LINE.match(line)
        in_block = (fenced or (match is not None and (previous_blank or in_block))) and bool(line.strip())
        previous_blank = not line.strip()
        if not in_block or (fenced and not line.strip()):
            continue
        command = re.split(r"\s{2,}#|\s#\s", (match.group(1) if match else line.strip()))[0].strip()
        if not SHELL_COMMAND.match(command):
            continue   # a block of Python code or of a directory layout, not a shell command
        for part in command.split(" && "):
            if part.strip() and part.strip() not in commands:
                commands.append(part.strip())
    return commands


COMMANDS = readme_commands((REPO / "README.md").read_text())


def test_every_readme_command_is_run_or_skipped_with_a_reason():
    unknown = [c for c in COMMANDS if c not in SKIPPED and not c.startswith("python -m runner")
               and c != LOAD_TRAJECTORY]
    assert not unknown, f"README commands this test does not know how to run: {unknown}"
    assert all(key in COMMANDS for key in SKIPPED), "a skipped command is no longer in the README"
    assert all(key in COMMANDS for key in TINY), "a TINY entry names a command no longer in the README"
    assert "python -m runner +experiment=seed/gd_quadratic" in COMMANDS   # the parser found the blocks


def _bash(command: str, cwd: Path, env_extra=None, timeout=1800):
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(env_extra or {})
    script = f'python() {{ "{sys.executable}" "$@"; }}\n{command}'
    return subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _statuses(cwd: Path) -> dict:
    return {str(p.relative_to(cwd)): json.loads(p.read_text())["status"]
            for p in (cwd / "outputs").rglob("result.json")}


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("python -m runner") and c not in SKIPPED])
def test_readme_command_runs_as_typed(command, tmp_path, mlflow_uri):
    extra = TINY.get(command, "")
    prints_only = any(flag in command.split() for flag in NO_RESULT)
    if "tracking.uri" not in command and not prints_only:
        extra = f"{extra} tracking.uri={mlflow_uri}".strip()
    proc = _bash(f"{command} {extra}".strip(), tmp_path)
    assert proc.returncode == 0, f"{command}\nexit {proc.returncode}\n{proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    sweep = command.split()[3:4] == ["-m"]      # python -m runner -m ...
    # a sweep's diverged job says so in one line; anything else is an error
    errors = [e for e in proc.stderr.splitlines() if e.startswith("calclab: error")
              and not (sweep and "run ended with status DIVERGED" in e)]
    assert not errors, proc.stderr[-3000:]
    if prints_only:
        assert proc.stdout.strip()
        return
    statuses = _statuses(tmp_path)
    if sweep:
        # a sweep explores: a job may diverge (its lr too large) and the sweep goes on, but
        # none may fail, and some job must finish
        assert "FINISHED" in statuses.values() and "FAILED" not in statuses.values(), statuses
    else:
        assert statuses and set(statuses.values()) == {"FINISHED"}, statuses


@pytest.mark.slow
def test_readme_load_trajectory_reads_a_runs_trajectory(tmp_path, mlflow_uri):
    """The README's one-liner, with RUN_ID replaced by the id of a run made first."""
    assert LOAD_TRAJECTORY in COMMANDS
    run = _bash(f"python -m runner +experiment=seed/gd_quadratic tracking.uri={mlflow_uri}", tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    (doc,) = [json.loads(p.read_text()) for p in (tmp_path / "outputs").rglob("result.json")]
    proc = _bash(LOAD_TRAJECTORY.replace("RUN_ID", doc["mlflow_run_id"]), tmp_path,
                 env_extra={"MLFLOW_TRACKING_URI": mlflow_uri})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("[5. ")     # f(0) = 5 for x^2 - 4x + 5
