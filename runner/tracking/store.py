"""MLflow tracking: reads a finished Result and records it; decides nothing about the run.

Store: ``tracking.uri``, else ``$MLFLOW_TRACKING_URI``, else an SQLite database at
``<cwd>/outputs/mlflow.db`` with artifacts under ``<cwd>/outputs/mlartifacts`` (absolute
paths, so Hydra's run directories never move the store).  One MLflow experiment per task
(``calclab-<task>``).  The run is created after the task has finished (with the task's
real start time) and always terminated, so no run is left RUNNING.

Metrics are sent with ``log_batch`` (1000 per call; one call per step is ~30x slower).  A
series longer than ``max_points`` is logged as a min/max-preserving downsample (the first
and last step, every bucket's extremes); ``trajectory.npz`` keeps every step and loads
back with :func:`load_trajectory`.
"""
from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from runner.errors import ConfigError
from runner.outputs.files import RESULT_FILE, result_document
from runner.tracking import orphans
from runner.tracking.messages import RunRecord
from runner.result import DIVERGED, FAILED, FINISHED, KILLED, Result

MAX_PARAM_LENGTH = 6000      # MLflow's limit on a param value
MAX_BATCH_METRICS = 1000     # MLflow's limit per log_batch call
MAX_BATCH_PARAMS = 100
MLFLOW_STATUS = {FINISHED: "FINISHED", DIVERGED: "FAILED", FAILED: "FAILED", KILLED: "KILLED"}
VERSION_PACKAGES = ("calclab", "numpy", "numba", "mlflow", "hydra-core", "omegaconf", "sympy")


@dataclass
class MlflowTracking:
    name: str = "mlflow"
    uri: Optional[str] = None
    artifact_location: Optional[str] = None
    experiment: Optional[str] = None
    run_name: Optional[str] = None
    max_points: int = 1000
    plots: bool = True
    fork: bool = True
    busy_timeout: float = 60.0   # seconds a write waits for a busy SQLite store (another writer) before failing

    def check(self):
        if not self.busy_timeout >= 0:
            raise ConfigError("busy_timeout", f"must be >= 0 seconds, got {self.busy_timeout}")
        if self.max_points < 8:
            raise ConfigError("max_points", f"must be >= 8, got {self.max_points}")


@dataclass
class NoTracking:
    name: str = "none"
    plots: bool = True


SCHEMAS = {"mlflow": MlflowTracking, "none": NoTracking}
BUSY_TIMEOUT = MlflowTracking.busy_timeout


# ---- store -------------------------------------------------------------------------------

# MLflow retries an HTTP request 7 times with exponential back-off and waits 120 s for each
# answer (MLFLOW_HTTP_REQUEST_MAX_RETRIES / MLFLOW_HTTP_REQUEST_TIMEOUT): a server that went
# away would hold a finished run for minutes.  Bounded here unless the user set them.
HTTP_LIMITS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
for _name, _value in HTTP_LIMITS.items():
    os.environ.setdefault(_name, _value)

def default_uri(cwd: Optional[Path] = None) -> str:
    return f"sqlite:///{(Path(cwd or os.getcwd()) / 'outputs' / 'mlflow.db').resolve()}"


def resolve_store(uri: Optional[str] = None, artifact_location: Optional[str] = None,
                  cwd: Optional[Path] = None) -> Tuple[str, Optional[str]]:
    """(tracking URI, artifact root or None to let the server decide)."""
    cwd = Path(cwd or os.getcwd())
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri(cwd)
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = Path(uri[len("sqlite:///"):])
        if not db.is_absolute():  # relative to where the user ran the command
            uri = f"sqlite:///{(cwd / db).resolve()}"
    if uri.startswith("sqlite:///"):
        db = Path(uri[len("sqlite:///"):])
        db.parent.mkdir(parents=True, exist_ok=True)
        if artifact_location is None:   # MLflow's own default would be ./mlruns under the cwd
            artifact_location = str(db.parent / "mlartifacts")
    return uri, artifact_location


