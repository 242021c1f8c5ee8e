"""Ctrl-C in a multirun: the running jobs end KILLED and keep what they computed, the jobs not
started yet are not run, the summary is written and the parent run ends KILLED; exit 130.  A
second Ctrl-C stops at once (the parent run is still ended KILLED, by runner.sweep's exit hook).

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
_presses = 0


def install(sweep_dir) -> None:
    """Handle Ctrl-C in this process as described above, for the sweep in ``sweep_dir``
    (the main thread only: Python delivers signals there)."""
    global _sweep_dir
    _sweep_dir = Path(sweep_dir)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)
        signal.signal(signal.SIGTERM, _on_sigint)    # `kill`, a scheduler's stop: handled as Ctrl-C


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


def _on_sigint(signum, frame) -> None:
    global _presses
    _presses += 1
    try:
        (_sweep_dir / MARK).touch()
    except OSError:
        pass
    if _computing or _presses > 1:
        raise KeyboardInterrupt
