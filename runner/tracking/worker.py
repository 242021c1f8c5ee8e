"""MLflow logging from a forked helper process that gets MLflow ready while the task runs.

A single run spends more time preparing MLflow (``import mlflow`` and its SQLAlchemy store,
opening the database, finding the experiment: ~2 s here) than a short task spends computing.
On Linux, ``python -m runner`` forks a helper at start-up (:meth:`TrackingWorker.prestart`,
before Hydra is imported); the helper imports MLflow on the second core while Hydra composes
and the config is validated, opens the store and the experiment once the run is known to be
valid and tracked, and waits while the task runs.  When the run directory is written, :meth:`TrackingWorker.log`
sends it the result and it records the run with :func:`runner.tracking.store.record_run` -- the
same code as the in-process path -- and answers with the run id.

A multirun's own MLflow run is made the same way: for ``-m`` the helper is forked too, and
the sweep (:mod:`runner.sweep.callback`) has it create the store, the experiment and the parent run
while the kernels load (:meth:`TrackingWorker.start_sweep`), then record the jobs' child runs,
which the jobs send it through a local socket (:func:`log_through`: the basic launcher's
in-process jobs and the joblib workers alike, so none of them imports MLflow, ~2 s of CPU
each), and at the end log the summary and end the parent run.  A job waits only for its
child run to be created (:class:`_Recorder`): the helper writes its params, metrics and
artifacts while the next job runs, and the parent run is ended only once every child run is
complete.  A job that cannot reach it (a Ray worker on another machine, a helper that is
gone) logs in-process as before.

Nothing changes for the user: no MLflow run exists until the task has finished, the run is
always terminated (a sweep's helper completes the runs its jobs sent before it exits, even
if the sweeping process died), a bad config never reaches the helper, and errors come back
as one line.
The helper ignores Ctrl-C (the parent turns an interrupt into a KILLED result and sends it);
if the parent dies, the helper sees the pipe close and exits without creating a run.  It is
used only where forking is safe: Linux, and a process that has not yet imported MLflow (so
no open database connection is inherited).  ``tracking.fork=false`` turns it off.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Optional

from runner.tracking.messages import (PARENT_REQUESTS, Abort, AbandonParent, FinishParent, LogRun, OpenStore,
                                      RunRecord, StartParent, StartSweep, WaitForRuns)

MULTIRUN = {"-m", "--multirun"}
NOT_A_RUN = {"-h", "--help", "--hydra-help", "-c", "--shell-completion", "-sc", "--version", "-i"}


def can_fork() -> bool:
    return sys.platform.startswith("linux") and "mlflow" not in sys.modules


def _serve(conn, parent_end) -> None:
    """The helper: import MLflow, then serve the parent's messages (runner.tracking.messages)
    until it closes the pipe: OpenStore (no answer), LogRun into it (answered, then done), a
    parent-run request (StartParent, FinishParent, AbandonParent; each answered), StartSweep
    (create a sweep's parent run and record its jobs' runs) or WaitForRuns (answered with the
    runs that failed).  Before a parent-run request and before it exits, it waits for the
    sweep's runs to be complete."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)   # a scheduler stopping the group: the parent records the run
    parent_end.close()      # the fork copied it: keep it open and a dead parent's EOF never comes
    try:
        from runner.tracking import parent as parent_runs
        from runner.tracking import store as tracking

        _, imported = _attempt(None, tracking.import_store_modules)   # reported when the parent asks
        opened, error = None, imported
        while True:
            msg = conn.recv()
            if isinstance(msg, OpenStore):
                opened, error = _attempt(error, tracking.open_store, msg.uri, msg.artifact_root, msg.experiment,
                                         msg.patience)
            elif isinstance(msg, LogRun):
                run_id, error = _attempt(error, lambda: tracking.record_run(*opened, msg.record))
                conn.send(("ok", run_id) if error is None else ("error", error))
                return
            elif isinstance(msg, PARENT_REQUESTS):
                _wait_for_runs()
                value, failed = _attempt(imported, parent_runs.carry_out, msg)
                if failed is None and isinstance(msg, (FinishParent, AbandonParent)) and _recorder is not None:
                    _recorder.parent_ended = True
                conn.send(("ok", value) if failed is None else ("error", failed))
            elif isinstance(msg, StartSweep):
                value, failed = _attempt(imported, _start_sweep, msg.request)
                conn.send(("ok", value) if failed is None else ("error", failed))
            elif isinstance(msg, WaitForRuns):
                conn.send(("ok", _wait_for_runs()))
            else:                    # Abort
                return
    except (EOFError, OSError):      # the parent went away: create nothing, say nothing
        return
    finally:
        _wait_for_runs()             # the runs its jobs sent are completed, whatever happened
        _end_open_parent()


def _end_open_parent() -> None:
    """The sweeping process went away (SIGTERM, SIGKILL, a crash) without ending its parent
    run: end it KILLED here, so no run is left RUNNING."""
    if _recorder is not None and not _recorder.parent_ended:
        from runner.tracking import parent as parent_runs

        _attempt(None, parent_runs.abandon_parent, AbandonParent(_recorder.parent, True))
        _recorder.parent_ended = True


