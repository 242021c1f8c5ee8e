"""The run directory: trajectory.npz, plots, the composed config, and result.json (last).

``result.json`` is written atomically after everything else, so a reader never sees a
half-written result; its presence means the run directory is complete.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from omegaconf import DictConfig, OmegaConf

from runner.result import Result

RESULT_FILE = "result.json"
TRAJECTORY_FILE = "trajectory.npz"
CONFIG_FILE = "config.yaml"
PLOTS_DIR = "plots"


def json_safe(value):
    """Convert numpy scalars/arrays and non-finite floats to JSON (NaN/inf become null: strict
    JSON has no such numbers, and a string "nan" is not a number a reader can test)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file: a reader sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_artifacts(result: Result, cfg: DictConfig, run_dir: Path) -> List[Path]:
    """Write the trajectory, the composed config and the plots; return the files written."""
    run_dir.mkdir(parents=True, exist_ok=True)
    files = []
    config_path = run_dir / CONFIG_FILE
    atomic_write(config_path, OmegaConf.to_yaml(cfg, resolve=True))
    files.append(config_path)
    if result.trajectory:
        path = run_dir / TRAJECTORY_FILE
        tmp = run_dir / f".trajectory.tmp{os.getpid()}.npz"
        np.savez(tmp, **{k: np.asarray(v) for k, v in result.trajectory.items()})
        os.replace(tmp, path)
        files.append(path)
    if result.plots and _plots_enabled(cfg):
        files.extend(_draw_plots(result, run_dir / PLOTS_DIR))
    return files


def _plots_enabled(cfg: DictConfig) -> bool:
    return bool(OmegaConf.select(cfg, "tracking.plots", default=True))


def _draw_plots(result: Result, plot_dir: Path) -> List[Path]:
    import matplotlib

    from runner.outputs.plots import save

    matplotlib.use("Agg", force=False)
    plot_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, draw in result.plots:
        try:
            fig = draw()
        except Exception as e:  # a plot must never cost the user the run's numbers
            result.tags[f"plot_error.{name}"] = f"{type(e).__name__}: {e}"[:500]
            continue
        path = plot_dir / name
        save(fig, path)   # layout is fixed or constrained: no second, "tight" pass
        written.append(path)
    return written


def result_document(result: Result, run_id: Optional[str], wall_s: float, files: List[str]) -> str:
    """result.json's text: the task, status, info, final numbers, message, MLflow run id, wall
    seconds and the run directory's files (also logged to the MLflow run as an artifact)."""
    doc: Dict[str, object] = {"task": result.task, "status": result.status}
    doc.update(result.info)
    doc["final"] = result.final
    doc["message"] = result.message
    doc["mlflow_run_id"] = run_id
    doc["wall_s"] = round(wall_s, 6)
    doc["files"] = sorted(files)
    return json.dumps(json_safe(doc), indent=2) + "\n"


def write_result_json(result: Result, run_dir: Path, run_id: Optional[str], wall_s: float) -> Path:
    files = [p.name for p in run_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
    path = run_dir / RESULT_FILE
    atomic_write(path, result_document(result, run_id, wall_s, [f for f in files if f != RESULT_FILE]))
    return path
