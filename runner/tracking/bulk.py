"""A batch of a sweep's jobs recorded in bulk: every job an MLflow child run of the sweep's
parent, written by a thread of the sweeping process while the next batch computes.

Per job, three calls of MLflow's public client API and no per-point call: ``create_run`` (its
tags, name and start time), ``log_batch`` (its params and its curves, each downsampled to
``curve_points`` points, in MLflow's chunks of at most 1000 entities) and ``set_terminated``
(its status).  The job's full trajectory is not an artifact of the child run: all the jobs'
trajectories go into one file of the parent run (:mod:`runner.tracking.archive`).  Each job's
run id reaches ``on_created`` (the sweep writes it into the job's result.json).
"""
from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Callable, List, Optional

from runner.tracking.messages import RunRecord

MAX_ENTITIES = 1000     # MLflow's limit on params + metrics + tags in one log_batch


class BulkWriter:
    """Record :class:`RunRecord` s as child runs, in a background thread, in the order given."""

    def __init__(self, curve_points: int) -> None:
        self.curve_points = curve_points
        self.errors: List[str] = []
        self._queue: "queue.Queue" = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="calclab-bulk-runs", daemon=True)
        self._thread.start()

    def submit(self, record: RunRecord, on_created: Callable[[Optional[str]], None]) -> None:
        self._queue.put((record, on_created))

    def close(self) -> List[str]:
        """Wait until every submitted run is complete; the lines of those that could not be."""
        self._queue.put(None)
        self._thread.join()
        return self.errors

    def _serve(self) -> None:
        client = None
        while True:
            item = self._queue.get()
            if item is None:
                return
            record, on_created = item
            run_id = None
            try:
                if client is None:
                    from runner.tracking.store import client_for

                    client = client_for(record.parent["tracking_uri"])
                run_id = write_run(client, record, self.curve_points)
            except Exception as e:     # the job's result is on disk; say why MLflow has no copy
                self.errors.append(f"job {' '.join(record.overrides)}: MLflow logging failed "
                                   f"({type(e).__name__}: {e})")
            finally:
                on_created(run_id)


def write_run(client, record: RunRecord, curve_points: int) -> str:
    """One job's child run: created, params and downsampled curves in bulk, terminated."""
    from mlflow.entities import Metric, Param
    from omegaconf import OmegaConf

    from runner.tracking.store import MLFLOW_STATUS, default_run_name, downsample, flatten, run_tags, store_lock

    result, uri = record.result, record.parent["tracking_uri"]
    tags = run_tags(record.cfg, result, record.overrides)
    tags["mlflow.parentRunId"] = record.parent["parent_run_id"]
    params = [Param(k, v) for k, v in flatten(OmegaConf.to_container(record.cfg, resolve=True)).items()]
    stamp = int(record.finished * 1000)
    metrics = []
    for name, series in result.metrics.items():
        steps, values = downsample(series.steps, series.values, curve_points)
        metrics += [Metric(name, float(v), stamp, int(s)) for s, v in zip(steps, values)]
    with store_lock(uri):
        run_id = client.create_run(record.parent["experiment_id"], start_time=int(record.started * 1000), tags=tags,
                                   run_name=default_run_name(record.cfg, record.overrides)).info.run_id
        status = "FAILED"
        try:
            while params or metrics:
                p, params = params[:100], params[100:]
                room = MAX_ENTITIES - len(p)
                m, metrics = metrics[:room], metrics[room:]
                client.log_batch(run_id, metrics=m, params=p)
            for path in record.files:      # a small batch's per-job files (sweep.job_plots)
                sub = "plots" if Path(path).parent.name == "plots" else None
                client.log_artifact(run_id, str(path), artifact_path=sub)
            status = MLFLOW_STATUS[result.status]
        finally:
            client.set_terminated(run_id, status, end_time=int(time.time() * 1000))
    return run_id
