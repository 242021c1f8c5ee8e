"""A sweep's summary, read from its directory: one record per job (overrides and
result.json), the table printed and written to ``summary.csv``, the best job, and the
comparison plots (final loss by each swept key, every job's loss curve)."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import OmegaConf

from runner.sweep.heatmap import log_spaced, numeric_value

SUMMARY_KEYS = ("loss", "grad_norm", "estimate", "standard_error", "abs_error", "error_slope", "accuracy", "value")


def job_records(sweep_dir: Path) -> List[Dict[str, Any]]:
    """One record per finished job directory: its overrides and its result.json."""
    rows = []
    for result_json in sorted(Path(sweep_dir).glob("*/result.json"), key=lambda p: _job_number(p.parent)):
        doc = json.loads(result_json.read_text())
        overrides_file = result_json.parent / ".hydra" / "overrides.yaml"
        overrides = list(OmegaConf.load(overrides_file)) if overrides_file.is_file() else []
        rows.append({"job": _job_number(result_json.parent), "dir": str(result_json.parent),
                     "overrides": [str(o) for o in overrides], "result": doc})
    return rows


def job_trajectory(row, sweep_dir: Path) -> Optional[Dict[str, Any]]:
    """A job's full trajectory ({name: array}): its ``trajectory.npz``, else its members of the
    sweep's trajectories archive (a batched sweep's jobs, runner.tracking.archive); None when
    neither holds it."""
    import numpy as np

    from runner.tracking.archive import ARCHIVE_FILE, job_trajectory as archived

    own = Path(row["dir"]) / "trajectory.npz"
    if own.is_file():
        with np.load(own) as t:
            return {k: t[k] for k in t.files}
    archive = Path(sweep_dir) / ARCHIVE_FILE
    try:
        return archived(archive, row["job"]) if archive.is_file() else None
    except KeyError:
        return None


def _job_number(path: Path) -> int:
    return int(path.name) if path.name.isdigit() else 1 << 30


def swept_keys(rows) -> List[str]:
    """The override keys whose value differs between jobs, sorted."""
    return sorted({o.split("=", 1)[0].lstrip("+~") for r in rows for o in r["overrides"]
                   if _varies(o.split("=", 1)[0], rows)})


def _varies(key: str, rows) -> bool:
    values = {next((o.split("=", 1)[1] for o in r["overrides"] if o.split("=", 1)[0] == key), None) for r in rows}
    return len(values) > 1


def _override_value(row, key: str) -> str:
    for o in row["overrides"]:
        k, _, v = o.partition("=")
        if k.lstrip("+~") == key:
            return v
    return ""


def summary_table(rows, swept: List[str]) -> List[Dict[str, Any]]:
    """One dict per job: job number, each swept key, status, the final numbers, the reason."""
    table = []
    for r in rows:
        res = r["result"]
        entry = {"job": r["job"], **{k: _override_value(r, k) for k in swept}, "status": res.get("status")}
        final = res.get("final") or {}
        for key in SUMMARY_KEYS:
            if isinstance(final.get(key), (int, float)):
                entry[key] = final[key]
        entry["steps"] = res.get("steps", "")
        entry["message"] = (res.get("message") or "")[:120]
        table.append(entry)
    return table


def write_csv(table, path: Path) -> Path:
    fields: List[str] = []
    for row in table:
        fields += [k for k in row if k not in fields]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(table)
    return path


def print_table(table) -> None:
    if not table:
        print("[sweep] no job wrote a result")
        return
    fields: List[str] = []
    for row in table:
        fields += [k for k in row if k not in fields and k != "message"]
    text = [[_fmt(row.get(k, "")) for k in fields] for row in table]
    widths = [max(len(f), *(len(t[i]) for t in text)) for i, f in enumerate(fields)]
    print("[sweep] summary")
    print("  " + "  ".join(f.ljust(w) for f, w in zip(fields, widths)))
    for row, t in zip(table, text):
        line = "  " + "  ".join(v.ljust(w) for v, w in zip(t, widths))
        print(line + (f"  {row['message']}" if row.get("status") != "FINISHED" and row.get("message") else ""))


def _fmt(v) -> str:
    return f"{v:.6g}" if isinstance(v, float) else str(v)


def best_job(rows):
    done = [r for r in rows if r["result"].get("status") == "FINISHED"
            and isinstance((r["result"].get("final") or {}).get("loss"), (int, float))]
    return min(done, key=lambda r: r["result"]["final"]["loss"]) if done else None


def summary_plots(rows, swept: List[str], out_dir: Path) -> List[Path]:
    """final loss against each swept key (:func:`final_loss_plot`), and the loss curves of every
    job overlaid, coloured by the first swept key.  Fixed-margin figures (runner.outputs.plots):
    the margins fit the swept values' labels and the legend."""
    from runner.outputs.plots import save

    shown = [r for r in rows if _job_kind(r) is not None]
    if not shown:
        return []
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for key in swept:
        path = out_dir / f"final_loss_by_{key.replace('/', '_')}.png"
        save(final_loss_plot(shown, key), path)
        paths.append(path)
    path = out_dir / "loss_curves.png"
    save(loss_curves_plot(shown, swept[0] if swept else None), path)
    return paths + [path]


FINISHED, STOPPED, DIVERGED = "finished", "stopped", "diverged"


def _final_loss(row) -> Optional[float]:
    loss = (row["result"].get("final") or {}).get("loss")
    return float(loss) if isinstance(loss, (int, float)) and math.isfinite(loss) else None


