"""Where a run's record goes: through the helper forked at start-up, through a sweep's
helper, or straight into the store from this process."""
from __future__ import annotations

from runner.tracking import store
from runner.tracking.messages import RunRecord
from runner.tracking.worker import log_through


def log_run(record: RunRecord, worker=None) -> str:
    """Record one run in MLflow; returns its run id.  ``record.parent`` (from a sweep:
    tracking_uri, experiment_id, parent_run_id) makes it a child run of the sweep's run,
    recorded by the sweep's helper process when it serves one (log_address), else here.
    ``worker`` (a :class:`runner.tracking.worker.TrackingWorker` that has opened the store)
    records it from its own process instead."""
    if worker is not None:
        return worker.log(record)
    if record.parent:
        run_id = log_through(record)
        if run_id is not None:
            return run_id
        uri = record.parent["tracking_uri"]
        opened = (store.client_for(uri), record.parent["experiment_id"], uri)
    else:
        opened = store.open_store(*store.store_of(record.tracking, record.cfg))
    return store.record_run(*opened, record)
