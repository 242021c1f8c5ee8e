"""One run, start to end: validate -> task -> outputs -> tracking.

Everything a user can get wrong is found by :func:`validate` before any work and printed
as one line (exit code 2).  A task that goes wrong midway returns a Result whose status
says so; an unexpected error becomes status FAILED with its traceback in ``error.log``.
Nothing is sent to MLflow until the task has finished, and the MLflow run is always
terminated, so no run is ever left RUNNING.
"""
from __future__ import annotations

import sys
import time
import traceback

from pathlib import Path
from typing import Dict, Optional

from omegaconf import DictConfig

from runner import interrupt
from runner.outputs import files as outputs
from runner.outputs import report
from runner.outputs.compiling import compile_notice
from runner.errors import CONFIG_ERROR_EXIT, TRACKING_FAILED_EXIT, CalclabError, ConfigError
from runner.result import DIVERGED, FAILED, FINISHED, KILLED, Result
from runner.config.validate import validate_group, validate_node
from runner.tasks.registry import TaskContext, load_task

ROOT_KEYS = {"task", "seed", "quiet", "tracking", "sweep", "erratum"}
EXIT_CODES = {FINISHED: 0, DIVERGED: 3, FAILED: 1, KILLED: 130}


def validate(cfg: DictConfig, memo: Optional[dict] = None):
    """Check the whole composed config; returns (task module, {group: validated object}).
    ``memo`` (a dict kept across calls, e.g. by a batch of jobs) reuses the validated object of
    a group whose node was validated before with the same content."""
    from runner.tracking import store as tracking

    task = load_task(cfg.get("task"))
    groups = dict(task.GROUPS)
    allowed = ROOT_KEYS | set(groups) | {cfg.task}
    for key in cfg:
        if key not in allowed:
            raise ConfigError(str(key), f"unknown top-level key for task '{cfg.task}'; allowed: {', '.join(sorted(allowed))}")
    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ConfigError("seed", f"must be a non-negative integer, got {seed!r}")
    if not isinstance(cfg.get("quiet"), bool):
        raise ConfigError("quiet", f"must be true or false, got {cfg.get('quiet')!r}")
    validated = {"tracking": validate_group("tracking", cfg.get("tracking"), tracking.SCHEMAS, "tracking")}
    if validated["tracking"].name == "mlflow":
        from runner.tracking.check import check_store

        check_store(validated["tracking"])
    if "sweep" in cfg:
        from runner.sweep.callback import SweepKnobs

        validated["sweep"] = validate_node("sweep", cfg.sweep, SweepKnobs, "sweep")
    for group, schemas in groups.items():
        if group not in cfg:
            raise ConfigError(group, f"missing config group '{group}' for task '{cfg.task}'")
        validated[group] = _remembered(memo, group, cfg[group], lambda: validate_group(group, cfg[group], schemas, group))
    node = cfg.get(cfg.task) or {}
    validated[cfg.task] = _remembered(memo, cfg.task, node,
                                      lambda: validate_node(cfg.task, node, task.SCHEMA, f"task '{cfg.task}'"))
    if cfg.get("erratum") is not None:
        from runner.erratum import Erratum

        validated["erratum"] = validate_node("erratum", cfg.erratum, Erratum, "erratum")
    return task, validated


def check_job(cfg: DictConfig) -> None:
    """Everything a job's config can be refused for, without running it: :func:`validate`
    and the task's ``check_inputs`` (e.g. a model that does not fit the data's classes).
    Raises ConfigError; a sweep calls it before its jobs start."""
    task, validated = validate(cfg)
    check = getattr(task, "check_inputs", None)
    if check is not None:
        check(validated, int(cfg.seed))


def _remembered(memo: Optional[dict], group: str, node, check):
    """``check()``, or its earlier value for an equal node (validated objects are not changed
    by the tasks, so jobs may share them)."""
    if memo is None:
        return check()
    from omegaconf import OmegaConf

    plain = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    key = (group, repr(plain))
    if key not in memo:
        memo[key] = check()
    return memo[key]


