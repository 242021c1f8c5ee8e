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
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from runner.errors import ConfigError
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


BUSY_TIMEOUT = MlflowTracking.busy_timeout
SQL_SERVERS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}   # SQLAlchemy database URIs MLflow takes
SQLITE_MAGIC = b"SQLite format 3\x00"
CONNECT_TIMEOUT = 3.0      # seconds to wait for a tracking server to accept a connection


def check_store(tcfg: MlflowTracking) -> None:
    """Find a store that cannot take the run before any work: ConfigError on ``tracking.uri``
    naming the cause.  Checks only what is fast and local (no MLflow import, so the forked
    helper stays possible): an SQLite file's directory and header, its schema table when it
    is not busy, a server's port accepting a connection within CONNECT_TIMEOUT."""
    try:
        uri, _ = resolve_store(tcfg.uri, tcfg.artifact_location)
    except OSError as e:
        raise ConfigError("tracking.uri", f"cannot create the store's directory ({e.strerror}: {e.filename})") from None
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower() if ":" in uri else ""
    if scheme == "sqlite":
        _check_sqlite(Path(uri[len("sqlite:///"):]) if uri.startswith("sqlite:///") else None, uri)
    elif scheme in ("http", "https") or scheme in SQL_SERVERS:
        _check_server(uri, scheme)
    elif scheme != "databricks":
        raise ConfigError("tracking.uri", f"unsupported store {uri!r}; use sqlite:////ABS/PATH/mlflow.db, "
                          f"http(s)://HOST:PORT (an MLflow server) or {'/'.join(SQL_SERVERS)}://...")


def _check_sqlite(db: Optional[Path], uri: str) -> None:
    import sqlite3

    if db is None or str(db) in ("", ":memory:"):
        raise ConfigError("tracking.uri", f"{uri!r} names no database file; use sqlite:////ABS/PATH/mlflow.db")
    if db.exists() and not db.is_file():
        raise ConfigError("tracking.uri", f"{db} is not a file")
    if not os.access(db.parent, os.W_OK) or (db.exists() and not os.access(db, os.R_OK | os.W_OK)):
        raise ConfigError("tracking.uri", f"no permission to write {db if db.exists() else db.parent}")
    if not db.exists() or db.stat().st_size == 0:
        return                                  # a new store: MLflow creates its schema
    cause = _sqlite_damage(db)
    if cause is None:
        try:
            with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=0.2) as con:
                tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "alembic_version" not in tables:
                cause = "an SQLite database, but not an MLflow store (no alembic_version table)"
        except sqlite3.OperationalError as e:
            if "locked" not in str(e):          # busy is not bad: the writes wait (busy_timeout)
                cause = f"unreadable ({e})"
        except sqlite3.DatabaseError as e:
            cause = f"corrupt ({e})"
    if cause is not None:
        raise ConfigError("tracking.uri", f"{db}: {cause}; move it aside or point tracking.uri at another file")


def _sqlite_damage(db: Path) -> Optional[str]:
    """Why the file is not a whole SQLite database, from its 100-byte header (sqlite.org/fileformat.html):
    the magic string, the page size (bytes 16-17) and the page count (bytes 28-31)."""
    with open(db, "rb") as fh:
        head = fh.read(100)
    if not head.startswith(SQLITE_MAGIC):
        return "not an SQLite database (corrupt or another kind of file)"
    if len(head) < 100:
        return "truncated (shorter than an SQLite header)"
    page = int.from_bytes(head[16:18], "big")
    page = 65536 if page == 1 else page
    pages = int.from_bytes(head[28:32], "big")
    size = db.stat().st_size
    if pages and page * pages > size:
        return f"truncated ({size} bytes; its header says {page * pages})"
    return None


def _check_server(uri: str, scheme: str) -> None:
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port or SQL_SERVERS.get(scheme) or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise ConfigError("tracking.uri", f"malformed {uri!r} ({e})") from None
    if not host:
        raise ConfigError("tracking.uri", f"{uri!r} names no host")
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as e:
        raise ConfigError("tracking.uri", f"no store answers at {host}:{port} ({e.strerror or e}); start the "
                          f"server or use a local store (tracking.uri=sqlite:////ABS/PATH/mlflow.db)") from None


