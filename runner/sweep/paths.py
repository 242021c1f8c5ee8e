"""For a sweep of ``task=optimize`` on 2-D problems: the best path of each group drawn on the
contour of f, one plot per problem (``summary_plots/best_paths.png``, or
``best_paths_<problem>.png`` when the problem is swept).

The groups and their best jobs are the ranking's (:func:`runner.sweep.heatmap.ranking`: per
combination of the non-numeric swept keys, the FINISHED job with the lowest final loss).  The
swept keys that name the function (``problem`` and ``problem.*``, but not the start
``problem.x0``) pick the plot; the others (``optim``, a swept start, ...) tell its paths
apart.  A path is the job's full trajectory (its ``trajectory.npz``, or its members of a
batched sweep's archive), drawn by the single run's contour plot
(:func:`runner.outputs.plots.contour_paths`) with its start, its end and the known minima;
the legend gives each path's group, the numeric values that achieved it (the lr, ...) and its
final loss.  Jobs of other tasks, and problems that are not 2-D, get no such plot.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from runner.sweep.heatmap import numeric_keys, ranking


@dataclass
class BestPath:
    """One path of a best-paths plot: the job's record (runner.sweep.summary.job_records) and
    its legend entry."""

    row: dict
    label: str


def names_function(key: str) -> bool:
    """Whether a swept key changes the function minimised (not only where the descent starts)."""
    return key == "problem" or (key.startswith("problem.") and key != "problem.x0")


def _keys(table, swept: Sequence[str]):
    """(numeric swept keys, keys naming the function, keys telling a plot's paths apart)."""
    numeric = numeric_keys(table, swept)
    groups = [k for k in swept if k not in numeric]
    return numeric, [k for k in groups if names_function(k)], [k for k in groups if not names_function(k)]


def best_paths(rows, table, swept: Sequence[str]) -> Dict[str, List[BestPath]]:
    """{problem (its swept values joined, "" when it is not swept): the best FINISHED job of
    each group, best first}, for the optimize jobs on 2-D problems (see the module docstring)."""
    by_job = {r["job"]: r for r in rows}
    numeric, naming, parts = _keys(table, swept)
    chosen: Dict[str, List[BestPath]] = {}
    for entry in ranking(table, swept):     # best first
        row = by_job.get(entry.get("job"))
        if row is None or row["result"].get("task") != "optimize" or row["result"].get("dim") != 2:
            continue
        problem = ", ".join(str(entry[k]) for k in naming)
        chosen.setdefault(problem, []).append(BestPath(row, _label(entry, parts, numeric)))
    return chosen


def _label(entry, parts: Sequence[str], numeric: Sequence[str]) -> str:
    group = "/".join(str(entry[k]) for k in parts) or "best"
    values = ", ".join(f"{k.removeprefix('optim.')}={float(entry[k]):.3g}" for k in numeric if k in entry)
    return f"{group}: {values + '; ' if values else ''}loss {entry['best_loss']:.3g}"


def best_path_plots(rows, table, swept: Sequence[str], sweep_dir: Path, out_dir: Path,
                    compose: Callable[[List[str]], object]) -> List[Path]:
    """Draw :func:`best_paths` (one file per problem); ``compose(overrides)`` is a job's config
    (the problem is built from the best job's).  A problem that cannot be built or drawn is
    one line and no file; the sweep's other summaries go on."""
    from runner.outputs.plots import contour_paths, has_contour, save
    from runner.sweep.summary import job_trajectory

    parts = _keys(table, swept)[2]
    files = []
    for problem, paths in best_paths(rows, table, swept).items():
        try:
            function = _problem(compose(list(paths[0].row["overrides"])))
        except Exception as e:      # a summary plot never ends the sweep's summary
            print(f"[sweep] no best-path plot for {problem or 'the problem'}: {type(e).__name__}: {e}", flush=True)
            continue
        if not has_contour(function):
            continue
        drawn, labels = [], []
        for p in paths:
            trajectory = job_trajectory(p.row, sweep_dir) or {}
            if len(trajectory.get("params", ())):
                drawn.append(trajectory["params"])
                labels.append(p.label)
        if not drawn:
            continue
        title = f"best {', '.join(parts)} paths: {function.label}" if parts else f"best path: {function.label}"
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / (f"best_paths_{_file_part(problem)}.png" if problem else "best_paths.png")
        save(contour_paths(function, drawn, title, labels), path)
        files.append(path)
    return files


def _problem(cfg):
    """The job's Problem, built as task=optimize builds it."""
    from runner.config.validate import validate_group
    from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem

    return build_problem(validate_group("problem", cfg.problem, PROBLEM_SCHEMAS, "problem"), int(cfg.seed))


def _file_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:80]
