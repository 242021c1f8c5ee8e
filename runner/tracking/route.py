"""Where a run's record goes: through the helper forked at start-up, through a sweep's
helper, or straight into the store from this process."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

from runner.tracking import store
from runner.tracking.worker import log_through


def log_run(tcfg: store.MlflowTracking, cfg, result, files: Sequence[Path], overrides: Sequence[str],
            started: float, finished: float, parent: Optional[Dict[str, str]] = None, worker=None) -> str:
    """Record ``result`` as one MLflow run; returns its run id.  ``parent`` (from a sweep:
    tracking_uri, experiment_id, parent_run_id) makes it a child run of the sweep's run, recorded
    by the sweep's helper process when it serves one (log_address), else here.
    ``worker`` (a :class:`runner.tracking.worker.TrackingWorker` that has opened the store)
    records it from its own process instead."""
    if worker is not None:
        return worker.log(tcfg, cfg, result, files, overrides, started, finished)
    if parent:
        run_id = log_through(parent, tcfg, cfg, result, files, overrides, started, finished)
        if run_id is not None:
            return run_id
        client = store.client_for(parent["tracking_uri"])
        opened = (client, parent["experiment_id"], parent["tracking_uri"])
    else:
        opened = store.open_store(*store.store_of(tcfg, cfg))
    return store.record_run(*opened, tcfg, cfg, result, files, overrides, started, finished, parent)
