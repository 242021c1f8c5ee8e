"""Ctrl-C and SIGTERM: a stop, not a crash.

SIGTERM (what Kubernetes, SLURM, Ray and ``docker stop`` send first) is treated as Ctrl-C;
the exit code says which it was (130 for SIGINT, 143 for SIGTERM: 128 + the signal number).

A single run (``python -m runner``, :func:`install` without a sweep): the signal interrupts
the task while it computes (it ends KILLED and keeps what it computed: trajectory, outputs,
MLflow run) and anything before it; once the task has returned, the run directory and the
MLflow run are completed first (:func:`finishing`) and the run then exits with the signal's
code.  A second signal stops at once.

In a multirun: the running jobs end KILLED and keep what they computed, the jobs not
started yet are not run, the summary is written and the parent run ends KILLED.  A
second signal stops at once (the parent run is still ended KILLED, by runner.sweep.callback's exit hook).

The terminal sends Ctrl-C to every process of the sweep: the sweeping process and the joblib
workers (they share its process group).  Each installs :func:`install`'s handler, which marks
the sweep interrupted (a file in its directory, seen by all of them) and interrupts only a
task that is computing (:func:`computing`); anywhere else -- the sweeping process waiting for
its workers, a worker between jobs -- the first Ctrl-C raises nothing, so no worker dies and
no finished result is lost.  Jobs that start after it see the mark and return at once
(:func:`runner.app.main`).  SIGTERM (``kill PID``) is handled the same way.  Single runs keep
Python's own handling.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

MARK = "interrupted"
NOT_RUN = "not run: the sweep was interrupted"   # the message of a job that started after it

_sweep_dir: Optional[Path] = None
_computing = False
_finishing = False
_presses = 0
_signal: Optional[int] = None     # the last stop signal received


def install(sweep_dir=None) -> None:
    """Handle Ctrl-C and SIGTERM in this process as described above: for the sweep in
    ``sweep_dir``, or for a single run when it is None (the main thread only: Python
    delivers signals there)."""
    global _sweep_dir
    _sweep_dir = Path(sweep_dir) if sweep_dir is not None else None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)


def clear(sweep_dir) -> None:
    """A new sweep in ``sweep_dir`` (a re-run with skip_finished): forget an earlier Ctrl-C."""
    (Path(sweep_dir) / MARK).unlink(missing_ok=True)


def interrupted(sweep_dir) -> bool:
    return sweep_dir is not None and (Path(sweep_dir) / MARK).exists()


@contextmanager
def computing():
    """Around a task's computation: Ctrl-C interrupts it (the task keeps what it computed)."""
    global _computing
    _computing = True
    try:
        yield
    finally:
        _computing = False


@contextmanager
def finishing():
    """Around writing a finished task's outputs and MLflow run: a single run's first signal
    waits until they are complete (:func:`received` tells afterwards)."""
    global _finishing
    _finishing = True
    try:
        yield
    finally:
        _finishing = False


def begin() -> None:
    """A new single run in this process (the notebook API, a test): forget a signal an earlier
    run received, so that its exit code and messages are not this run's."""
    global _presses, _signal
    _presses = 0
    _signal = None


def received() -> Optional[int]:
    """The stop signal this process received, if any."""
    return _signal


def exit_code() -> int:
    """128 + the signal's number: 130 after Ctrl-C (also when none was recorded), 143 after SIGTERM."""
    return 128 + int(_signal or signal.SIGINT)


def reason() -> str:
    """How the last stop came, in the user's words."""
    return "terminated by SIGTERM" if _signal == signal.SIGTERM else "interrupted by the user"


def verb() -> str:
    """The same, short: 'interrupted' (Ctrl-C) or 'terminated by SIGTERM'."""
    return "terminated by SIGTERM" if _signal == signal.SIGTERM else "interrupted"


def _on_signal(signum, frame) -> None:
    global _presses, _signal
    _presses += 1
    _signal = signum
    if _sweep_dir is not None:
        try:
            (_sweep_dir / MARK).touch()
        except OSError:
            pass
    single_and_idle = _sweep_dir is None and not _finishing
    if _computing or _presses > 1 or single_and_idle:
        raise KeyboardInterrupt
