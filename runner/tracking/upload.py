"""Uploading a run directory later: a run whose store failed after its work (``python -m
runner.tracking upload RUN_OR_SWEEP_DIR``) is recorded from what the run wrote."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from runner.errors import ConfigError
from runner.outputs.files import atomic_write
from runner.result import Result
from runner.tracking.check import check_store
from runner.tracking.messages import RunRecord
from runner.tracking.store import SCHEMAS, MlflowTracking, client_for, open_store, record_run, store_of


def upload(path: Path, uri: Optional[str] = None) -> List[Tuple[Path, str]]:
    """Record the run directory ``path`` (or every job directory of a sweep directory) in
    MLflow from what the run wrote: result.json, config.yaml, trajectory.npz (its 1-D series as
    metrics) and plots.  Runs whose result.json already names an MLflow run are skipped.  The
    store is the run's own ``tracking`` config, or ``uri``.  Returns [(run dir, run id)]."""
    from omegaconf import OmegaConf

    from runner.config.validate import validate_group

    path = Path(path)
    dirs = [path] if (path / "result.json").is_file() else sorted(p.parent for p in path.glob("*/result.json"))
    if not dirs:
        raise ConfigError(str(path), "no result.json here or in its subdirectories: not a run or sweep directory")
    done, parents = [], {}
    for run_dir in dirs:
        doc = json.loads((run_dir / "result.json").read_text())
        if doc.get("mlflow_run_id"):
            continue
        cfg = OmegaConf.load(run_dir / "config.yaml")
        node = cfg.get("tracking") or {}
        tcfg = validate_group("tracking", node, SCHEMAS) if node.get("name") == "mlflow" else MlflowTracking()
        tcfg.uri = uri or tcfg.uri
        if run_dir.parent not in parents:     # one look per sweep, not one per job
            parents[run_dir.parent] = _sweep_parent(run_dir.parent, uri)
        parent = parents[run_dir.parent]
        if parent is not None:
            tcfg.uri = parent["tracking_uri"]
        check_store(tcfg)
        overrides_file = run_dir / ".hydra" / "overrides.yaml"
        overrides = [str(o) for o in OmegaConf.load(overrides_file)] if overrides_file.is_file() else []
        finished = (run_dir / "result.json").stat().st_mtime
        started = finished - float(doc.get("wall_s") or 0.0)
        result, files = _result_on_disk(run_dir, doc)
        record = RunRecord(tcfg, cfg, result, [str(f) for f in files], overrides, started, finished, parent)
        if parent is not None:      # a sweep's job: a child of the sweep's parent run, as it would have been
            opened = (client_for(parent["tracking_uri"]), parent["experiment_id"], parent["tracking_uri"])
        else:
            opened = open_store(*store_of(tcfg, cfg), patience=tcfg.busy_timeout)
        run_id = record_run(*opened, record)
        doc["mlflow_run_id"] = run_id
        doc.pop("mlflow_record_failed", None)
        atomic_write(run_dir / "result.json", json.dumps(doc, indent=2) + "\n")
        done.append((run_dir, run_id))
    return done


def _sweep_parent(sweep_dir: Path, uri: Optional[str]) -> Optional[Dict[str, str]]:
    """The parent run of the sweep in ``sweep_dir`` (its sweep.json), when its jobs are
    uploaded to that sweep's store and the parent run is there."""
    from runner.tracking.messages import parent_of
    from runner.tracking.store import resolve_store

    parent = parent_of(sweep_dir)
    if parent is None or (uri is not None and resolve_store(uri, None)[0] != parent.get("tracking_uri")):
        return None
    try:
        client_for(parent["tracking_uri"]).get_run(parent["parent_run_id"])
    except Exception:       # the parent is not in that store (moved, deleted): a run of its own
        return None
    return parent


def _result_on_disk(run_dir: Path, doc: Dict) -> Tuple[Result, List[Path]]:
    """The Result a run directory describes (metrics: the trajectory's 1-D series) and its files."""
    from runner.result import Series

    plain = {"task", "status", "final", "message", "mlflow_run_id", "wall_s", "files", "mlflow_record_failed"}
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
