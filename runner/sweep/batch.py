"""Jobs of one structure run as batches in the sweeping process (the batched launcher,
``hydra_plugins/calclab_sweeper/batched_launcher.py``).

For each job, as :func:`runner.app.main` does for one: an interrupted sweep's job is not run,
``sweep.skip_finished`` skips a job that finished before, a bad value fails that job alone
with its one line (``config error: KEY: ...``), and each job ends with its ``result.json``
(and ``.hydra/overrides.yaml``) in its own directory.  What differs: the task runs many jobs
at once (its ``run_many``; tasks without one run their jobs one by one through the launcher),
the full trajectories go into one archive in the sweep directory
(:mod:`runner.tracking.archive`), per-job files (config, trajectory, plots) are written only
for batches of at most ``sweep.job_plots`` jobs, and the child runs are written in bulk by a
thread while the next batch computes (:mod:`runner.tracking.bulk`).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import yaml

from runner import interrupt
from runner.errors import ConfigError
from runner.outputs import files as outputs
from runner.result import FAILED, KILLED, Result
from runner.tasks.registry import TaskContext, load_task
from runner.tracking.archive import ARCHIVE_FILE, append



@dataclass
class BatchJob:
    """One job of a batch: its Hydra job number, overrides, task config and directory; a
    ``compose_error`` when Hydra refused one of its values."""

    num: int
    overrides: List[str]
    cfg: Any
    run_dir: Path
    compose_error: Optional[str] = None
    validated: Optional[Dict[str, Any]] = None
    started: float = field(default_factory=time.time)


@dataclass
class Done:
    """What a batch gave back: the summary Result of each job it ran (by job number) and the
    number of kernel calls; the jobs not in ``results`` are for the launcher to run one by one."""

    results: Dict[int, Result]
    batches: int
    computed: int = 0     # jobs that went through a kernel call (the others ended before any work)


def run_batch(jobs: List[BatchJob], sweep_dir: Path, max_batch: int, callbacks=None) -> Done:
    """Run ``jobs`` (one structure) as described in the module docstring."""
    task = _task_of(jobs[0].cfg)
    if task is None:
        return Done({}, 0)
    from runner.sweep.callback import finished_before
    from runner.tracking.messages import parent_of

    interrupt.install(sweep_dir)
    parent = parent_of(sweep_dir)
    writer = _writer(jobs[0].cfg, parent)
    results: Dict[int, Result] = {}
    memo: dict = {}     # validated groups, shared by jobs whose group nodes are equal
    calls = computed = 0
    try:
        for lo in range(0, len(jobs), max_batch):
            chunk = jobs[lo: lo + max_batch]
            ready = []
            for job in chunk:
                early = _before_work(job, sweep_dir, finished_before, memo)
                if early is not None:
                    results[job.num] = early
                else:
                    ready.append(job)
            calls += _run_chunk(task, ready, sweep_dir, parent, writer, results)
            computed += len(ready)
    finally:
        if writer is not None:
            for line in writer.close():
                print(f"calclab: error: {line}", file=sys.stderr, flush=True)
    return Done(results, calls, computed)


def _task_of(cfg):
    try:
        task = load_task(cfg.get("task"))
    except ConfigError:
        return None
    return task if hasattr(task, "run_many") else None


def _writer(cfg, parent):
    from omegaconf import OmegaConf

    from runner.sweep.callback import SweepKnobs

    if parent is None or OmegaConf.select(cfg, "tracking.name") != "mlflow":
        return None
    from runner.tracking.bulk import BulkWriter

    return BulkWriter(int(OmegaConf.select(cfg, "sweep.curve_points", default=SweepKnobs.curve_points)))


def _before_work(job: BatchJob, sweep_dir: Path, finished_before, memo: dict) -> Optional[Result]:
    """The job's Result if it ends before any work (interrupted sweep, finished before, bad
    config), else None with ``job.validated`` set."""
    from runner import app

    if interrupt.interrupted(sweep_dir):
        return _ended(job, Result(task=str(job.cfg.get("task")), status=KILLED, message=interrupt.NOT_RUN))
    done = finished_before(job.cfg, sweep_dir, job.run_dir, job.overrides)
    if done is not None:
        return done
    try:
        if job.compose_error:
            raise ConfigError("overrides", job.compose_error)
        _, job.validated = app.validate(job.cfg, memo)
    except ConfigError as e:
        print(f"calclab: error: {e}", file=sys.stderr, flush=True)
        return _ended(job, Result(task=str(job.cfg.get("task")), status=FAILED, message=f"config error: {e}"))
    return None


def _ended(job: BatchJob, result: Result, run_id: Optional[str] = None) -> Result:
    _write_overrides(job)
    outputs.write_result_json(result, job.run_dir, run_id, time.time() - job.started)
    return result.summary()


def _write_overrides(job: BatchJob) -> None:
    hydra_dir = job.run_dir / ".hydra"
    hydra_dir.mkdir(parents=True, exist_ok=True)
    (hydra_dir / "overrides.yaml").write_text(yaml.safe_dump(list(job.overrides), default_flow_style=False))


def _run_chunk(task, ready: List[BatchJob], sweep_dir: Path, parent, writer, results) -> int:
    from omegaconf import OmegaConf

    from runner.sweep.callback import SweepKnobs

    if not ready:
        return 0
    pairs = [(job.cfg, TaskContext(run_dir=job.run_dir, seed=int(job.cfg.seed), quiet=True,
                                   validated=job.validated)) for job in ready]
    try:
        with interrupt.computing():
            outs, calls = task.run_many(pairs)
    except KeyboardInterrupt:   # outside a kernel call (the kernels keep what they computed)
        outs, calls = [Result(task=str(job.cfg.task), status=KILLED, message="interrupted before the task "
                              "returned a result") for job in ready], 0
    finished = time.time()
    job_files = len(ready) <= int(OmegaConf.select(ready[0].cfg, "sweep.job_plots", default=SweepKnobs.job_plots))
    append(sweep_dir / ARCHIVE_FILE, {job.num: r.trajectory for job, r in zip(ready, outs)
                                      if isinstance(r, Result) and r.trajectory})
    for job, out in zip(ready, outs):
        if isinstance(out, ConfigError):
            print(f"calclab: error: {out}", file=sys.stderr, flush=True)
            results[job.num] = _ended(job, Result(task=str(job.cfg.task), status=FAILED,
                                                  message=f"config error: {out}"))
            continue
        files = outputs.write_artifacts(out, job.cfg, job.run_dir) if job_files else []
        if out.status != "FINISHED":
            print(f"calclab: error: job {job.num}: run ended with status {out.status}: {out.message}",
                  file=sys.stderr, flush=True)
        results[job.num] = out.summary()
        if writer is None:
            _ended(job, out)
        else:
            _record(writer, job, out, files, parent, finished)
    return calls


def _record(writer, job: BatchJob, result: Result, files, parent, finished: float) -> None:
    from runner.tracking.messages import RunRecord

    record = RunRecord(job.validated["tracking"], job.cfg, result, [str(f) for f in files], list(job.overrides),
                       job.started, finished, parent)
    writer.submit(record, lambda run_id, job=job, result=result: _ended(job, result, run_id))
