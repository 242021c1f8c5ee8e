"""A sweep's best paths on the contour (runner.sweep.paths): per 2-D problem, the best finished
job of each optimizer, its path read from its directory or from a batched sweep's archive,
drawn on the single run's contour plot; nothing for other tasks or dimensions."""
from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from runner.outputs import plots
from runner.sweep.paths import _problem, best_path_plots, best_paths
from runner.sweep.summary import job_records, summary_table, swept_keys
from runner.tracking.archive import ARCHIVE_FILE, append
from tests.conftest import compose, run_cli

COMMON = ["optimize.steps=300", "optimize.grad_tol=0", "tracking=none", "quiet=true"]


def fake_sweep(sweep_dir: Path, grid: dict, common=COMMON):
    """Every job of ``grid`` ({key: [values]}) run in-process into ``sweep_dir/N`` with its
    ``.hydra/overrides.yaml``, as a launcher leaves them."""
    from runner import app

    keys = list(grid)
    for num, values in enumerate(itertools.product(*grid.values())):
        overrides = [f"{k}={v}" for k, v in zip(keys, values)] + common
        run_dir = sweep_dir / str(num)
        app.execute(compose(overrides), run_dir)
        (run_dir / ".hydra").mkdir()
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    return job_records(sweep_dir)


def readings(rows):
    swept = swept_keys(rows)
    return summary_table(rows, swept), swept


def best_by_hand(rows, problem, optim):
    """The FINISHED job with the lowest final loss among the jobs of ``problem`` x ``optim``."""
    mine = [r for r in rows if f"problem={problem}" in r["overrides"] and f"optim={optim}" in r["overrides"]
            and r["result"]["status"] == "FINISHED"]
    return min(mine, key=lambda r: r["result"]["final"]["loss"])["job"]


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    # gd at lr 0.1 diverges on Beale (its lowest "loss" is no candidate)
    sweep_dir = tmp_path_factory.mktemp("sweep")
    rows = fake_sweep(sweep_dir, {"problem": ["beale", "himmelblau"], "optim": ["gd", "adam"],
                                  "optim.lr": ["0.001", "0.01", "0.1"]})
    assert "DIVERGED" in {r["result"]["status"] for r in rows}
    return sweep_dir, rows


def drawn_paths(monkeypatch):
    """What contour_paths is asked to draw: [(title, paths, labels)]."""
    calls = []
    real = plots.contour_paths

    def spy(problem, paths, title, labels=()):
        calls.append((title, [np.array(p) for p in paths], list(labels)))
        return real(problem, paths, title, labels)

    monkeypatch.setattr(plots, "contour_paths", spy)
    return calls


def test_each_problem_gets_the_best_finished_job_of_each_optimizer(sweep):
    sweep_dir, rows = sweep
    chosen = best_paths(rows, *readings(rows))
    assert set(chosen) == {"beale", "himmelblau"}
    for problem, paths in chosen.items():
        jobs = {p.label.split(":")[0]: p.row["job"] for p in paths}
        assert jobs == {o: best_by_hand(rows, problem, o) for o in ("gd", "adam")}
        losses = [p.row["result"]["final"]["loss"] for p in paths]
        assert losses == sorted(losses)                     # best first
        for p in paths:
            lr = next(o.split("=")[1] for o in p.row["overrides"] if o.startswith("optim.lr="))
            assert f"lr={float(lr):.3g}" in p.label and f"loss {losses[paths.index(p)]:.3g}" in p.label


