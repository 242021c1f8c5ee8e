"""One run or one sweep from Python, with what a notebook shows of them."""
from __future__ import annotations

import base64
import datetime
import html
import io
import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Iterable, List, Optional, Union

from runner.errors import ConfigError
from runner.result import Result

Overrides = Union[str, Iterable[str]]


def _arguments(overrides: Overrides) -> List[str]:
    """Overrides as the shell would split them (a string) or as given (a list)."""
    return shlex.split(overrides) if isinstance(overrides, str) else [str(o) for o in overrides]


def _stamp(fmt: str) -> str:
    return datetime.datetime.now().strftime(fmt)


@dataclass(repr=False)
class RunResult(Result):
    """A task's :class:`~runner.result.Result` with where it went: the run directory, the
    MLflow run id (None with ``tracking=none``) and the composed config."""

    run_dir: Optional[Path] = None
    run_id: Optional[str] = None
    config: dict = field(default_factory=dict)

    def report_text(self) -> str:
        from runner.outputs.report import print_summary

        out = io.StringIO()
        print_summary(self, self.run_dir, self.run_id, stream=out)
        return out.getvalue().rstrip()

    def plot_files(self) -> List[Path]:
        return sorted((Path(self.run_dir) / "plots").glob("*.png")) if self.run_dir else []

    def __repr__(self) -> str:
        return self.report_text()

    def _repr_html_(self) -> str:
        images = "".join(
            f'<img alt="{html.escape(p.stem)}" style="max-width:48%;margin:2px" '
            f'src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}"/>'
            for p in self.plot_files())
        return f"<pre>{html.escape(self.report_text())}</pre>{images}"


def _compose(arguments: List[str]):
    """The composed config, with Hydra's errors as the command line's one line."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    from runner.cli import _register_plugins, one_line

    _register_plugins()
    try:
        with initialize_config_module(config_module="conf", version_base="1.3"):
            return compose(config_name="config", overrides=arguments)
    except HydraException as ex:
        raise ConfigError("", one_line(ex)) from None


def run(overrides: Overrides = (), run_dir: Optional[Union[str, Path]] = None) -> RunResult:
    """Run one job as ``python -m runner OVERRIDES`` does (same validation, run directory,
    MLflow run); returns its result whatever its status.  Bad input raises ConfigError
    (one line naming the key) before any work.  ``quiet=true`` unless the overrides say
    otherwise: the report is the result's repr (``quiet=false`` also prints it and shows
    progress bars)."""
    from runner import app

    arguments = _arguments(overrides)
    if not any(a.lstrip("+~").split("=")[0] == "quiet" for a in arguments):
        arguments.append("quiet=true")
    cfg = _compose(arguments)
    where = Path(run_dir) if run_dir else Path.cwd() / "outputs" / "runs" / _stamp("%Y-%m-%d/%H-%M-%S-%f")
    result = app.execute(cfg, where, arguments)
    doc = json.loads((where / "result.json").read_text())
    from omegaconf import OmegaConf

    return RunResult(**{f.name: getattr(result, f.name) for f in fields(Result)}, run_dir=where,
                     run_id=doc.get("mlflow_run_id"), config=OmegaConf.to_container(cfg, resolve=True))


def sweep(overrides: Overrides, sweep_dir: Optional[Union[str, Path]] = None):
    """Run ``python -m runner -m OVERRIDES`` (a subprocess: Hydra's multirun, its launcher,
    one MLflow parent run) and return one row per job: the job's own overrides, status,
    steps, the scalars of its result's ``final``, run id and directory (a pandas DataFrame).
    A bad override raises ConfigError before any job runs."""
    arguments = _arguments(overrides)
    where = Path(sweep_dir) if sweep_dir else Path.cwd() / "outputs" / "multirun" / _stamp("%Y-%m-%d/%H-%M-%S-%f")
    command = [sys.executable, "-m", "runner", "-m", *arguments, f"hydra.sweep.dir='{where}'"]
    proc = subprocess.run(command, capture_output=True, text=True)
    errors = [line[len("calclab: error: "):] for line in proc.stderr.splitlines() if line.startswith("calclab: error: ")]
    if proc.returncode == 2 and errors:
        raise ConfigError("", errors[-1])
    if proc.returncode != 0:
        raise RuntimeError(f"the sweep exited with code {proc.returncode}: {proc.stderr.strip()[-2000:]}")
    return jobs_frame(where, arguments)


def jobs_frame(sweep_dir: Path, fixed: Iterable[str] = ()):
    """A sweep directory's jobs as a DataFrame (overrides given to every job are left out)."""
    import pandas as pd
    import yaml

    rows, fixed = [], set(fixed)
    jobs = sorted((p for p in Path(sweep_dir).iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name))
    for job in jobs:
        doc = json.loads((job / "result.json").read_text()) if (job / "result.json").exists() else {}
        own = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()) or []
        row = {"job": int(job.name)}
        row.update(dict(o.split("=", 1) for o in own if o not in fixed and "=" in o))
        row.update(status=doc.get("status"), steps=doc.get("steps"))
        row.update({k: v for k, v in (doc.get("final") or {}).items() if isinstance(v, (int, float, str, bool))})
        row.update(run_id=doc.get("mlflow_run_id"), run_dir=str(job), message=doc.get("message", ""))
        rows.append(row)
    return pd.DataFrame(rows)


