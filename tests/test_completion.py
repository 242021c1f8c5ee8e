"""Shell completion for ``python -m runner`` as for ``calclab``."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, run_cli
from runner.completion import PROGRAM, nested_options


def test_presets_in_subfolders_complete():
    options = nested_options("+experiment=seed/gd_")
    assert options == ["+experiment=seed/gd_quadratic", "+experiment=seed/gd_x2"]
    assert "+experiment=optimizer_shootout" in nested_options("+experiment=")
    assert nested_options("optim=ad") is None       # a flat group: Hydra's own completion


def test_python_dash_m_runner_is_the_program():
    assert PROGRAM.sub("calclab", "python -m runner optim=ad") == "calclab optim=ad"
    assert PROGRAM.sub("calclab", "/usr/bin/python3.11 -m runner +experiment=") == "calclab +experiment="
    assert PROGRAM.sub("calclab", "python -m runnerx a=1") == "python -m runnerx a=1"


@pytest.mark.slow
@pytest.mark.parametrize("line, expected", [
    ("python -m runner +experiment=seed/gd_q", "+experiment=seed/gd_quadratic"),
    ("python -m runner optim=ada", "optim=adam"),
    ("calclab optim=ada", "optim=adam"),
])
def test_a_query_completes_like_calclabs(line, expected, tmp_path):
    proc = run_cli(["-sc", "query=bash"], tmp_path, env_extra={"COMP_LINE": line, "COMP_POINT": str(len(line))})
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout.split()


@pytest.mark.slow
def test_the_installed_bash_function_completes_python_dash_m_runner(tmp_path):
    script = (f'python() {{ "{sys.executable}" "$@"; }}\n'
              'eval "$(python -m runner -sc install=bash)"\n'
              'COMP_LINE="python -m runner +experiment=seed/bce"; COMP_POINT=${#COMP_LINE}; COMP_CWORD=3\n'
              '_calclab_completion; printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.stdout.split() == ["+experiment=seed/bce_gradient"], proc.stderr