def test_the_plot_draws_the_best_jobs_paths_from_their_dirs_or_the_archive(sweep, tmp_path, monkeypatch):
    sweep_dir, rows = sweep
    table, swept = readings(rows)
    calls = drawn_paths(monkeypatch)
    files = best_path_plots(rows, table, swept, sweep_dir, tmp_path / "a", compose)
    assert sorted(f.name for f in files) == ["best_paths_beale.png", "best_paths_himmelblau.png"]
    assert all(f.stat().st_size > 10_000 for f in files)
    chosen = best_paths(rows, table, swept)
    assert len(calls) == 2
    for (title, paths, labels), problem in zip(calls, chosen):     # drawn in best_paths' order
        assert title.startswith("best optim paths: ") and problem in title.lower()
        assert labels == [p.label for p in chosen[problem]]
        for p, params in zip(chosen[problem], paths):
            with np.load(Path(p.row["dir"]) / "trajectory.npz") as t:
                np.testing.assert_array_equal(params, t["params"])
            assert params.shape[1] == 2 and np.allclose(params[0], p.row["result"]["final"]["x0"])
    # a batched sweep's jobs: no trajectory.npz, their arrays in the sweep's archive
    batched = tmp_path / "batched"
    shutil.copytree(sweep_dir, batched)
    for r in rows:
        with np.load(batched / str(r["job"]) / "trajectory.npz") as t:
            append(batched / ARCHIVE_FILE, {r["job"]: {k: t[k] for k in t.files}})
        (batched / str(r["job"]) / "trajectory.npz").unlink()
    moved = job_records(batched)
    calls.clear()
    files = best_path_plots(moved, table, swept, batched, tmp_path / "b", compose)
    assert sorted(f.name for f in files) == ["best_paths_beale.png", "best_paths_himmelblau.png"]
    assert len(calls) == 2
    for (_, paths, _), problem in zip(calls, chosen):
        for p, params in zip(chosen[problem], paths):
            with np.load(sweep_dir / str(p.row["job"]) / "trajectory.npz") as t:
                np.testing.assert_array_equal(params, t["params"])


def test_no_plot_for_other_dimensions_or_tasks(tmp_path, capsys):
    rows = fake_sweep(tmp_path / "s", {"problem.dim": [3], "optim": ["gd", "adam"], "optim.lr": ["0.001", "0.01"]},
                      ["problem=rosenbrock", *COMMON])
    assert best_paths(rows, *readings(rows)) == {}
    assert best_path_plots(rows, *readings(rows), tmp_path / "s", tmp_path / "p", compose) == []
    assert not (tmp_path / "p").exists() and capsys.readouterr().out == ""
    integrate = [{**r, "result": {**r["result"], "task": "integrate"}} for r in rows]
    assert best_paths(integrate, *readings(integrate)) == {}


def test_a_sweep_of_one_optimizer_draws_its_best_path(tmp_path):
    rows = fake_sweep(tmp_path / "s", {"optim.lr": ["0.001", "0.01"]}, ["problem=himmelblau", "optim=adam", *COMMON])
    [(problem, [path])] = best_paths(rows, *readings(rows)).items()
    assert problem == "" and path.row["job"] == min(rows, key=lambda r: r["result"]["final"]["loss"])["job"]
    assert path.label.startswith("best: lr=")
    files = best_path_plots(rows, *readings(rows), tmp_path / "s", tmp_path / "p", compose)
    assert [f.name for f in files] == ["best_paths.png"]


def test_the_best_paths_figure_keeps_its_legend_inside(sweep):
    from tests.test_plots import overflow

    _, rows = sweep
    table, swept = readings(rows)
    paths = best_paths(rows, table, swept)["beale"]
    problem = _problem(compose(paths[0].row["overrides"]))
    arrays = [np.load(Path(p.row["dir"]) / "trajectory.npz")["params"] for p in paths]
    labels = [p.label + " and a long tail of text" for p in paths]
    fig = plots.contour_paths(problem, arrays * 3, "t", labels * 3)
    assert overflow(fig) < 0.01
    texts = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert texts == ["start", *(labels * 3), "known minimum"]


