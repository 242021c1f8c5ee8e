"""The tasks ``task=`` can name, and what a task may use besides its config.

A task is a module with ``SCHEMA`` (its own options' dataclass), ``GROUPS`` (the config
groups it takes, each ``{option: schema}``) and ``run(cfg, ctx) -> Result``.  Adding a task
is one module under ``runner/tasks/``, one entry in :data:`TASKS`, ``conf/task/NAME.yaml``
and its tests.
"""
from __future__ import annotations

import importlib
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict

from runner.errors import ConfigError

# task name -> module implementing SCHEMA, GROUPS and run(cfg, ctx)
TASKS = {
    "optimize": "runner.tasks.optimize",
    "integrate": "runner.tasks.integrate",
    "train": "runner.tasks.train",
    "analyze": "runner.tasks.analyze",
    "constrained": "runner.tasks.constrained",
}
_PROGRESS_LOCK = threading.RLock()


@dataclass
class TaskContext:
    """What a task may use besides its config: where to write, the seed, progress display."""

    run_dir: Path
    seed: int
    quiet: bool
    validated: Dict[str, Any] = field(default_factory=dict)
    unrecorded: bool = False   # the run is on disk but its MLflow record failed (runner.app: exit 4)

    def progress(self, total: int, desc: str):
        from tqdm.auto import tqdm

        # tqdm's default lock holds a multiprocessing semaphore; a joblib worker ended by the
        # sweep (killed once idle) leaves it behind, and Python warns of it at exit.  The bars of
        # one process need a thread lock only.
        tqdm.set_lock(_PROGRESS_LOCK)

        return tqdm(total=total, desc=desc, disable=self.quiet, leave=False, dynamic_ncols=True,
                    mininterval=0.25, file=sys.stderr)


def load_task(name: Any):
    if name not in TASKS:
        raise ConfigError("task", f"unknown task {name!r}; allowed: {', '.join(TASKS)}")
    try:
        return importlib.import_module(TASKS[name])
    except ModuleNotFoundError as e:  # a task listed here whose module is not installed
        raise ConfigError("task", f"task {name!r} is not available in this installation ({e})") from None
