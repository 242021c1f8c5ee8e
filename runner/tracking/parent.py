"""A sweep's parent run: created before its jobs start, given the summary at the end, or
ended KILLED (and deleted if no job ran) when the sweep stops early.  Called in the sweep's
tracking helper (runner.tracking.worker) or, without one, in the sweeping process."""
from __future__ import annotations

import time
from typing import Dict

from runner.tracking import orphans
from runner.tracking.messages import AbandonParent, FinishParent, StartParent
from runner.tracking.store import BUSY_TIMEOUT, client_for, open_store, patiently, store_lock



def start_parent(request: StartParent) -> Dict[str, str]:
    """Open the store (creating its schema), get or create the experiment and create a
    sweep's parent run: {tracking_uri, experiment_id, parent_run_id} for its jobs."""
    client, exp_id, uri = open_store(request.uri, request.artifact_root, request.experiment)
    with store_lock(uri):
        run_id = patiently(BUSY_TIMEOUT, client.create_run, exp_id, run_name=request.name,
                           tags={**request.tags, **orphans.owner_tags()}).info.run_id
        for key, value in request.params.items():
            patiently(BUSY_TIMEOUT, client.log_param, run_id, key, value)
    return {"tracking_uri": uri, "experiment_id": exp_id, "parent_run_id": run_id}


def finish_parent(request: FinishParent) -> None:
    """Log a sweep's summary to its parent run (artifacts under ``summary/``) and end it."""
    from mlflow.entities import Metric, Param, RunTag

    parent = request.parent
    client, run_id, stamp = client_for(parent["tracking_uri"]), parent["parent_run_id"], int(time.time() * 1000)
    with store_lock(parent["tracking_uri"]):
        patiently(BUSY_TIMEOUT, client.log_batch, run_id,
                  metrics=[Metric(k, float(v), stamp, 0) for k, v in request.metrics.items()],
                  params=[Param(k, str(v)) for k, v in request.params.items()],
                  tags=[RunTag(k, v) for k, v in request.tags.items()])
        for path in request.artifacts:
            patiently(BUSY_TIMEOUT, client.log_artifact, run_id, str(path), artifact_path="summary")
        patiently(BUSY_TIMEOUT, client.set_terminated, run_id, request.status)


def abandon_parent(request: AbandonParent) -> None:
    """A sweep that stopped before its end: its parent run ends KILLED, and is deleted too if no
    job ran (it never meant anything; a deleted run still has a status, and it is not RUNNING)."""
    parent = request.parent
    client = client_for(parent["tracking_uri"])
    with store_lock(parent["tracking_uri"]):
        patiently(BUSY_TIMEOUT, client.set_terminated, parent["parent_run_id"], "KILLED")
        if not request.jobs_ran:
            patiently(BUSY_TIMEOUT, client.delete_run, parent["parent_run_id"])


def carry_out(request):
    """A sweep's parent-run request (StartParent, FinishParent or AbandonParent), in this
    process: the helper and the sweep without a helper both come here."""
    handlers = {StartParent: start_parent, FinishParent: finish_parent, AbandonParent: abandon_parent}
    return handlers[type(request)](request)