@pytest.mark.slow
def test_the_shootout_preset_tunes_each_optimizer_per_function_ranks_and_draws_best_paths(tmp_path):
    """+search=shootout, small: one Optuna study per optimizer x function, each searching the
    keys its optimizer has; every trial a child run; the ranking's best job per group is the
    path drawn on each function's contour, also on the parent run."""
    import csv

    from mlflow.tracking import MlflowClient
    from omegaconf import OmegaConf

    sweep_dir = tmp_path / "s"
    out = run_cli(["-m", "+search=shootout", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2",
                   "hydra.sweeper.grid.problem=beale,himmelblau", "optimize.steps=300", "quiet=true",
                   f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    # 8 cells x 3 trials in two rounds (2 + 1 trials of each cell), one kernel call per cell a round
    assert "[sweep] 16 jobs: 16 in 8 batch(es)" in out.stdout and "[sweep] 8 jobs: 8 in 8 batch(es)" in out.stdout
    found = OmegaConf.to_container(OmegaConf.load(sweep_dir / "optimization_results.yaml"))
    assert found["n_trials"] == 24 and len(found["cells"]) == 8
    assert all(c["n_trials"] == 3 for c in found["cells"])
    rows = job_records(sweep_dir)
    assert len(rows) == 24
    searched = {"gd": {"optim.lr"}, "momentum": {"optim.lr", "optim.momentum"},
                "nesterov": {"optim.lr", "optim.momentum"}, "adam": {"optim.lr", "optim.betas.0"}}
    for r in rows:
        keys = dict(o.split("=", 1) for o in r["overrides"])
        assert {k for k in keys if k.startswith("optim.")} == searched[keys["optim"]]
    with open(sweep_dir / "ranking.csv") as fh:
        ranked = list(csv.DictReader(fh))
    assert len(ranked) == 8
    for entry in ranked:
        if entry.get("job"):
            assert int(entry["job"]) == best_by_hand(rows, entry["problem"], entry["optim"])
    chosen = best_paths(rows, *readings(rows))
    assert {p: sorted(b.row["job"] for b in paths) for p, paths in chosen.items()} == \
        {p: sorted(int(e["job"]) for e in ranked if e["problem"] == p and e.get("job")) for p in ("beale", "himmelblau")}
    for problem in ("beale", "himmelblau"):
        assert (sweep_dir / "summary_plots" / f"best_paths_{problem}.png").is_file()
    client = MlflowClient(f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    [parent] = [r for r in runs if r.data.tags.get("calclab.sweep") == "parent"]
    assert len([r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]) == 24
    names = {a.path for a in client.list_artifacts(parent.info.run_id, "summary")}
    assert {"summary/best_paths_beale.png", "summary/best_paths_himmelblau.png", "summary/ranking.csv"} <= names


@pytest.mark.slow
def test_best_paths_of_a_basic_sweep_and_of_a_large_batch(tmp_path):
    """Job directories of Hydra's basic launcher, and a batch above sweep.job_plots (its paths
    only in the archive): the same best paths are drawn."""
    grid_args = ["problem=himmelblau", "optim=gd,adam", "optim.lr=1e-3,1e-2,5e-2", "optimize.steps=300",
                 "tracking=none", "quiet=true"]
    chosen = {}
    for launcher in ("basic", "batched"):
        sweep_dir = tmp_path / launcher
        out = run_cli(["-m", f"hydra/launcher={launcher}", "sweep.job_plots=0", *grid_args,
                       f"hydra.sweep.dir={sweep_dir}"], cwd=tmp_path, timeout=900)
        assert out.returncode == 0, out.stderr
        assert (sweep_dir / "summary_plots" / "best_paths.png").is_file()
        rows = job_records(sweep_dir)
        assert (sweep_dir / "0" / "trajectory.npz").is_file() == (launcher == "basic")
        chosen[launcher] = [(p.row["job"], p.label) for p in best_paths(rows, *readings(rows))[""]]
    assert chosen["basic"] == chosen["batched"] and len(chosen["basic"]) == 2


@pytest.mark.slow
def test_a_searched_key_that_no_cell_has_is_one_line_before_any_trial(tmp_path):
    out = run_cli(["-m", "+search=shootout", "hydra.sweeper.grid.optim=gd", "tracking=none", "quiet=true",
                   f"hydra.sweep.dir={tmp_path / 's'}"], cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip() == ("calclab: error: hydra.sweeper.params.optim.momentum: no cell of "
                                  "hydra.sweeper.grid (problem=rosenbrock,beale,himmelblau, optim=gd) has this key")
    assert not list((tmp_path / "s").glob("*/result.json"))


@pytest.mark.slow
def test_an_optuna_sweep_without_a_search_space_is_one_line(tmp_path):
    out = run_cli(["-m", "hydra/sweeper=optuna", "tracking=none", "quiet=true", f"hydra.sweep.dir={tmp_path / 's'}"],
                  cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().startswith("calclab: error: hydra.sweeper.params: the optuna sweeper needs a search space")
