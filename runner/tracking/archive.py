"""All the jobs' full trajectories of a batched sweep in one file, ``<sweep dir>/trajectories.npz``
(an artifact of the parent run, under ``summary/``): job N's arrays are the members
``"N/loss"``, ``"N/grad_norm"``, ``"N/params"``, ... (as in a job's trajectory.npz).  Read one
job back with :func:`job_trajectory` (or, from MLflow, :func:`runner.tracking.load_job_trajectory`)::

    python -c "from runner.tracking import load_job_trajectory as L; print(L('PARENT_RUN_ID', 7))"
"""
from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Dict

import numpy as np

ARCHIVE_FILE = "trajectories.npz"


def append(path: Path, jobs: Dict[int, Dict[str, np.ndarray]]) -> None:
    """Add each job's trajectory ({name: array}) to the archive (created if missing)."""
    with zipfile.ZipFile(path, mode="a", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for num, trajectory in jobs.items():
            for name, array in trajectory.items():
                a = np.ascontiguousarray(array)
                with zf.open(f"{num}/{name}.npy", mode="w", force_zip64=True) as fh:
                    # the .npy format by hand: np.lib.format.write_array streams into a non-file
                    # through a 16 MB buffer per array, minutes for a thousand jobs' small arrays
                    np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(a))
                    fh.write(a.tobytes())


def job_trajectory(path, job: int) -> Dict[str, np.ndarray]:
    """Job ``job``'s arrays from an archive, by their names in the job's trajectory."""
    prefix = f"{job}/"
    with np.load(path) as data:
        found = {k[len(prefix):]: data[k] for k in data.files if k.startswith(prefix)}
    if not found:
        raise KeyError(f"job {job} is not in {path}")
    return found