# MLflow 3's UI opens an experiment by its kind (the tag mlflow.experimentKind, read by the UI):
# calclab's runs are model development (metrics by step, params, artifacts), not GenAI traces.
EXPERIMENT_KIND = "custom_model_development"
DESCRIPTIONS = {
    "optimize": "calclab: minimising functions and losses with gradient-based optimizers "
                "(loss, gradient norm and learning rate by step; the full trajectory in trajectory.npz)",
    "integrate": "calclab: Monte Carlo and quadrature integration (estimate, standard error and error against n)",
    "train": "calclab: training networks by backpropagation (loss by step, accuracies, per-layer gradient norms)",
    "analyze": "calclab: derivatives, Jacobians, Hessians, Taylor series and critical points, by every method",
    "constrained": "calclab: optimisation under equality constraints (Lagrange multipliers, bordered Hessian)",
}


def experiment_tags(name: str) -> Dict[str, str]:
    """The experiment's kind (so the UI shows runs, charts and artifacts) and its description."""
    task = name[len("calclab-"):] if name.startswith("calclab-") else ""
    description = DESCRIPTIONS.get(task, "calclab: config-driven experiments on the calculus behind machine learning")
    return {"mlflow.experimentKind": EXPERIMENT_KIND, "mlflow.note.content": description}


def experiment_id(client, name: str, artifact_root: Optional[str]) -> str:
    """Get or create the experiment, with its kind and description; safe against another
    process creating it first."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = f"{Path(artifact_root).resolve().as_uri()}/{name}" if artifact_root else None
        try:
            return client.create_experiment(name, artifact_location=location, tags=experiment_tags(name))
        except Exception:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if "mlflow.experimentKind" not in exp.tags:      # made before calclab set it (or by someone else)
        for key, value in experiment_tags(name).items():
            if key not in exp.tags:
                client.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


# ---- what gets logged --------------------------------------------------------------------

def downsample(steps: np.ndarray, values: np.ndarray, max_points: int) -> Tuple[np.ndarray, np.ndarray]:
    """At most ``max_points`` points that draw the same curve: split the series into
    ``max_points // 4`` buckets and keep each bucket's first, last, smallest and largest
    value (the M4 aggregation of Jugel et al., VLDB 2014).  The first and last step and the
    global extremes are always kept; non-finite values are kept where they first occur."""
    n = len(steps)
    if n <= max_points:
        return steps, values
    buckets = max(1, max_points // 4)
    # equal-count buckets, the first n % buckets of them one longer (as np.array_split)
    sizes = np.full(buckets, n // buckets, dtype=np.int64)
    sizes[: n % buckets] += 1
    edges = np.concatenate([[0], np.cumsum(sizes)])
    keep: List[int] = []
    finite = np.isfinite(values)
    for lo, hi in zip(edges[:-1], edges[1:]):
        if hi <= lo:
            continue
        keep += [lo, hi - 1]
        seg_ok = finite[lo:hi]
        if seg_ok.any():
            seg = np.where(seg_ok, values[lo:hi], np.nan)
            keep += [lo + int(np.nanargmin(seg)), lo + int(np.nanargmax(seg))]
        if not seg_ok.all():
            keep.append(lo + int(np.argmin(seg_ok)))
    idx = np.unique(np.asarray(keep, dtype=np.int64))
    return steps[idx], values[idx]


def flatten(node, prefix: str = "") -> Dict[str, str]:
    """Dotted keys -> string values (lists as JSON), truncated to MLflow's param limit."""
    out: Dict[str, str] = {}
    if isinstance(node, dict):
        for k, v in node.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out
    text = json.dumps(node) if isinstance(node, (list, tuple)) else str(node)
    if len(text) > MAX_PARAM_LENGTH:
        text = text[: MAX_PARAM_LENGTH - 20] + f"...[{len(text)} chars]"
    out[prefix[:-1]] = text
    return out


