"""Long kernel work in calls of about :data:`CHUNK_SECONDS` each, with a progress bar.

A numba kernel holds the interpreter until it returns: no bar moves and a Ctrl-C waits for
it.  The descent (runner.descent) and the integrators (runner.integrate) therefore call their
kernels on pieces of the work, sized by :func:`call_sizes` so that each call takes about
CHUNK_SECONDS, and advance a bar (:func:`progress_bar`) between the calls; a Ctrl-C raises
between two calls, where what was computed is whole.  The pieces never change a number: the
kernels carry all their state explicitly and draw random numbers from counter-based streams.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

CHUNK_SECONDS = 0.2      # target wall time of one kernel call (progress, Ctrl-C)


def call_sizes(first: int, least: int, most: int, seconds: float = CHUNK_SECONDS) -> Iterator[int]:
    """The size (units of work) of each next kernel call: ``first``, then scaled by how long the
    previous call took (the time between two ``next``) towards ``seconds`` per call, growing at
    most 4x a call, within [least, most]."""
    size = first
    while True:
        tic = time.perf_counter()
        yield size
        spent = time.perf_counter() - tic
        size = int(min(max(size * min(4.0, seconds / max(spent, 1e-6)), least), most))


@contextmanager
def progress_bar(progress: Optional[Callable], total: int, desc: str, shown: bool = True):
    """A bar of ``total`` units from ``progress(total, desc)`` (``TaskContext.progress``; it
    may return None) when ``shown``, closed on the way out; yields ``advance(units)``, which does
    nothing when there is no bar."""
    bar = progress(total, desc) if shown and progress is not None else None
    try:
        yield bar.update if bar is not None else _nothing
    finally:
        if bar is not None:
            bar.close()


def _nothing(units: int) -> None:
    return None