def experiment_id(client, name: str, artifact_root: Optional[str]) -> str:
    """Get or create the experiment; safe against another process creating it first."""
    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = f"{Path(artifact_root).resolve().as_uri()}/{name}" if artifact_root else None
        try:
            return client.create_experiment(name, artifact_location=location)
        except Exception:
            exp = client.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
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
    return " ".join(overrides) if overrides else f"{cfg.task} (defaults)"


def _chunks(items: List, size: int) -> Iterable[List]:
    for i in range(0, len(items), size):
        yield items[i: i + size]


def log_run(tcfg: MlflowTracking, cfg, result: Result, files: Sequence[Path], overrides: Sequence[str],
            started: float, finished: float, parent: Optional[Dict[str, str]] = None, worker=None) -> str:
    """Record ``result`` as one MLflow run; returns its run id.  ``parent`` (from a sweep:
    tracking_uri, experiment_id, parent_run_id) makes it a child run of the sweep's run, recorded
    by the sweep's helper process when it serves one (log_address), else here.
    ``worker`` (a :class:`runner.tracking_worker.TrackingWorker` that has opened the store)
    records it from its own process instead."""
    if worker is not None:
        return worker.log(tcfg, cfg, result, files, overrides, started, finished)
    if parent:
        from runner.tracking_worker import log_through

        run_id = log_through(parent, tcfg, cfg, result, files, overrides, started, finished)
        if run_id is not None:
            return run_id
        client = client_for(parent["tracking_uri"])
        opened = (client, parent["experiment_id"], parent["tracking_uri"])
    else:
        opened = open_store(*store_of(tcfg, cfg), patience=tcfg.busy_timeout)
    return record_run(*opened, tcfg, cfg, result, files, overrides, started, finished, parent)


def store_of(tcfg: MlflowTracking, cfg) -> Tuple[str, Optional[str], str]:
    """(tracking URI, artifact root, experiment name) of a single run."""
    uri, artifact_root = resolve_store(tcfg.uri, tcfg.artifact_location)
    return uri, artifact_root, tcfg.experiment or f"calclab-{cfg.task}"


def import_store_modules() -> None:
    """Import what opening a store and logging a run need (~2 s; see runner.tracking_worker)."""
    import mlflow.entities  # noqa: F401
    import mlflow.store.tracking.sqlalchemy_store  # noqa: F401
    from mlflow.tracking import MlflowClient  # noqa: F401


def open_store(uri: str, artifact_root: Optional[str], experiment: str, patience: float = BUSY_TIMEOUT):
    """(client, experiment id, uri): the store opened (its schema created on first use) and
    the experiment found or created.  No run is created."""
    with store_lock(uri):
        client = client_for(uri)
        return client, patiently(patience, experiment_id, client, experiment, artifact_root), uri


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


def record_run(client, exp_id: str, uri: str, tcfg, cfg, result: Result, files: Sequence, overrides: Sequence[str],
               started: float, finished: float, parent: Optional[Dict[str, str]] = None) -> str:
    """Create the run, log params, metrics (downsampled above ``max_points``) and artifacts,
    and terminate it with the result's status; returns the run id."""
    with store_lock(uri):
        run_id = patiently(tcfg.busy_timeout, create_run, client, exp_id, tcfg, cfg, result, overrides, started,
                           parent)
        fill_run(client, run_id, tcfg, cfg, result, files, finished)
    return run_id


def create_run(client, exp_id: str, tcfg, cfg, result: Result, overrides: Sequence[str], started: float,
               parent: Optional[Dict[str, str]] = None) -> str:
    """The run, created RUNNING with its tags and name; :func:`fill_run` completes it."""
    tags = run_tags(cfg, result, overrides)
    if parent:
        tags["mlflow.parentRunId"] = parent["parent_run_id"]
    run = client.create_run(exp_id, start_time=int(started * 1000), tags=tags,
                            run_name=tcfg.run_name or default_run_name(cfg, overrides))
    return run.info.run_id