def _wait_for_runs() -> list:
    return [] if _recorder is None else _recorder.wait()


def _start_sweep(request: StartParent):
    """In the helper: create the sweep's parent run (runner.tracking.parent.start_parent), then record
    the child runs its jobs send (:func:`log_through`) through a local socket, in threads beside
    the parent's pipe (:class:`_Recorder`).  Returns the parent record with the socket's address
    and key, for the jobs."""
    global _recorder
    from multiprocessing.connection import Listener

    from runner.tracking import parent as parent_runs
    from runner.tracking import store as tracking

    parent = parent_runs.start_parent(request)
    key = os.urandom(16)
    listener = Listener(family="AF_UNIX", authkey=key)    # in a temporary directory of this process
    _recorder = _Recorder(parent, tracking.client_for(parent["tracking_uri"]))

    def accept():
        while True:
            try:
                job = listener.accept()
            except OSError:
                return
            except Exception:        # a client that failed the handshake
                continue
            threading.Thread(target=_recorder.record, args=(job,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return {**parent, "log_address": listener.address, "log_key": key.hex()}


MAX_BEHIND = 2      # a sweep's runs created and not yet complete; the next job waits for one to end


class _Recorder:
    """A sweep's child runs, recorded in the helper.  A job waits only for its run to be created
    (its id goes into the job's result.json); the params, metrics and artifacts are written
    after the job has moved on, while the next job computes.  Store writes take turns (one at
    a time, under the store's file lock), and a job waiting for its run goes before the writes
    nobody waits for, so it waits for one short write at most.  At most :data:`MAX_BEHIND` runs
    are incomplete at a time (a job past that waits: the results queued here stay small).
    :meth:`wait` ends the queue before a sweep's parent run is ended, and the helper waits for
    it before it exits, so no child run is left RUNNING."""

    def __init__(self, parent, client):
        self.parent, self.client = parent, client
        self.cond = threading.Condition()
        self.busy = False       # a store write under way
        self.waiting = 0        # jobs waiting to create their run
        self.behind = 0         # runs created (or about to be) and not yet complete
        self.errors = []        # runs that could not be completed, one line each
        self.parent_ended = False   # the sweep's parent run was finished or abandoned

    @contextmanager
    def _turn(self, job_waits: bool):
        from runner.tracking import store as tracking

        with self.cond:
            self.waiting += job_waits
            self.cond.wait_for(lambda: not self.busy and (job_waits or not self.waiting))
            self.waiting -= job_waits
            self.busy = True
        try:
            with tracking.store_lock(self.parent["tracking_uri"]):
                yield
        finally:
            with self.cond:
                self.busy = False
                self.cond.notify_all()

    def record(self, job) -> None:
        """One job's connection: create its run and answer with the run id, then complete it."""
        from runner.tracking import store as tracking

        with job:
            try:
                record: RunRecord = job.recv()
            except (EOFError, OSError):
                return
            with self.cond:
                self.cond.wait_for(lambda: self.behind < MAX_BEHIND)
                self.behind += 1
            try:
                with self._turn(job_waits=True):
                    record.parent = self.parent
                    run_id, error = _attempt(None, tracking.create_run, self.client, self.parent["experiment_id"],
                                             record)
                try:
                    job.send(("ok", run_id) if error is None else ("error", error))
                except OSError:      # the job is gone: its run is still completed
                    pass
                if error is None:
                    _, failed = _attempt(None, tracking.fill_run, self.client, run_id, record,
                                         lambda: self._turn(job_waits=False))
                    if failed is not None:
                        self.errors.append(f"MLflow run {run_id} ({' '.join(record.overrides) or 'defaults'}) ended FAILED: "
                                           f"{type(failed).__name__}: {failed}")
            finally:
                with self.cond:
                    self.behind -= 1
                    self.cond.notify_all()

    def wait(self) -> list:
        """Once every run sent so far is complete: the lines of those that could not be."""
        with self.cond:
            self.cond.wait_for(lambda: self.behind == 0)
            errors, self.errors = self.errors, []
        return errors


_recorder: Optional[_Recorder] = None


def log_through(record: RunRecord) -> Optional[str]:
    """In a sweep's job: have the helper that made ``record.parent`` record the run; its run id,
    or None if the helper cannot be reached (then the job logs in-process)."""
    from multiprocessing.connection import AuthenticationError, Client

    parent = record.parent
    if not parent.get("log_address"):
        return None
    try:
        conn = Client(parent["log_address"], family="AF_UNIX", authkey=bytes.fromhex(parent["log_key"]))
    except (OSError, EOFError, AuthenticationError):
        return None
    with conn:
        try:
            conn.send(_sendable(record))
            status, value = conn.recv()
        except (EOFError, OSError):
            raise RuntimeError("the sweep's tracking helper went away while recording the run") from None
    if status != "ok":
        raise value
    return value


def _sendable(record: RunRecord) -> RunRecord:
    """``record`` as a run or a sweep's job sends it to the helper: absolute file paths, and a
    result with no plots (closures do not pickle) and each metric series already downsampled
    as MLflow will get it (runner.tracking.store.downsample: the same points, computed before
    sending, and a small message however long the run)."""
    from runner.result import Series
    from runner.tracking.store import downsample

    result, max_points = record.result, record.tracking.max_points
    metrics = {name: Series(*downsample(s.steps, s.values, max_points)) for name, s in result.metrics.items()}
    return dataclasses.replace(record, result=dataclasses.replace(result, plots=[], metrics=metrics),
                               files=[os.path.abspath(f) for f in record.files], overrides=list(record.overrides))


def _attempt(error, step, *args):
    """(step(*args), None); or (None, the error) if it raised or an earlier step had failed."""
    if error is not None:
        return None, error
    try:
        return step(*args), None
    except Exception as e:
        return None, _portable(e)


def _portable(e: Exception) -> Exception:
    """The exception itself if it survives pickling, else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:
        return RuntimeError(f"{type(e).__name__}: {e}")


class TrackingWorker:
    """The parent's handle on the helper process (see the module docstring)."""

    _unclaimed: Optional["TrackingWorker"] = None

    def __init__(self, process, conn):
        self._process = process
        self._conn = conn
        self._opened = False

    @classmethod
    def prestart(cls, argv) -> None:
        """Fork the helper at process start, before Hydra is even imported, when the command
        line may be a tracked run or a multirun (whose parent run it creates and ends:
        runner.sweep.callback); :meth:`claim` hands it over."""
        multirun = any(a in MULTIRUN for a in argv)
        if any(a in NOT_A_RUN or a.startswith(("--cfg", "--info")) for a in argv) or \
                (not multirun and any(a.startswith("hydra/launcher") for a in argv)):
            return
        cls._unclaimed = cls.start()

    @classmethod
    def claim(cls) -> Optional["TrackingWorker"]:
        worker, cls._unclaimed = cls._unclaimed, None
        return worker

    @classmethod
    def discard_unclaimed(cls) -> None:
        worker = cls.claim()
        if worker is not None:
            worker.close()

    @classmethod
    def start(cls, force: bool = False) -> Optional["TrackingWorker"]:
        """Fork the helper, or return None where that is not safe (then log in-process).
        ``force`` skips the check that MLflow is not imported yet (tests)."""
        if not (can_fork() or (force and sys.platform.startswith("linux"))):
            return None
        import multiprocessing

        ctx = multiprocessing.get_context("fork")
        parent_end, child_end = ctx.Pipe()
        for stream in (sys.stdout, sys.stderr):   # a buffer copied into the child would print twice
            stream.flush()
        process = ctx.Process(target=_serve, args=(child_end, parent_end), name="calclab-tracking", daemon=False)
        process.start()
        child_end.close()
        return cls(process, parent_end)

    def open(self, uri: str, artifact_root: Optional[str], experiment: str, patience: float = 60.0) -> None:
        """Let the helper open the store and get or create the experiment (no run yet), waiting
        up to ``patience`` seconds while the store is busy (runner.tracking.store.patiently)."""
        self._conn.send(OpenStore(uri, artifact_root, experiment, patience))
        self._opened = True

    def log(self, record: RunRecord) -> str:
        """Record the finished run; returns its MLflow run id or raises the helper's error."""
        self._conn.send(LogRun(_sendable(record)))
        status, value = self._conn.recv()
        self._process.join()
        self._conn.close()
        if status != "ok":
            raise value
        return value

    def request(self, request) -> None:
        """Send the helper a parent-run request (runner.tracking.messages: StartParent,
        FinishParent, AbandonParent); :meth:`reply` waits for its answer."""
        self._conn.send(request)
        self._opened = True

    def reply(self):
        """What the last :meth:`request` returned; raises what it raised."""
        status, value = self._conn.recv()
        if status != "ok":
            raise value
        return value

    def start_sweep(self, request: StartParent) -> None:
        """Ask the helper to create a sweep's parent run and then record its jobs' runs
        (:func:`_start_sweep`); :meth:`reply` gives the parent record."""
        self._conn.send(StartSweep(request))
        self._opened = True

    def wait_for_runs(self) -> list:
        """Wait until the sweep's child runs sent so far are complete in MLflow (the helper
        writes them after their jobs have moved on); one line for each that could not be."""
        self._conn.send(WaitForRuns())
        return self.reply()

    def call(self, request):
        self.request(request)
        return self.reply()

    def close(self) -> None:
        """The run will not be logged (bad input found by the task, an interrupt while
        waiting): tell the helper to go.  It is not waited for here, so an error message is
        not held up; it exits once its current step (an import, opening the store) is done,
        and multiprocessing joins it when the interpreter exits."""
        if self._conn.closed:
            return
        if not self._opened:              # still importing, the store untouched: stop it now
            self._conn.close()
            self._process.kill()
            self._process.join()
            return
        try:
            self._conn.send(Abort())
        except OSError:
            pass
        self._conn.close()
