"""Hyperparameter search with Optuna as a Hydra sweeper: ``hydra/sweeper=optuna``.

Why our own: Hydra's plugin hydra-optuna-sweeper 1.2 requires optuna < 3, whose SQLite
storage breaks with SQLAlchemy 2, which MLflow 3 needs; the two cannot be installed together.
This sweeper follows that plugin's conventions (``hydra.sweeper.params`` in Hydra's override
grammar, ``direction``, ``n_trials``, ``n_jobs`` trials per batch, ``sampler`` with a seed,
``study_name``, optional ``storage``) and drives a current Optuna through ask/tell.

Each trial is one job of the multirun, launched by the configured launcher (basic, joblib,
...), so it is a child run of the sweep's MLflow parent; the objective is a number the job
reports (``metric``: a key of result.json's ``final``, or ``steps``).  Jobs that do not
finish (DIVERGED, FAILED) are told to Optuna as failed trials.  The best trial goes to
``<sweep dir>/optimization_results.yaml`` (and to the parent run, by runner.sweep.callback).

``hydra.sweeper.grid`` (calclab's; ``{key: a,b,c}``) runs one study per combination of its
values, a *cell* (``optim=adam problem=beale``), each with ``n_trials`` trials and its own
sampler, over the ``params`` keys that the cell's composed config has: ``optim.momentum`` is
searched where the optimizer has a momentum, ``optim.betas.0`` where it has betas (a key no
cell has is an error before any trial).  Each round asks ``n_jobs`` trials of every cell's
study and launches them together (with ``hydra/launcher=batched``, one kernel call per cell).
Why a grid rather than ``optim: choice(...)`` in one study: a categorical optimizer lets the
sampler spend its trials on whichever optimizer (or problem) does best, while a comparison
needs each one tuned alike; and one study has one search space, which cannot hold a momentum
that Adam does not take (Hydra refuses the key).  Hydra's hydra-optuna-sweeper answers the
second with ``custom_search_space``, a Python function that suggests conditional parameters;
a grid says the same in the config.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.errors import ConfigCompositionException
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from runner.sweep import progress

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"


class CalclabOptunaSweeper(Sweeper):
    def __init__(self, direction: str = "minimize", metric: str = "loss", n_trials: int = 20, n_jobs: int = 1,
                 study_name: Optional[str] = None, storage: Optional[str] = None,
                 sampler: Optional[DictConfig] = None, params: Optional[DictConfig] = None,
                 grid: Optional[DictConfig] = None) -> None:
        import optuna  # noqa: F401  (here, before any job: a missing extra is one line, runner.cli)

        if direction not in ("minimize", "maximize"):
            raise ValueError(f"hydra.sweeper.direction: must be minimize or maximize, got {direction!r}")
        if n_trials < 1 or n_jobs < 1:
            raise ValueError("hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be >= 1")
        self.direction, self.metric, self.n_trials, self.n_jobs = direction, metric, n_trials, n_jobs
        self.study_name, self.storage = study_name, storage
        self.sampler_cfg = OmegaConf.to_container(sampler) if sampler is not None else {}
        self.params = OmegaConf.to_container(params) if params is not None else {}
        self.grid = OmegaConf.to_container(grid) if grid is not None else {}

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context = config, hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)
        self.sweep_dir = Path(config.hydra.sweep.dir)

    def sweep(self, arguments: List[str]) -> None:
        import optuna

        parser = OverridesParser.create()
        search = {k: parser.parse_override(f"{k}={v}") for k, v in flat_params(self.params).items()}
        fixed: List[str] = []
        for o in parser.parse_overrides(arguments):
            if o.is_sweep_override():     # a sweep on the command line: 'optim.lr=interval(...)'
                search[o.get_key_element()] = o
            else:
                fixed.append(o.input_line)
        if not search:
            raise ConfigCompositionException("hydra.sweeper.params: the optuna sweeper needs a search space "
                                             "(e.g. 'optim.lr=tag(log, interval(1e-4, 1e-1))')")
        cells = self._cells(fixed, {key: distribution(o) for key, o in search.items()})
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        studies = [optuna.create_study(direction=self.direction, sampler=make_sampler(self.sampler_cfg),
                                       study_name=_cell_study(self.study_name, cell), storage=self.storage,
                                       load_if_exists=True) for cell, _ in cells]
        keys = sorted({k for _, space in cells for k in space})
        log.info(f"Optuna {optuna.__version__}: {self.n_trials} trials" + (f" in each of {len(cells)} cells"
                 if self.grid else "") + f", {self.direction} '{self.metric}' over {', '.join(keys)}")
        progress.expect(self.sweep_dir, self.n_trials * len(cells))     # the sweep's ETA line
        told, done, job_of = [0] * len(cells), 0, {}
        while any(n < self.n_trials for n in told):
            asked = [(i, study.ask(space)) for i, ((_, space), study) in enumerate(zip(cells, studies))
                     for _ in range(min(self.n_jobs, self.n_trials - told[i]))]
            batch = [fixed + cells[i][0] + [f"{k}={_text(t.params[k])}" for k in cells[i][1]] for i, t in asked]
            returns = self.launcher.launch(batch, initial_job_idx=done)
            for num, ((i, trial), ret) in enumerate(zip(asked, returns), start=done):
                value = self._objective(ret)
                if value is None:
                    studies[i].tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    studies[i].tell(trial, value)
                told[i] += 1
                job_of[i, trial.number] = num
            done += len(asked)
        self._write_results(studies, cells, fixed, job_of)

    def _cells(self, fixed: List[str], space: Dict[str, Any]) -> List[tuple]:
        """[(the cell's overrides, its search space)]: one cell with the whole space without a
        grid; with one, each combination of the grid's values with the ``params`` keys its
        composed config has."""
        if not self.grid:
            return [([], space)]
        cells = []
        for cell in grid_cells(self.grid):
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, fixed + cell)
            cells.append((cell, {k: space[k] for k in keys_in(cfg, space)}))
        unused = [k for k in space if not any(k in mine for _, mine in cells)]
        if unused:
            raise ConfigCompositionException(
                f"hydra.sweeper.params.{unused[0]}: no cell of hydra.sweeper.grid "
                f"({', '.join(f'{k}={v}' for k, v in flat_params(self.grid).items())}) has this key")
        return cells

    def _objective(self, ret) -> Optional[float]:
        try:
            result = ret.return_value
        except Exception:        # the job raised: Hydra re-raises on access
            return None
        if result is None or getattr(result, "status", None) != "FINISHED":
            return None
        source = result.info if self.metric == "steps" else result.final
        value = (source or {}).get(self.metric)
        return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None

    def _write_results(self, studies, cells, fixed, job_of) -> None:
        """The best trial over every cell (its job number, value, parameters and overrides)
        and, with a grid, each cell's best."""
        mine = [(i, t) for i, study in enumerate(studies) for t in study.trials if t.value is not None]
        total = sum(len(study.trials) for study in studies)
        doc: Dict[str, Any] = {"name": "optuna", "metric": self.metric, "direction": self.direction,
                               "n_trials": total, "n_failed": total - len(mine)}
        pick = min if self.direction == "minimize" else max
        if mine:
            i, best = pick(mine, key=lambda it: it[1].value)
            doc.update(best_value=best.value, best_trial=best.number, best_job=job_of.get((i, best.number)),
                       **self._best(cells[i], best, fixed))
            log.info(f"Best trial {best.number}: {self.metric}={best.value:.6g} with {doc['best_params']}")
        if self.grid:
            doc["cells"] = []
            for i, ((cell, _), study) in enumerate(zip(cells, studies)):
                done = [t for t in study.trials if t.value is not None]
                entry = {"cell": " ".join(cell), "n_trials": len(study.trials), "n_failed": len(study.trials) - len(done)}
                if done:
                    best = pick(done, key=lambda t: t.value)
                    entry.update(best_value=best.value, best_job=job_of.get((i, best.number)),
                                 best_params=self._best(cells[i], best, fixed)["best_params"])
                doc["cells"].append(entry)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(doc), self.sweep_dir / RESULTS_FILE)

    @staticmethod
    def _best(cell, trial, fixed) -> Dict[str, Any]:
        overrides, space = cell
        values = {o.split("=", 1)[0]: o.split("=", 1)[1] for o in overrides}
        values.update({k: trial.params[k] for k in space})
        return {"best_params": values,
                "best_overrides": fixed + overrides + [f"{k}={_text(trial.params[k])}" for k in space]}


def grid_cells(grid: Dict[str, Any]) -> List[List[str]]:
    """Each combination of ``hydra.sweeper.grid``'s values, as overrides (the last key varying
    fastest, as in a basic sweep)."""
    from hydra_plugins.calclab_sweeper.basic_sweeper import jobs

    return jobs(OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in flat_params(grid).items()]))


