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
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from omegaconf import DictConfig, OmegaConf

from runner.sweep import progress

log = logging.getLogger(__name__)
RESULTS_FILE = "optimization_results.yaml"


class CalclabOptunaSweeper(Sweeper):
    def __init__(self, direction: str = "minimize", metric: str = "loss", n_trials: int = 20, n_jobs: int = 1,
                 study_name: Optional[str] = None, storage: Optional[str] = None,
                 sampler: Optional[DictConfig] = None, params: Optional[DictConfig] = None) -> None:
        import optuna  # noqa: F401  (here, before any job: a missing extra is one line, runner.cli)

        if direction not in ("minimize", "maximize"):
            raise ValueError(f"hydra.sweeper.direction: must be minimize or maximize, got {direction!r}")
        if n_trials < 1 or n_jobs < 1:
            raise ValueError("hydra.sweeper.n_trials and hydra.sweeper.n_jobs must be >= 1")
        self.direction, self.metric, self.n_trials, self.n_jobs = direction, metric, n_trials, n_jobs
        self.study_name, self.storage = study_name, storage
        self.sampler_cfg = OmegaConf.to_container(sampler) if sampler is not None else {}
        self.params = OmegaConf.to_container(params) if params is not None else {}

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config = config
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
            raise ValueError("hydra.sweeper.params: the optuna sweeper needs a search space "
                             "(e.g. 'optim.lr=tag(log, interval(1e-4, 1e-1))')")
        space = {key: distribution(o) for key, o in search.items()}
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(direction=self.direction, sampler=make_sampler(self.sampler_cfg),
                                    study_name=self.study_name, storage=self.storage, load_if_exists=True)
        log.info(f"Optuna {optuna.__version__}: {self.n_trials} trials, {self.direction} '{self.metric}' over "
                 f"{', '.join(space)}")
        progress.expect(self.sweep_dir, self.n_trials)     # the sweep's ETA line
        done = 0
        while done < self.n_trials:
            trials = [study.ask(space) for _ in range(min(self.n_jobs, self.n_trials - done))]
            batch = [fixed + [f"{k}={_text(t.params[k])}" for k in space] for t in trials]
            returns = self.launcher.launch(batch, initial_job_idx=done)
            for trial, ret in zip(trials, returns):
                value = self._objective(ret)
                if value is None:
                    study.tell(trial, state=optuna.trial.TrialState.FAIL)
                else:
                    study.tell(trial, value)
            done += len(trials)
        self._write_results(study, fixed, list(space))

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

    def _write_results(self, study, fixed, keys) -> None:
        finished = [t for t in study.trials if t.value is not None]
        doc: Dict[str, Any] = {"name": "optuna", "metric": self.metric, "direction": self.direction,
                               "n_trials": len(study.trials), "n_failed": len(study.trials) - len(finished)}
        if finished:
            best = study.best_trial
            doc.update(best_value=best.value, best_trial=best.number,
                       best_params={k: best.params[k] for k in keys},
                       best_overrides=fixed + [f"{k}={_text(best.params[k])}" for k in keys])
            log.info(f"Best trial {best.number}: {self.metric}={best.value:.6g} with {doc['best_params']}")
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(OmegaConf.create(doc), self.sweep_dir / RESULTS_FILE)


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
    """``hydra.sweeper.params.KEY=SWEEP`` as Hydra can take it: Hydra refuses a sweep on one
    of its own keys, so the sweep text is quoted (a plain string, parsed by this sweeper), and
    KEY is new to the (empty) ``params`` mapping, so it is added (``++``)."""
    out = []
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and key.startswith("hydra.sweeper.params.") and value and value[0] not in "'\"" and "'" not in value:
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