def _hydra_context():
    """(run_dir, overrides, is_multirun, sweep_dir) from Hydra's runtime config, with fallbacks for tests."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        multirun = hc.mode == RunMode.MULTIRUN
        return (Path(hc.runtime.output_dir), list(hc.overrides.task), multirun,
                Path(hc.sweep.dir) if multirun else None)
    except Exception:  # not under @hydra.main (e.g. a test composing the config itself)
        return Path.cwd(), [], False, None


def _error(message: str) -> None:
    print(f"calclab: error: {message}", file=sys.stderr, flush=True)


def execute(cfg: DictConfig, run_dir: Path, overrides=(), parent: Optional[Dict[str, str]] = None) -> Result:
    """Validate, run the task, write the run directory and log to MLflow; return the Result.

    Raises ConfigError (before any work, nothing written to MLflow) for bad input.
    """
    return _run(cfg, run_dir, overrides, parent)[0]


def _run(cfg: DictConfig, run_dir: Path, overrides, parent):
    """:func:`execute`, and its TaskContext (``unrecorded``: the MLflow record failed)."""
    started = time.time()
    with compile_notice(enabled=cfg.get("quiet") is False):   # importing a task loads its kernels
        task, validated = validate(cfg)
    ctx = TaskContext(run_dir=Path(run_dir), seed=int(cfg.seed), quiet=bool(cfg.quiet), validated=validated)
    worker = _start_worker(validated["tracking"], cfg, parent)
    try:
        return _execute(task, cfg, ctx, started, overrides, parent, worker), ctx
    finally:
        if worker is not None:
            worker.close()


def _start_worker(tcfg, cfg, parent):
    """The helper forked at start-up by ``python -m runner`` (see runner.tracking.worker),
    told to open the store while the task runs; None where the run logs in-process.  None is
    forked here: a caller of :func:`execute` in a long-lived process (a notebook, the tests,
    a benchmark) imports MLflow once and then logs faster in-process than a fresh helper
    that imports it again for every run."""
    from runner.tracking.worker import TrackingWorker

    worker = TrackingWorker.claim()
    if worker is None:
        return None
    if tcfg.name == "none" or not tcfg.fork or parent is not None:
        worker.close()
        return None
    from runner.tracking import store as tracking

    worker.open(*tracking.store_of(tcfg, cfg), tcfg.busy_timeout)
    return worker


def _execute(task, cfg, ctx, started, overrides, parent, worker) -> Result:
    try:
        with interrupt.computing(), compile_notice(enabled=not ctx.quiet):
            result = task.run(cfg, ctx)
    except ConfigError:  # bad input found while building the task's inputs, before work
        raise
    except KeyboardInterrupt:
        result = Result(task=cfg.task, status=KILLED, message=f"{interrupt.reason()} before the task returned a result")
    except Exception as e:  # a bug or a library failure: keep the traceback, report one line
        ctx.run_dir.mkdir(parents=True, exist_ok=True)
        (ctx.run_dir / "error.log").write_text(traceback.format_exc())
        msg = e.args[0] if isinstance(e, CalclabError) and e.args else f"{type(e).__name__}: {e}"
        result = Result(task=cfg.task, status=FAILED, message=f"{msg} (traceback in {ctx.run_dir / 'error.log'})")
    finished = time.time()
    if ctx.validated.get("erratum") is not None:
        from runner import erratum

        erratum.attach(result, ctx.validated["erratum"])
    with interrupt.finishing():      # a single run's Ctrl-C/SIGTERM now waits until the record is complete
        run_id = _record(result, cfg, ctx, started, finished, overrides, parent, worker)
    if not cfg.quiet:
        report.print_summary(result, ctx.run_dir, run_id)
    return result


def _record(result, cfg, ctx, started, finished, overrides, parent, worker) -> Optional[str]:
    """Write the run directory and the MLflow run (result.json last); the MLflow run id."""
    validated = ctx.validated
    files = outputs.write_artifacts(result, cfg, ctx.run_dir)
    run_id = None
    tracking_cfg = validated["tracking"]
    if tracking_cfg.name != "none":
        from runner.tracking import route as tracking
        from runner.tracking.messages import RunRecord

        try:
            record = RunRecord(tracking_cfg, cfg, result, [str(f) for f in files], list(overrides), started,
                               finished, parent)
            run_id = tracking.log_run(record, worker)
        except KeyboardInterrupt:
            _error("interrupted while logging to MLflow; the run directory is complete")
        except Exception as e:  # the result is safe on disk; say why MLflow has no copy and how to send it
            cause = " ".join(f"{type(e).__name__}: {e}".split("[SQL:")[0].split())[:200]
            _error(f"tracking.uri: the run's record did not reach the MLflow store ({cause}); its results are "
                   f"in {ctx.run_dir}; upload them later with: python -m runner.tracking upload {ctx.run_dir}")
            ctx.unrecorded = True
            result.info["mlflow_record_failed"] = cause     # a sweep's end counts these (exit 4)
    outputs.write_result_json(result, ctx.run_dir, run_id, finished - started)
    return run_id


def main(cfg: DictConfig):
    """The Hydra job.  A single run exits non-zero unless it FINISHED; in a multirun a job
    that failed returns its Result so the sweep goes on; after a Ctrl-C (runner.interrupt) the
    jobs not started yet return at once, KILLED."""
    run_dir, overrides, multirun, sweep_dir = _hydra_context()
    parent = None
    if multirun:
        from runner.sweep import callback as sweep
        from runner.tracking.messages import parent_of

        interrupt.install(sweep_dir)
        if interrupt.interrupted(sweep_dir):
            skipped = Result(task=str(cfg.get("task")), status=KILLED, message=interrupt.NOT_RUN)
            outputs.write_result_json(skipped, run_dir, None, 0.0)
            return skipped
        done = sweep.finished_before(cfg, sweep_dir, run_dir, overrides)
        if done is not None:
            return done
        parent = parent_of(sweep_dir)
    else:
        interrupt.begin()
    try:
        result, ctx = _run(cfg, run_dir, overrides, parent)
    except ConfigError as e:
        _error(str(e))
        if multirun:   # the sweep goes on; its summary shows this job and why it failed
            failed = Result(task=str(cfg.get("task")), status=FAILED, message=f"config error: {e}")
            outputs.write_result_json(failed, run_dir, None, 0.0)
            return failed
        raise SystemExit(CONFIG_ERROR_EXIT)
    if result.status != FINISHED:
        _error(f"run ended with status {result.status}: {result.message}")
        if not multirun:
            raise SystemExit(interrupt.exit_code() if result.status == KILLED else EXIT_CODES[result.status])
    elif not multirun and interrupt.received() is not None:
        _error(f"{interrupt.reason()} while the run was being recorded; it is complete ({run_dir})")
        raise SystemExit(interrupt.exit_code())
    if ctx.unrecorded and not multirun:
        raise SystemExit(TRACKING_FAILED_EXIT)
    return result.summary() if multirun else result