def fill_run(client, run_id: str, tcfg, cfg, result: Result, files: Sequence, finished: float,
             turn=nullcontext) -> None:
    """Log a created run's params, metrics and artifacts and terminate it with the result's
    status (FAILED if a write raised; the error propagates).  Each write is one short store
    transaction (a params batch, at most 1000 metric points, an artifact), made inside
    ``turn()``: a sweep's helper passes its turns there, so that a job waiting for
    :func:`create_run` waits for one write at most (runner.tracking_worker)."""
    from mlflow.entities import Metric, Param
    from omegaconf import OmegaConf

    status = "FAILED"
    try:
        params = flatten(OmegaConf.to_container(cfg, resolve=True))
        writes = [functools.partial(client.log_batch, run_id, params=batch)
                  for batch in _chunks([Param(k, v) for k, v in params.items()], MAX_BATCH_PARAMS)]
        stamp = int(finished * 1000)
        metrics = []
        for name, series in result.metrics.items():
            steps, values = downsample(series.steps, series.values, tcfg.max_points)
            metrics += [Metric(name, float(v), stamp, int(s)) for s, v in zip(steps, values)]
        writes += [functools.partial(client.log_batch, run_id, metrics=batch)
                   for batch in _chunks(metrics, MAX_BATCH_METRICS)]
        for path in map(Path, files):
            sub = path.parent.name if path.parent.name == "plots" else None
            writes.append(functools.partial(client.log_artifact, run_id, str(path), artifact_path=sub))
        patience = getattr(tcfg, "busy_timeout", BUSY_TIMEOUT)
        for write in writes:
            with turn():
                patiently(patience, write)
        status = MLFLOW_STATUS[result.status]
    finally:
        with turn():
            patiently(getattr(tcfg, "busy_timeout", BUSY_TIMEOUT), client.set_terminated, run_id, status,
                      end_time=int(time.time() * 1000))


# ---- a sweep's parent run (runner.sweep; from the helper of runner.tracking_worker) ----------

def start_parent(uri: str, artifact_root: Optional[str], experiment: str, name: str, tags: Dict[str, str],
                 params: Dict[str, str]) -> Dict[str, str]:
    """Open the store (creating its schema), get or create the experiment and create a
    sweep's parent run: {tracking_uri, experiment_id, parent_run_id} for its jobs."""
    client, exp_id, uri = open_store(uri, artifact_root, experiment)
    with store_lock(uri):
        run_id = patiently(BUSY_TIMEOUT, client.create_run, exp_id, run_name=name, tags=tags).info.run_id
        for key, value in params.items():
            patiently(BUSY_TIMEOUT, client.log_param, run_id, key, value)
    return {"tracking_uri": uri, "experiment_id": exp_id, "parent_run_id": run_id}


def finish_parent(parent: Dict[str, str], metrics: Dict[str, float], tags: Dict[str, str],
                  params: Dict[str, str], artifacts: Sequence[str], status: str = "FINISHED") -> None:
    """Log a sweep's summary to its parent run (artifacts under ``summary/``) and end it."""
    from mlflow.entities import Metric, Param, RunTag

    client, run_id, stamp = client_for(parent["tracking_uri"]), parent["parent_run_id"], int(time.time() * 1000)
    with store_lock(parent["tracking_uri"]):
        patiently(BUSY_TIMEOUT, client.log_batch, run_id,
                  metrics=[Metric(k, float(v), stamp, 0) for k, v in metrics.items()],
                  params=[Param(k, str(v)) for k, v in params.items()], tags=[RunTag(k, v) for k, v in tags.items()])
        for path in artifacts:
            patiently(BUSY_TIMEOUT, client.log_artifact, run_id, str(path), artifact_path="summary")
        patiently(BUSY_TIMEOUT, client.set_terminated, run_id, status)


def abandon_parent(parent: Dict[str, str], jobs_ran: bool) -> None:
    """A sweep that stopped before its end: its parent run ends KILLED, and is deleted too if no
    job ran (it never meant anything; a deleted run still has a status, and it is not RUNNING)."""
    client = client_for(parent["tracking_uri"])
    with store_lock(parent["tracking_uri"]):
        patiently(BUSY_TIMEOUT, client.set_terminated, parent["parent_run_id"], "KILLED")
        if not jobs_ran:
            patiently(BUSY_TIMEOUT, client.delete_run, parent["parent_run_id"])


