"""MLflow logging from a forked helper process that gets MLflow ready while the task runs.

A single run spends more time preparing MLflow (``import mlflow`` and its SQLAlchemy store,
opening the database, finding the experiment: ~2 s here) than a short task spends computing.
On Linux, ``python -m runner`` forks a helper at start-up (:meth:`TrackingWorker.prestart`,
before Hydra is imported); the helper imports MLflow on the second core while Hydra composes
and the config is validated, opens the store and the experiment once the run is known to be
valid and tracked, and waits while the task runs.  When the run directory is written, :meth:`TrackingWorker.log`
sends it the result and it records the run with :func:`runner.tracking.record_run` -- the
same code as the in-process path -- and answers with the run id.

A multirun's own MLflow run is made the same way: for ``-m`` the helper is forked too, and
the sweep (:mod:`runner.sweep`) has it create the store, the experiment and the parent run
while the kernels load (:meth:`TrackingWorker.start_sweep`), then record the jobs' child runs,
which the jobs send it through a local socket (:func:`log_through`: the basic launcher's
in-process jobs and the joblib workers alike, so none of them imports MLflow, ~2 s of CPU
each), and at the end log the summary and end the parent run.  A job that cannot reach it
(a Ray worker on another machine, a helper that is gone) logs in-process as before.

Nothing changes for the user: no MLflow run exists until the task has finished, the run is
always terminated, a bad config never reaches the helper, and errors come back as one line.
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
from typing import Optional

OPEN, LOG, CALL, SWEEP, ABORT = "open", "log", "call", "sweep", "abort"
MULTIRUN = {"-m", "--multirun"}
NOT_A_RUN = {"-h", "--help", "--hydra-help", "-c", "--shell-completion", "--version", "-i"}


def can_fork() -> bool:
    return sys.platform.startswith("linux") and "mlflow" not in sys.modules


def _serve(conn, parent_end) -> None:
    """The helper: import MLflow, then serve the parent's messages until it closes the pipe:
    OPEN the store (no answer), LOG the run into it (answered, then done), or CALL a function
    of :mod:`runner.tracking` by name (a sweep's parent run; each answered)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_end.close()      # the fork copied it: keep it open and a dead parent's EOF never comes
    try:
        from runner import tracking

        _, imported = _attempt(None, tracking.import_store_modules)   # reported when the parent asks
        opened, error = None, imported
        while True:
            msg = conn.recv()
            if msg[0] == OPEN:
                opened, error = _attempt(error, tracking.open_store, *msg[1:])
            elif msg[0] == LOG:
                run_id, error = _attempt(error, lambda: tracking.record_run(*opened, *msg[1:]))
                conn.send(("ok", run_id) if error is None else ("error", error))
                return
            elif msg[0] == CALL:
                value, failed = _attempt(imported, getattr(tracking, msg[1]), *msg[2:])
                conn.send(("ok", value) if failed is None else ("error", failed))
            elif msg[0] == SWEEP:
                value, failed = _attempt(imported, _start_sweep, *msg[1:])
                conn.send(("ok", value) if failed is None else ("error", failed))
            else:
                return
    except (EOFError, OSError):      # the parent went away: create nothing, say nothing
        return


def _start_sweep(*parent_args):
    """In the helper: create the sweep's parent run (runner.tracking.start_parent), then record
    the child runs its jobs send (:func:`log_through`) through a local socket, one at a time, in
    threads beside the parent's pipe.  Returns the parent record with the socket's address and
    key, for the jobs."""
    import threading
    from multiprocessing.connection import Listener

    from runner import tracking

    parent = tracking.start_parent(*parent_args)
    client, key = tracking.client_for(parent["tracking_uri"]), os.urandom(16)
    listener = Listener(family="AF_UNIX", authkey=key)    # in a temporary directory of this process
    one_at_a_time = threading.Lock()

    def record(job):
        with job:
            try:
                args = job.recv()
                with one_at_a_time:
                    run_id, error = _attempt(None, tracking.record_run, client, parent["experiment_id"],
                                             parent["tracking_uri"], *args)
                job.send(("ok", run_id) if error is None else ("error", error))
            except (EOFError, OSError):
                pass

    def accept():
        while True:
            try:
                job = listener.accept()
            except OSError:
                return
            except Exception:        # a client that failed the handshake
                continue
            threading.Thread(target=record, args=(job,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return {**parent, "log_address": listener.address, "log_key": key.hex()}


def log_through(parent, tcfg, cfg, result, files, overrides, started, finished) -> Optional[str]:
    """In a sweep's job: have the helper that made ``parent`` record the run; its run id, or None
    if the helper cannot be reached (then the job logs in-process)."""
    from multiprocessing.connection import AuthenticationError, Client

    if not parent.get("log_address"):
        return None
    try:
        conn = Client(parent["log_address"], family="AF_UNIX", authkey=bytes.fromhex(parent["log_key"]))
    except (OSError, EOFError, AuthenticationError):
        return None
    with conn:
        try:
            conn.send((tcfg, cfg, dataclasses.replace(result, plots=[]), [os.path.abspath(f) for f in files], list(overrides),
                       started, finished, parent))
            status, value = conn.recv()
        except (EOFError, OSError):
            raise RuntimeError("the sweep's tracking helper went away while recording the run") from None
    if status != "ok":
        raise value
    return value


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
        runner.sweep); :meth:`claim` hands it over."""
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

    def open(self, uri: str, artifact_root: Optional[str], experiment: str) -> None:
        """Let the helper open the store and get or create the experiment (no run yet)."""
        self._conn.send((OPEN, uri, artifact_root, experiment))
        self._opened = True

    def log(self, tcfg, cfg, result, files, overrides, started, finished) -> str:
        """Record the finished run; returns its MLflow run id or raises the helper's error."""
        sendable = dataclasses.replace(result, plots=[])   # plot closures do not pickle
        self._conn.send((LOG, tcfg, cfg, sendable, [str(f) for f in files], list(overrides),
                         started, finished))
        status, value = self._conn.recv()
        self._process.join()
        self._conn.close()
        if status != "ok":
            raise value
        return value

    def request(self, function: str, *args) -> None:
        """Ask the helper to run ``runner.tracking.<function>(*args)``; :meth:`reply` waits for it."""
        self._conn.send((CALL, function, *args))
        self._opened = True

    def reply(self):
        """What the last :meth:`request` returned; raises what it raised."""
        status, value = self._conn.recv()
        if status != "ok":
            raise value
        return value

    def start_sweep(self, *parent_args) -> None:
        """Ask the helper to create a sweep's parent run and then record its jobs' runs
        (:func:`_start_sweep`); :meth:`reply` gives the parent record."""
        self._conn.send((SWEEP, *parent_args))
        self._opened = True

    def call(self, function: str, *args):
        self.request(function, *args)
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
            self._conn.send((ABORT,))
        except OSError:
            pass
        self._conn.close()
