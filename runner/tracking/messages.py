"""What crosses into tracking, as named records: the record of one run, a sweep's parent-run
requests, and the messages the helper process (``runner.tracking.worker``) serves.

Every one of them pickles (they travel through the helper's pipe and a sweep's socket), and
none holds a function: the helper decides what to do by a message's type, never by a name
looked up at run time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional


@dataclass
class RunRecord:
    """What tracking records for one run: the validated ``tracking`` options, the composed
    config (logged as params), the Result, the files written to the run directory (logged as
    artifacts), the command-line overrides (the run name), the start and end times (s since
    the epoch) and, for a sweep's job, its parent run ({tracking_uri, experiment_id,
    parent_run_id, ...})."""

    tracking: Any
    cfg: Any
    result: Any
    files: List[str]
    overrides: List[str]
    started: float
    finished: float
    parent: Optional[Dict[str, str]] = None


# ---- a sweep's parent run -------------------------------------------------------------------

PARENT_FILE = "sweep.json"     # in the sweep directory: the parent run's record, for its jobs


def parent_of(sweep_dir) -> Optional[Dict[str, str]]:
    """The parent-run record a multirun's jobs log under, if the sweep created one."""
    path = Path(sweep_dir) / PARENT_FILE
    return json.loads(path.read_text()) if path.is_file() else None


@dataclass
class StartParent:
    """Open the store, get or create the experiment and create a sweep's parent run."""

    uri: str
    artifact_root: Optional[str]
    experiment: str
    name: str
    tags: Dict[str, str] = field(default_factory=dict)
    params: Dict[str, str] = field(default_factory=dict)


@dataclass
class FinishParent:
    """Log a sweep's summary to its parent run and end it with ``status``."""

    parent: Dict[str, str]
    metrics: Dict[str, float]
    tags: Dict[str, str]
    params: Dict[str, str]
    artifacts: List[str]
    status: str = "FINISHED"


@dataclass
class AbandonParent:
    """A sweep that stopped before its end: KILLED if any job ran, else deleted."""

    parent: Dict[str, str]
    jobs_ran: bool


# ---- the helper's protocol (runner.tracking.worker) ---------------------------------------------

@dataclass
class OpenStore:
    """Open the store and find or create the experiment (no answer)."""

    uri: str
    artifact_root: Optional[str]
    experiment: str
    patience: float = 60.0     # seconds to wait while an SQLite store is busy


@dataclass
class LogRun:
    """Record the run in the store opened before; answered with its id, then the helper ends."""

    record: RunRecord


@dataclass
class StartSweep:
    """Create the sweep's parent run, then record the child runs its jobs send."""

    request: StartParent


@dataclass
class WaitForRuns:
    """Answered once the sweep's child runs sent so far are complete (with the lines of those
    that could not be)."""


@dataclass
class Abort:
    """The run will not be logged: the helper goes."""


PARENT_REQUESTS = (StartParent, FinishParent, AbandonParent)
