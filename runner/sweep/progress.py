"""A sweep's progress: as its jobs end, a line with how many are done and the time left,
``[sweep] 5/32 jobs done, ~40 s left`` (not with ``quiet=true``).

Hydra runs a job's ``on_job_end`` callback in the process that ran the job: the sweeping
process with the basic launcher, a worker with joblib (whose copy of the callback cannot count
for the sweep), and the joblib launcher hands the sweeping process the jobs' returns only once
every job has ended.  So each job's end is recorded in the sweep directory, one file per job
in :data:`DONE_DIR` (:func:`job_ended`, wherever the job ran), and the sweeping process counts
those files (:class:`SweepProgress`): right after each job it ran itself, and every
:data:`POLL_SECONDS` from a thread while workers run them.  The number of jobs is what the
sweeper is about to launch (:func:`expect`); the clock starts then, after the kernels' warm-up.
The time left is the mean wall time per job ended so far (with parallel workers: per job
ended, not per job) times the jobs left.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Optional

DONE_DIR = ".jobs_done"
EXPECTED_FILE = "expected.json"
POLL_SECONDS = 0.5


def expect(sweep_dir, jobs: int) -> None:
    """The sweeper is about to launch ``jobs`` jobs into ``sweep_dir``: the clock starts."""
    folder = Path(sweep_dir) / DONE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / EXPECTED_FILE).write_text(json.dumps({"jobs": int(jobs), "started": time.time()}))


def job_ended(sweep_dir, job: int) -> None:
    """Job number ``job`` of the sweep in ``sweep_dir`` has ended (however it ended)."""
    folder = Path(sweep_dir) / DONE_DIR
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(int(job))).touch()


def line(done: int, jobs: int, elapsed: float) -> str:
    """The progress line after ``done`` of ``jobs`` jobs ended in ``elapsed`` seconds."""
    if done >= jobs:
        return f"[sweep] {done}/{jobs} jobs done in {duration(elapsed)}"
    left = elapsed / max(done, 1) * (jobs - done)
    return f"[sweep] {done}/{jobs} jobs done, ~{duration(left)} left"


def duration(seconds: float) -> str:
    """Seconds in the unit a reader wants: 40 s, 12 min, 3.5 h."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class SweepProgress:
    """Counts the ended jobs of the sweep in ``sweep_dir`` and prints :func:`line` whenever the
    count has grown (one line per job when they end one at a time)."""

    def __init__(self, sweep_dir, enabled: bool = True):
        self.folder = Path(sweep_dir) / DONE_DIR
        self.enabled = enabled
        self.shown = 0
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread: Optional[threading.Thread] = None

    def start(self) -> None:
        """Forget an earlier sweep's ends in this directory (a re-run) and watch for new ones."""
        if self.folder.is_dir():
            for old in self.folder.iterdir():
                old.unlink(missing_ok=True)
        if self.enabled:
            self.thread = threading.Thread(target=self._watch, name="calclab-sweep-progress", daemon=True)
            self.thread.start()

    def poll(self) -> None:
        """Print the line if more jobs have ended than were shown (and the total is known)."""
        if not self.enabled:
            return
        with self.lock:
            try:
                expected = json.loads((self.folder / EXPECTED_FILE).read_text())
                done = sum(1 for p in self.folder.iterdir() if p.name.isdigit())
            except (OSError, ValueError):     # no sweeper said how many jobs (or not yet)
                return
            if done > self.shown:
                self.shown = done
                print(line(done, expected["jobs"], time.time() - expected["started"]), flush=True)

    def stop(self) -> None:
        """Every job has returned: a last look, then stop watching."""
        self.stopped.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
        self.poll()

    def _watch(self) -> None:
        while not self.stopped.wait(POLL_SECONDS):
            self.poll()
