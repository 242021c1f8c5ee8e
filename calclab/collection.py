"""Runs in an MLflow store, found by their config values (in the spirit of HydraFlow's
RunCollection): filter, then load configs, final metrics and trajectories into pandas."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

EXPERIMENT_PREFIX = "calclab-"


def _same(param: Optional[str], wanted: Any) -> bool:
    """A logged param (always text) against a value as the user writes it: 0.01 matches
    "0.01", True matches "True", a list matches its JSON text."""
    if param is None:
        return False
    if isinstance(wanted, (list, tuple)):
        import json

        return param == json.dumps(list(wanted))
    if isinstance(wanted, bool) or not isinstance(wanted, (int, float)):
        return param == str(wanted)
    try:
        return float(param) == float(wanted)
    except ValueError:
        return False


class Runs(Sequence):
    """A list of MLflow runs (``mlflow.entities.Run``) of one store.  Config keys are the
    composed config's dotted keys (``optim.name``, ``optim.lr``); in keyword arguments write
    ``__`` for the dot (``optim__lr=0.01``)."""

    def __init__(self, runs: List[Any], tracking_uri: str):
        self._runs, self.tracking_uri = list(runs), tracking_uri

    def __getitem__(self, i):
        return Runs(self._runs[i], self.tracking_uri) if isinstance(i, slice) else self._runs[i]

    def __len__(self) -> int:
        return len(self._runs)

    def __repr__(self) -> str:
        return f"Runs({len(self)} runs in {self.tracking_uri})"

    def filter(self, where: Optional[Dict[str, Any]] = None, **kw) -> "Runs":
        """The runs whose config has every given value (a list of values: any of them)."""
        wanted = dict(where or {})
        wanted.update({k.replace("__", "."): v for k, v in kw.items()})

        def keep(run) -> bool:
            params = run.data.params
            for key, value in wanted.items():
                choices = value if isinstance(value, set) else [value]
                if not any(_same(params.get(key), c) for c in choices):
                    return False
            return True

        return Runs([r for r in self._runs if keep(r)], self.tracking_uri)

    def config(self, i: int) -> Dict[str, str]:
        """The ``i``-th run's composed config, flattened to dotted keys (as logged)."""
        return dict(self._runs[i].data.params)

    def to_frame(self, config: Optional[Sequence[str]] = None):
        """One row per run: run_id, status (calclab's: FINISHED, DIVERGED, ...), start time,
        the config (all keys, or those named), and each metric's last value (the final loss,
        grad_norm, estimate, ...)."""
        import pandas as pd

        rows = []
        for run in self._runs:
            params = run.data.params
            keys = config if config is not None else sorted(params)
            row = {"run_id": run.info.run_id, "status": run.data.tags.get("calclab.status", run.info.status),
                   "start_time": pd.to_datetime(run.info.start_time, unit="ms")}
            row.update({k: _number(params.get(k)) for k in keys})
            row.update(run.data.metrics)
            rows.append(row)
        return pd.DataFrame(rows)

    def trajectory(self, i: int) -> Dict[str, Any]:
        """The ``i``-th run's full trajectory (its ``trajectory.npz``) as arrays."""
        from runner.tracking.store import load_trajectory

        return load_trajectory(self._runs[i].info.run_id, self.tracking_uri)

    def trajectories(self, columns: Sequence[str] = ("loss", "grad_norm", "lr")):
        """Every run's per-step trajectory in long form: run_id, step and ``columns``."""
        import pandas as pd

        frames = []
        for i, run in enumerate(self._runs):
            traj = self.trajectory(i)
            if "step" not in traj:
                continue   # a task without steps (analyze, constrained)
            frame = pd.DataFrame({c: traj[c] for c in ("step", *columns) if c in traj})
            frame.insert(0, "run_id", run.info.run_id)
            frames.append(frame)
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _number(text: Optional[str]):
    """A param's text as the number it was, where it was one."""
    if text is None:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def runs(where: Optional[Dict[str, Any]] = None, *, tracking_uri: Optional[str] = None,
         experiment: Optional[str] = None, parents: bool = False, **kw) -> Runs:
    """The runs of a store (``tracking_uri``, else ``$MLFLOW_TRACKING_URI``, else the
    default ``outputs/mlflow.db`` under the current directory, as for the command line),
    newest first, in ``experiment`` (e.g. ``calclab-optimize``; default: every calclab
    experiment), filtered by config values as :meth:`Runs.filter`.  A sweep's parent runs
    are left out unless ``parents=True``."""
    from mlflow.tracking import MlflowClient

    from runner.tracking.store import resolve_store

    uri, _ = resolve_store(tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    names = [experiment] if experiment else None
    ids = [e.experiment_id for e in client.search_experiments()
           if (names is None and e.name.startswith(EXPERIMENT_PREFIX)) or (names and e.name in names)]
    found, token = [], None
    while ids:
        page = client.search_runs(ids, max_results=1000, page_token=token, order_by=["attributes.start_time DESC"])
        found += [r for r in page if parents or r.data.tags.get("calclab.sweep") != "parent"]
        token = page.token
        if not token:
            break
    return Runs(found, uri).filter(where, **kw)