# Both are fixed for the life of a process (the code it runs was loaded at its start) and cost
# ~10 ms a call (a git subprocess, a scan of the installed distributions): a sweep's helper
# records every job's run, so they are looked up once.
@functools.lru_cache(maxsize=None)
def _git_commit() -> Optional[str]:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@functools.lru_cache(maxsize=None)
def _versions() -> Dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for pkg in VERSION_PACKAGES:
        try:
            found[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return found


def run_tags(cfg, result: Result, overrides: Sequence[str]) -> Dict[str, str]:
    tags = {"task": str(cfg.task), "seed": str(cfg.seed), "calclab.status": result.status,
            "overrides": " ".join(overrides), "mlflow.source.name": "calclab",
            "mlflow.source.type": "LOCAL"}
    for key in ("problem", "optimizer", "integrator", "integrand", "model", "data"):
        if key in result.info:
            tags[key] = str(result.info[key])
    if result.message:
        tags["calclab.message"] = result.message[:5000]
    commit = _git_commit()
    if commit:
        tags["git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit
    tags.update({f"version.{k}": v for k, v in _versions().items()})
    tags.update({k: str(v) for k, v in result.tags.items()})
    return tags


def default_run_name(cfg, overrides: Sequence[str]) -> str:
    """The overrides (what makes this run differ), then a short random suffix so that two runs
    of the same command stay apart in the UI: ``optim=adam optim.lr=0.01 · 3f9a``."""
    head = " ".join(overrides) if overrides else f"{cfg.task} (defaults)"
    return f"{head[:240]} · {os.urandom(2).hex()}"


def final_metrics(result: Result) -> Dict[str, float]:
    """The result's final numbers as metrics, so that the runs table can sort by them: every
    finite number (true/false as 1/0) at the top level of ``final`` that is not already a
    series by step, and the numbers of small dicts one level down (``grad_check.max_rel_error``)."""
    out: Dict[str, float] = {}

    def add(key, value):
        if isinstance(value, (bool, np.bool_)):
            out[key] = float(value)
        elif isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value):
            out[key] = float(value)

    for key, value in result.final.items():
        if key in result.metrics:
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                add(f"{key}.{sub}", v)
        else:
            add(key, value)
    return out


def _chunks(items: List, size: int) -> Iterable[List]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


def store_of(tcfg: MlflowTracking, cfg) -> Tuple[str, Optional[str], str]:
    """(tracking URI, artifact root, experiment name) of a single run."""
    uri, artifact_root = resolve_store(tcfg.uri, tcfg.artifact_location)
    return uri, artifact_root, tcfg.experiment or f"calclab-{cfg.task}"


def import_store_modules() -> None:
    """Import what opening a store and logging a run need (~2 s; see runner.tracking.worker)."""
    import mlflow.entities  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401


def open_store(uri: str, artifact_root: Optional[str], experiment: str, patience: float = BUSY_TIMEOUT):
    """(client, experiment id, uri): the store opened (its schema created on first use) and
    the experiment found or created.  No run is created."""
    with store_lock(uri):
        client = client_for(uri)
        exp_id = patiently(patience, experiment_id, client, experiment, artifact_root)
        _end_orphans(client, exp_id)
        return client, exp_id, uri


def _end_orphans(client, exp_id: str) -> None:
    """Runs of this experiment left RUNNING by a process that is gone end KILLED
    (runner.tracking.orphans); a failure here never stops a run."""
    try:
        ended = orphans.end_orphans(client, exp_id)
    except Exception:
        return
    if ended:
        print(f"calclab: marked {len(ended)} orphaned MLflow run(s) KILLED (their process was gone): "
              f"{', '.join(ended[:5])}{' ...' if len(ended) > 5 else ''}", file=sys.stderr, flush=True)


def patiently(patience: float, write, *args, **kwargs):
    """``write(*args, **kwargs)``, tried again while the SQLite store is busy ('database is
    locked': another process holds its write lock) for up to ``patience`` seconds, waiting
    0.05 s and doubling to 1 s between tries; then the error propagates."""
    deadline = time.monotonic() + patience
    pause = 0.05
    while True:
        try:
            return write(*args, **kwargs)
        except Exception as e:
            if "database is locked" not in str(e) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 1.0)


