"""What a researcher reads from a grid sweep: heat maps of a final metric over two swept keys
and a ranking table per group of the swept choices.

Both read the summary table (:func:`runner.sweep.summary.summary_table`, one row per job).  A
heat map puts one key on each axis (log-scaled when its values are positive and log-spaced),
colours each cell by the metric (log colour scale for losses), marks the best cell with a
star and draws jobs that did not finish (DIVERGED, FAILED) as grey crossed cells; where
other keys are swept too, a cell shows the best job over them.  The ranking takes the swept
keys whose values are not numbers (``optim``, ``problem``, ...) as groups and lists each
group's best finished job: its metric, its steps and the numeric values that achieved it.

A key that some jobs do not set (an Optuna grid's ``optim.momentum``, searched only where the
optimizer has one) is numeric when every job that sets it sets a number; a heat map takes the
jobs that set both of its keys, and is drawn only where they fill more than half of its cells
(values sampled at random, as Optuna's, make no grid: each job would be a lone cell).
"""
from __future__ import annotations

import math
from itertools import combinations
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np

FINISHED = "FINISHED"


def numeric_value(text) -> Optional[float]:
    """A swept value as a finite number, or None (``adam``, ``nan``, a list)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _given(row, key: str) -> bool:
    return row.get(key, "") != ""


def numeric_keys(table, swept: Sequence[str]) -> List[str]:
    """Swept keys whose every given value is a number and that take at least two values."""
    keys = []
    for key in swept:
        values = [numeric_value(row[key]) for row in table if _given(row, key)]
        if all(v is not None for v in values) and len(set(values)) > 1:
            keys.append(key)
    return keys


def log_spaced(values: Sequence[float]) -> bool:
    """Positive, at least three distinct values, spanning a factor >= 10, and closer to evenly
    spaced in log than in linear terms."""
    v = np.unique(np.asarray(values, dtype=float))
    if v.size < 3 or v[0] <= 0 or v[-1] / v[0] < 10:
        return False
    spread = lambda x: np.std(np.diff(x)) / max(np.mean(np.diff(x)), 1e-300)   # noqa: E731
    return spread(np.log(v)) < spread(v)


def grid(table, x: str, y: str, metric: str):
    """(x values, y values, best metric per cell (NaN: no finished job), mask of the cells that
    hold a job), over the jobs that set both keys."""
    table = [r for r in table if _given(r, x) and _given(r, y)]
    xs = sorted({numeric_value(r[x]) for r in table})
    ys = sorted({numeric_value(r[y]) for r in table})
    best = np.full((len(ys), len(xs)), np.nan)
    seen = np.zeros_like(best, dtype=bool)
    for row in table:
        i, j = ys.index(numeric_value(row[y])), xs.index(numeric_value(row[x]))
        seen[i, j] = True
        value = row.get(metric)
        if row.get("status") == FINISHED and isinstance(value, (int, float)) and math.isfinite(value):
            best[i, j] = value if np.isnan(best[i, j]) else min(best[i, j], value)
    return np.array(xs), np.array(ys), best, seen


def _edges(values: np.ndarray, log: bool) -> np.ndarray:
    v = np.log(values) if log else values
    if v.size == 1:
        e = np.array([v[0] - 0.5, v[0] + 0.5])
    else:
        mid = (v[1:] + v[:-1]) / 2
        e = np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
    return np.exp(e) if log else e


def heat_map_figure(table, x: str, y: str, metric: str = "loss", others: Sequence[str] = ()):
    """The heat map of ``metric`` over swept keys ``x`` and ``y`` (see the module docstring)."""
    return _heat_map(grid(table, x, y, metric), x, y, metric, others)


def _heat_map(cells, x: str, y: str, metric: str, others: Sequence[str]):
    from matplotlib.colors import LogNorm
    from matplotlib.figure import Figure

    xs, ys, best, seen = cells
    xlog, ylog = log_spaced(xs), log_spaced(ys)
    fig = Figure(figsize=(7.0, 5.6), dpi=110)
    ax = fig.add_subplot()
    finite = best[np.isfinite(best)]
    norm = LogNorm(vmin=max(finite.min(), 1e-300), vmax=max(finite.max(), 1e-300)) \
        if finite.size and finite.min() > 0 and finite.max() / max(finite.min(), 1e-300) > 100 else None
    mesh = ax.pcolormesh(_edges(xs, xlog), _edges(ys, ylog), np.ma.masked_invalid(best), cmap="viridis_r",
                         norm=norm, shading="flat")
    fig.colorbar(mesh, ax=ax, label=f"final {metric}" + (" (log)" if norm is not None else ""))
    failed = np.argwhere(seen & np.isnan(best))
    if failed.size:
        ax.scatter(xs[failed[:, 1]], ys[failed[:, 0]], marker="x", color="0.45", s=30,
                   label="diverged / failed")
    if finite.size:
        i, j = np.unravel_index(np.nanargmin(best), best.shape)
        ax.scatter([xs[j]], [ys[i]], marker="*", s=220, color="red", edgecolor="white",
                   label=f"best: {metric}={best[i, j]:.4g} at {x}={xs[j]:g}, {y}={ys[i]:g}")
    if xlog:
        ax.set_xscale("log")
    if ylog:
        ax.set_yscale("log")
    title = f"final {metric} over {x} x {y}" + (f"\n(each cell: the best over {', '.join(others)})" if others else "")
    ax.set(xlabel=x, ylabel=y, title=title)
    if failed.size or finite.size:
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, ncol=2)
    fig.subplots_adjust(bottom=0.24)
    return fig


def heat_maps(table, swept: Sequence[str], out_dir: Path, metric: str = "loss") -> List[Path]:
    """One heat map per pair of numeric swept keys whose jobs make a grid (more than half the
    cells hold a job; files ``heatmap_<metric>_<x>_<y>.png``)."""
    from runner.outputs.plots import save

    if not any(isinstance(r.get(metric), (int, float)) for r in table):
        return []
    paths = []
    for x, y in combinations(numeric_keys(table, swept), 2):
        cells = grid(table, x, y, metric)
        if not cells[3].size or cells[3].mean() <= 0.5:
            continue
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"heatmap_{metric}_{x}_{y}.png".replace("/", "_")
        others = [k for k in swept if k not in (x, y)]
        save(_heat_map(cells, x, y, metric, others), path)
        paths.append(path)
    return paths


def ranking(table, swept: Sequence[str], metric: str = "loss") -> List[Dict[str, object]]:
    """Per group of the non-numeric swept keys: the best finished job (lowest ``metric``), its
    steps and numeric swept values, and how many of the group's jobs finished; best first."""
    numeric = set(numeric_keys(table, swept))
    groups = [k for k in swept if k not in numeric]
    by_group: Dict[tuple, list] = {}
    for row in table:
        by_group.setdefault(tuple(row.get(k, "") for k in groups), []).append(row)
    ranked = []
    for key, rows in by_group.items():
        done = [r for r in rows if r.get("status") == FINISHED and isinstance(r.get(metric), (int, float))]
        entry: Dict[str, object] = dict(zip(groups, key))
        entry.update({"finished": f"{len(done)}/{len(rows)}"})
        if done:
            best = min(done, key=lambda r: r[metric])
            entry.update({f"best_{metric}": best[metric], "steps": best.get("steps", ""), "job": best["job"],
                          **{k: best[k] for k in swept if k in numeric and _given(best, k)}})
        ranked.append(entry)
    return sorted(ranked, key=lambda e: e.get(f"best_{metric}", math.inf))