def load_trajectory(run_id: str, tracking_uri: Optional[str] = None) -> Dict[str, np.ndarray]:
    """The full trajectory of a run, by run id:
    ``python -c "from runner.tracking import load_trajectory as L; print(L('RUN_ID'))"``."""
    import mlflow

    uri, _ = resolve_store(tracking_uri)
    path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="trajectory.npz", tracking_uri=uri)
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


# ---- uploading a run directory later (a run whose store failed after its work) -------------

def upload(path: Path, uri: Optional[str] = None) -> List[Tuple[Path, str]]:
    """Record the run directory ``path`` (or every job directory of a sweep directory) in
    MLflow from what the run wrote: result.json, config.yaml, trajectory.npz (its 1-D series as
    metrics) and plots.  Runs whose result.json already names an MLflow run are skipped.  The
    store is the run's own ``tracking`` config, or ``uri``.  Returns [(run dir, run id)]."""
    from omegaconf import OmegaConf

    from runner.validate import validate_group

    path = Path(path)
    dirs = [path] if (path / "result.json").is_file() else sorted(p.parent for p in path.glob("*/result.json"))
    if not dirs:
        raise ConfigError(str(path), "no result.json here or in its subdirectories: not a run or sweep directory")
    done = []
    for run_dir in dirs:
        doc = json.loads((run_dir / "result.json").read_text())
        if doc.get("mlflow_run_id"):
            continue
        cfg = OmegaConf.load(run_dir / "config.yaml")
        node = cfg.get("tracking") or {}
        tcfg = validate_group("tracking", node, SCHEMAS) if node.get("name") == "mlflow" else MlflowTracking()
        tcfg.uri = uri or tcfg.uri
        check_store(tcfg)
        overrides_file = run_dir / ".hydra" / "overrides.yaml"
        overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
        finished = (run_dir / "result.json").stat().st_mtime
        started = finished - float(doc.get("wall_s") or 0.0)
        result, files = _result_on_disk(run_dir, doc)
        run_id = record_run(*open_store(*store_of(tcfg, cfg), patience=tcfg.busy_timeout), tcfg, cfg, result,
                            files, overrides, started, finished)
        doc["mlflow_run_id"] = run_id
        tmp = run_dir / f".result.json.tmp{os.getpid()}"
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        os.replace(tmp, run_dir / "result.json")
        done.append((run_dir, run_id))
    return done


def _result_on_disk(run_dir: Path, doc: Dict) -> Tuple[Result, List[Path]]:
    """The Result a run directory describes (metrics: the trajectory's 1-D series) and its files."""
    from runner.result import Series

    plain = {"task", "status", "final", "message", "mlflow_run_id", "wall_s", "files"}
    metrics, trajectory = {}, {}
    traj = run_dir / "trajectory.npz"
    if traj.is_file():
        with np.load(traj) as data:
            trajectory = {k: data[k] for k in data.files}
        steps = trajectory.get("step")
        for name, values in trajectory.items():
            if name != "step" and values.ndim == 1 and values.dtype.kind in "fiu":
                metrics[name] = Series(steps if steps is not None and len(steps) == len(values)
                                       else np.arange(len(values)), values)
    result = Result(task=doc["task"], status=doc["status"], message=doc.get("message") or "",
                    final=doc.get("final") or {}, info={k: v for k, v in doc.items() if k not in plain},
                    metrics=metrics)
    files = [p for p in [run_dir / "config.yaml", traj] if p.is_file()]
    files += sorted((run_dir / "plots").glob("*")) if (run_dir / "plots").is_dir() else []
    return result, files


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m runner.tracking upload RUN_OR_SWEEP_DIR... [--uri URI]``"""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="python -m runner.tracking",
                                     description="Record run directories whose MLflow record failed.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upload", help="record a run directory (or a sweep's job directories) in MLflow")
    up.add_argument("dirs", nargs="+", type=Path)
    up.add_argument("--uri", help="the store (default: the run's tracking.uri)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.dirs:
        try:
            for run_dir, run_id in upload(path, args.uri):
                print(f"recorded {run_dir} as MLflow run {run_id}", flush=True)
        except Exception as e:
            failed += 1
            print(f"calclab: error: {e if isinstance(e, ConfigError) else f'{type(e).__name__}: {e}'}",
                  file=sys.stderr, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
