"""Runs left RUNNING by a process that is gone (SIGKILL, a crash of the machine, the OOM
killer): found and ended KILLED, with the reason, by the next run or sweep in that store.

A signal that can be caught (Ctrl-C, SIGTERM) ends a run as KILLED (``runner.interrupt``);
SIGKILL cannot be caught.  So every run calclab creates RUNNING carries the identity of the
process that owns it (tags ``calclab.host``, ``calclab.pid``, ``calclab.pid_start``: the
process's start time, so a recycled pid is not mistaken for the owner).  When a run or sweep
opens the store, :func:`end_orphans` looks at the experiment's RUNNING runs owned by a
process of this host and ends those whose process no longer exists, once (they are no
longer RUNNING afterwards).  Runs owned by another host are left alone: their process cannot
be seen from here.
"""
from __future__ import annotations

import os
import socket
from typing import Dict, List, Optional

HOST, PID, PID_START = "calclab.host", "calclab.pid", "calclab.pid_start"
REASON = "calclab.message"


def process_start(pid: int) -> Optional[str]:
    """The start time of process ``pid`` (clock ticks since boot, /proc/PID/stat field 22), or
    None if there is no such process (or no /proc to ask)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def owner_tags() -> Dict[str, str]:
    """The tags that name this process as a run's owner."""
    pid = os.getpid()
    return {HOST: socket.gethostname(), PID: str(pid), PID_START: process_start(pid) or ""}


def is_gone(tags: Dict[str, str]) -> bool:
    """True when the run's owner was a process of this host that no longer exists."""
    if tags.get(HOST) != socket.gethostname() or not tags.get(PID, "").isdigit():
        return False
    start = process_start(int(tags[PID]))
    return start is None or (bool(tags.get(PID_START)) and start != tags[PID_START])


def end_orphans(client, experiment_id: str) -> List[str]:
    """End KILLED, with the reason as a tag, the experiment's RUNNING runs whose owner process
    on this host is gone; returns their run ids."""
    host = socket.gethostname().replace("'", "")
    runs = client.search_runs([experiment_id],
                              filter_string=f"attributes.status = 'RUNNING' and tags.`{HOST}` = '{host}'",
                              max_results=1000)
    ended = []
    for run in runs:
        tags = run.data.tags
        if not is_gone(tags):
            continue
        client.set_tag(run.info.run_id, REASON,
                       f"orphaned: its process (pid {tags[PID]} on {tags[HOST]}) ended without closing the run "
                       f"(killed by SIGKILL or a crash); marked KILLED by a later run")
        client.set_terminated(run.info.run_id, "KILLED")
        ended.append(run.info.run_id)
    return ended
