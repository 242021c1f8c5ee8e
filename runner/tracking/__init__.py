"""MLflow: what a run records and how it gets there.

``store`` holds the ``tracking`` group's schemas and everything that talks to an MLflow
store: experiments, runs, params, downsampled metrics, artifacts, a sweep's parent run, and
:func:`load_trajectory` to read a run's full trajectory back.  ``worker`` is the helper
process that ``python -m runner`` forks at start-up so that importing MLflow and writing to
the store overlap with the task; ``messages`` names what crosses into tracking (a
``RunRecord``, a sweep's parent-run requests, the helper's protocol); ``route`` decides where
a run's record goes; ``parent`` creates, summarises and ends a sweep's parent run; ``check``
finds a store that cannot take runs before any work; ``orphans`` ends runs a killed process
left RUNNING; ``upload`` records a run directory later.  Tracking only reads a Result; it never decides anything
about a run.  May import: ``runner.result``, ``runner.errors``, ``runner.outputs.files``
(the result.json document), ``runner.config`` (validating an uploaded run's tracking node).
"""


def load_trajectory(run_id: str, tracking_uri=None):
    """A run's full trajectory from its ``trajectory.npz`` artifact (see
    :func:`runner.tracking.store.load_trajectory`); here so that
    ``from runner.tracking import load_trajectory`` works without importing MLflow first."""
    from runner.tracking.store import load_trajectory as load

    return load(run_id, tracking_uri)


def load_job_trajectory(parent_run_id: str, job: int, tracking_uri=None):
    """Job ``job``'s full trajectory from a batched sweep's parent run (its
    ``summary/trajectories.npz``; see runner.tracking.archive)."""
    import mlflow

    from runner.tracking.archive import ARCHIVE_FILE, job_trajectory
    from runner.tracking.store import resolve_store

    uri, _ = resolve_store(tracking_uri)
    path = mlflow.artifacts.download_artifacts(run_id=parent_run_id, artifact_path=f"summary/{ARCHIVE_FILE}",
                                               tracking_uri=uri)
    return job_trajectory(path, job)