def _job_kind(row) -> Optional[str]:
    """How a job shows on a final-loss plot: DIVERGED (a marker at the plot's edge, whatever its
    loss: 4e35 or none at all), FINISHED or STOPPED (failed or killed; at its final loss), or
    None (no loss to show: a config error, a job killed before its first step)."""
    status = row["result"].get("status")
    if status == "DIVERGED":
        return DIVERGED
    if _final_loss(row) is None:
        return None
    return FINISHED if status == "FINISHED" else STOPPED


@dataclass
class LossPoints:
    """What :func:`final_loss_plot` draws for one swept key: per job its x position (the value on
    a log axis when the key's values are numbers spaced evenly in log, else the index of its
    category), its final loss (None for diverged jobs) and its kind (FINISHED, STOPPED,
    DIVERGED); the categories (None on a log axis); a log y axis when every loss shown is > 0.
    The y axis is set by the losses shown; diverged jobs sit on its top edge."""

    x: List[float]
    loss: List[Optional[float]]
    kind: List[str]
    categories: Optional[List[str]]
    log_x: bool
    log_y: bool


def final_loss_points(rows, key: str) -> LossPoints:
    """The points of :func:`final_loss_plot` for ``rows`` (job records; jobs with nothing to show,
    :func:`_job_kind` None, are left out)."""
    rows = [r for r in rows if _job_kind(r) is not None]
    labels = [_override_value(r, key) for r in rows]
    numbers = [numeric_value(v) for v in labels]
    log_x = all(v is not None for v in numbers) and log_spaced(numbers)
    categories = None if log_x else sorted(set(labels), key=_numeric_first)
    x = numbers if log_x else [float(categories.index(v)) for v in labels]
    kind = [_job_kind(r) for r in rows]
    loss = [None if k == DIVERGED else _final_loss(r) for k, r in zip(kind, rows)]
    shown = [v for v in loss if v is not None]
    return LossPoints(x, loss, kind, categories, log_x, bool(shown) and min(shown) > 0)


def final_loss_plot(rows, key: str):
    """Each job's final loss against its value of ``key`` (:class:`LossPoints`): finished jobs as
    dots, failed or killed ones as hollow squares, diverged ones as red crosses on the top edge."""
    from runner.outputs.plots import category_figure, category_ticks, fit_title, fixed_figure

    pts = final_loss_points(rows, key)
    fig = fixed_figure() if pts.log_x else category_figure(pts.categories)
    ax = fig.add_subplot()
    for kind, style in ((FINISHED, dict(label="finished")),
                        (STOPPED, dict(marker="s", facecolors="none", edgecolors="0.4", label="failed / killed"))):
        at = [(x, y) for x, y, k in zip(pts.x, pts.loss, pts.kind) if k == kind]
        if at:
            ax.scatter(*zip(*at), **style)
    if pts.log_y:
        ax.set_yscale("log")
    if pts.log_x:      # every job's value, the diverged ones too (their markers set no limits)
        ax.set_xscale("log")
        pad = (max(pts.x) / min(pts.x)) ** 0.05
        ax.set_xlim(min(pts.x) / pad, max(pts.x) * pad)
    else:
        category_ticks(ax, pts.categories)
    diverged = [x for x, k in zip(pts.x, pts.kind) if k == DIVERGED]
    if diverged:     # on the top edge (axes coordinates): the finished jobs set the scale
        ax.scatter(diverged, [1.0] * len(diverged), marker="x", s=60, color="red", clip_on=False, zorder=3,
                   transform=ax.get_xaxis_transform(), label="diverged (loss off the scale)")
    ax.set(xlabel=key, ylabel="final loss")
    fit_title(ax, f"final loss by {key}")
    ax.legend(loc="best", fontsize=8)
    return fig


def loss_curves_plot(done, group_key: Optional[str]):
    import matplotlib
    import numpy as np
    from matplotlib.lines import Line2D

    from runner.outputs.plots import fit_title, legend_figure, legend_right

    groups = sorted({_override_value(r, group_key) if group_key else "" for r in done}, key=_numeric_first)
    labels = [f"{group_key}={g}" if group_key else "jobs" for g in groups]
    fig = legend_figure(labels)
    ax = fig.add_subplot()
    if len(groups) <= 10:
        colors = {g: f"C{i}" for i, g in enumerate(groups)}
    else:                        # more groups than distinct colours: an ordered colour map
        cmap = matplotlib.colormaps["viridis"]
        colors = {g: cmap(i / (len(groups) - 1)) for i, g in enumerate(groups)}
    span = (np.inf, -np.inf)     # y-range of the finished jobs: diverged curves (dotted) are clipped
    for r in done:
        traj = Path(r["dir"]) / "trajectory.npz"
        if not traj.is_file():
            continue
        with np.load(traj) as t:
            if "loss" not in t.files:
                continue
            loss = np.abs(t["loss"])
        g = _override_value(r, group_key) if group_key else ""
        finished = r["result"]["status"] == "FINISHED"
        ax.plot(np.arange(loss.size), np.maximum(loss, 1e-300), color=colors[g], alpha=0.7, lw=1,
                ls="-" if finished else ":")
        if finished and np.isfinite(loss).all():
            span = (min(span[0], loss.min()), max(span[1], loss.max()))
    ax.set_yscale("log")
    if np.isfinite(span).all() and span[1] > 0:
        ax.set_ylim(max(span[0], 1e-300) / 3, span[1] * 3)
    ax.set(xlabel="step", ylabel="loss")
    fit_title(ax, "loss curves of every job (dotted: diverged or failed)")
    legend_right(ax, [Line2D([], [], color=colors[g]) for g in groups], labels)
    return fig


def _numeric_first(v: str):
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)