@contextmanager
def store_lock(uri: str):
    """Parallel jobs on one SQLite file take turns (an exclusive lock on ``<db>.lock``), so no
    job fails on 'database is locked' and no point is lost; servers handle their own writes."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    with open(uri[len("sqlite:///"):] + ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def client_for(uri: str):
    """An MlflowClient for ``uri``, without MLflow's INFO lines about creating a store's tables
    (they would interleave with calclab's own one-line messages on stderr)."""
    import logging

    from mlflow.tracking import MlflowClient

    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    # its ERROR on a failed statement is a traceback; calclab reports the failure in one line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
    return MlflowClient(tracking_uri=uri)


def record_run(client, exp_id: str, uri: str, record: RunRecord) -> str:
    """Create the run, log params, metrics (downsampled above ``max_points``) and artifacts,
    and terminate it with the result's status; returns the run id."""
    with store_lock(uri):
        run_id = patiently(record.tracking.busy_timeout, create_run, client, exp_id, record)
        fill_run(client, run_id, record)
    return run_id


def create_run(client, exp_id: str, record: RunRecord) -> str:
    """The run, created RUNNING with its tags and name; :func:`fill_run` completes it."""
    cfg, overrides = record.cfg, record.overrides
    tags = {**run_tags(cfg, record.result, overrides), **orphans.owner_tags()}
    if record.parent:
        tags["mlflow.parentRunId"] = record.parent["parent_run_id"]
    run = client.create_run(exp_id, start_time=int(record.started * 1000), tags=tags,
                            run_name=record.tracking.run_name or default_run_name(cfg, overrides))
    return run.info.run_id


def fill_run(client, run_id: str, record: RunRecord, turn=nullcontext) -> None:
    """Log a created run's params, metrics and artifacts and terminate it with the result's
    status (FAILED if a write raised; the error propagates).  Each write is one short store
    transaction (a params batch, at most 1000 metric points, an artifact), made inside
    ``turn()``: a sweep's helper passes its turns there, so that a job waiting for
    :func:`create_run` waits for one write at most (runner.tracking.worker)."""
    from mlflow.entities import Metric, Param
    from omegaconf import OmegaConf

    result, finished = record.result, record.finished
    status = "FAILED"
    try:
        params = flatten(OmegaConf.to_container(record.cfg, resolve=True))
        writes = [functools.partial(client.log_batch, run_id, params=batch)
                  for batch in _chunks([Param(k, v) for k, v in params.items()], MAX_BATCH_PARAMS)]
        stamp = int(finished * 1000)
        metrics = []
        last_step = 0
        for name, series in result.metrics.items():
            steps, values = downsample(series.steps, series.values, record.tracking.max_points)
            metrics += [Metric(name, float(v), stamp, int(s)) for s, v in zip(steps, values)]
            last_step = max(last_step, int(steps[-1]) if len(steps) else 0)
        metrics += [Metric(name, v, stamp, last_step) for name, v in final_metrics(result).items()]
        writes += [functools.partial(client.log_batch, run_id, metrics=batch)
                   for batch in _chunks(metrics, MAX_BATCH_METRICS)]
        for path in map(Path, record.files):
            sub = path.parent.name if path.parent.name == "plots" else None
            writes.append(functools.partial(client.log_artifact, run_id, str(path), artifact_path=sub))
        top = [Path(f).name for f in record.files if Path(f).parent.name != "plots"]
        document = result_document(result, run_id, finished - record.started, top)
        writes.append(functools.partial(client.log_text, run_id, document, RESULT_FILE))
        patience = getattr(record.tracking, "busy_timeout", BUSY_TIMEOUT)
        for write in writes:
            with turn():
                patiently(patience, write)
        status = MLFLOW_STATUS[result.status]
    finally:
        with turn():
            patiently(getattr(record.tracking, "busy_timeout", BUSY_TIMEOUT), client.set_terminated, run_id, status,
                      end_time=int(time.time() * 1000))


def load_trajectory(run_id: str, tracking_uri: Optional[str] = None) -> Dict[str, np.ndarray]:
    """The full trajectory of a run, by run id:
    ``python -c "from runner.tracking.store import load_trajectory as L; print(L('RUN_ID'))"``."""
    import mlflow

    uri, _ = resolve_store(tracking_uri)
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="trajectory.npz", tracking_uri=uri)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}
