"""What a task returns: everything the outputs and the tracker need, and nothing they decide.

The flow is one way: a task builds a :class:`Result`; ``runner.outputs.files`` writes it to the run
directory (``result.json``, ``trajectory.npz``, plots); ``runner.tracking.store`` logs it to MLflow.
Neither of those changes the result or decides anything about the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Tuple

import numpy as np

FINISHED = "FINISHED"   # ran to completion (converged or hit its step budget)
DIVERGED = "DIVERGED"   # loss became non-finite or exploded; what was computed is kept
FAILED = "FAILED"       # an error stopped the run midway; what was computed is kept
KILLED = "KILLED"       # interrupted by the user (Ctrl-C); what was computed is kept
STATUSES = (FINISHED, DIVERGED, FAILED, KILLED)


@dataclass
class Series:
    """One metric over steps: ``values[i]`` was measured at ``steps[i]`` (strictly increasing)."""

    steps: np.ndarray   # int64
    values: np.ndarray  # float64

    def __post_init__(self):
        self.steps = np.asarray(self.steps, dtype=np.int64)
        self.values = np.asarray(self.values, dtype=np.float64)
        if self.steps.shape != self.values.shape:
            raise ValueError(f"Series steps {self.steps.shape} and values {self.values.shape} differ")


# A plot is drawn lazily by the outputs layer: (file name, function returning a matplotlib Figure).
Plot = Tuple[str, Callable[[], "object"]]


@dataclass
class Result:
    task: str
    status: str = FINISHED
    message: str = ""
    # result.json "final": JSON-safe scalars, lists and small dicts.
    final: Dict[str, object] = field(default_factory=dict)
    # extra top-level result.json keys (e.g. problem, optimizer, steps).
    info: Dict[str, object] = field(default_factory=dict)
    # trajectory.npz: every step, full length; never downsampled.
    trajectory: Dict[str, np.ndarray] = field(default_factory=dict)
    # metrics for the tracker, by step; the tracker may downsample them for MLflow.
    metrics: Dict[str, Series] = field(default_factory=dict)
    # extra MLflow tags decided by the task (e.g. numba compile seconds).
    tags: Dict[str, str] = field(default_factory=dict)
    plots: List[Plot] = field(default_factory=list)
    # a readable report (tables) the task composed; printed at the end of the run unless quiet
    report: str = ""

    def __post_init__(self):
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    def summary(self) -> "Result":
        """The same result without arrays and plots: what a multirun job hands back to its
        sweeper (it crosses process boundaries with parallel launchers)."""
        return Result(task=self.task, status=self.status, message=self.message, final=dict(self.final),
                      info=dict(self.info), tags=dict(self.tags))