def keys_in(cfg: DictConfig, keys) -> List[str]:
    """The ``keys`` (dotted, ``optim.betas.0``) that ``cfg`` has, in their order."""
    missing = object()
    return [k for k in keys if OmegaConf.select(cfg, k.lstrip("+~"), default=missing) is not missing]


def _cell_study(name: Optional[str], cell: List[str]) -> Optional[str]:
    """A cell's study name in a storage: the sweeper's ``study_name`` and the cell."""
    return f"{name} [{' '.join(cell)}]" if name and cell else name


def flat_params(params: Dict[str, Any], prefix: str = "") -> Dict[str, str]:
    """``hydra.sweeper.params`` as {dotted key: sweep text}: a preset writes ``optim.lr: ...``
    (one key with a dot), the command line ``hydra.sweeper.params.optim.lr=...`` (nested)."""
    flat: Dict[str, str] = {}
    for key, value in (params or {}).items():
        if isinstance(value, dict):
            flat.update(flat_params(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = str(value)
    return flat


def quote_params_overrides(argv: List[str]) -> List[str]:
    """``hydra.sweeper.params.KEY=SWEEP`` (and ``hydra.sweeper.grid.KEY=a,b``) as Hydra can
    take it: Hydra refuses a sweep on one of its own keys, so the sweep text is quoted (a plain
    string, parsed by this sweeper), and KEY may be new to the mapping, so it is added (``++``)."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key.startswith(("hydra.sweeper.params.", "hydra.sweeper.grid.")) and value \
                and value[0] not in "'\"" and "'" not in value:
            arg = f"++{key}='{value}'"
        out.append(arg)
    return out


def _text(value) -> str:
    return repr(value) if isinstance(value, float) else str(value)


def distribution(override: Override):
    """An Optuna distribution for a sweep override: choice(...) or a,b,c -> categorical;
    range(a, b[, step]) -> int (or stepped float); interval(a, b) -> float (int if both are
    ints); tag(log, ...) -> log scale."""
    import optuna.distributions as D

    value = override.value()
    log_scale = "log" in getattr(value, "tags", set())
    if isinstance(value, ChoiceSweep):
        return D.CategoricalDistribution([_plain(v) for v in value.list])
    if isinstance(value, RangeSweep):
        if all(isinstance(v, int) for v in (value.start, value.stop, value.step)):
            return D.IntDistribution(value.start, value.stop - 1, step=value.step, log=log_scale and value.step == 1)
        return D.FloatDistribution(value.start, value.stop, step=value.step)
    if isinstance(value, IntervalSweep):
        if isinstance(value.start, int) and isinstance(value.end, int):
            return D.IntDistribution(value.start, value.end, log=log_scale)
        return D.FloatDistribution(float(value.start), float(value.end), log=log_scale)
    raise ValueError(f"hydra.sweeper.params.{override.get_key_element()}: not a sweep "
                     f"(use choice(...), range(...), interval(...) or a,b,c)")


def _plain(v):
    return v if isinstance(v, (int, float, str, bool)) or v is None else str(v)


def make_sampler(cfg: Dict[str, Any]):
    import optuna

    name = (cfg or {}).get("name", "tpe")
    seed = (cfg or {}).get("seed")
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed)
    raise ValueError(f"hydra.sweeper.sampler.name: unknown sampler {name!r}; allowed: tpe, random, cmaes")
