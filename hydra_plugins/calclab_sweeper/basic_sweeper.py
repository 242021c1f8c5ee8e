"""Hydra's basic sweeper with a cheaper up-front check: ``hydra/sweeper=basic``, the default.

Before launching a batch, Hydra's :class:`BasicSweeper` composes every job's config once in
the sweeping process, only to find a bad override before any job starts; the launcher then
composes each again.  Here a composition takes ~70 ms, so a 32-job sweep spent 2-3 s
checking, with any parallel workers idle.

Whether a composition succeeds depends on which configs are chosen and which keys are set,
not on the plain values they are set to: ``optim.lr=0.01`` and ``optim.lr=0.02`` both
succeed or both fail.  Jobs are therefore grouped by their *structure*, and one job per
group is composed: the structure keeps the whole override where the value matters (a config
group choice such as ``optim=adam``, a deletion ``~key=value``, anything under ``hydra.``,
whose nodes are typed, and list or dict values, which merge into the config) and only the
key, the kind of override (``key=``, ``+key=``, ``++key=``) and the value's type otherwise.
``optim=gd,adam optim.lr=1e-3,1e-2,1e-1`` is checked with two compositions instead of six;
a key that exists only under one of the optimizers is still caught, before any job starts.

Everything else is what Hydra's own ``BasicSweeper`` (``hydra/sweeper=basic``, Hydra 1.3)
does, written on Hydra's public plugin API only: the cartesian product of the sweep
overrides in their order (``params`` first, then the command line; a key given twice keeps
its first place and its last value), batches of ``max_batch_size`` jobs numbered on from
one batch to the next, ``multirun.yaml`` in the sweep directory, and the same errors.

:func:`register` (called by ``python -m runner``) puts this sweeper's config in Hydra's
ConfigStore as ``hydra/sweeper/basic`` in place of Hydra's own,
so that presets may still pick another sweeper (the first defaults-list override of a group
wins, so ours could not be an override in ``config.yaml``).  ``hydra.sweeper.check=all``
composes every job, as Hydra does.
"""
from __future__ import annotations

import itertools
import logging
import time
from pathlib import Path
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from hydra_plugins.calclab_sweeper import precheck
from runner.sweep import progress

log = logging.getLogger(__name__)

CHECKS = ("structures", "all")


# A plain node, not a dataclass: Hydra's plugin scan executes this module before it is in
# sys.modules, where @dataclass fails.
CONFIG = {"_target_": "hydra_plugins.calclab_sweeper.basic_sweeper.CalclabBasicSweeper",
          "max_batch_size": None, "params": None,
          "check": "structures"}   # structures: one job per structure (see above); all: every job


def register() -> None:
    """``hydra/sweeper=basic`` (Hydra's default sweeper) becomes this one."""
    ConfigStore.instance().store(group="hydra/sweeper", name="basic", node=CONFIG,
                                 provider="calclab")


class CalclabBasicSweeper(Sweeper):
    def __init__(self, max_batch_size: Optional[int] = None, params: Optional[Dict[str, str]] = None,
                 check: str = "structures") -> None:
        if check not in CHECKS:
            raise ValueError(f"hydra.sweeper.check: must be one of {', '.join(CHECKS)}, got {check!r}")
        self.check = check
        self.max_batch_size = max_batch_size
        self.params = params or {}
        self.overrides: Optional[List[List[List[str]]]] = None   # batches of jobs of overrides
        self.batch_index = 0
        self.hydra_context: Optional[HydraContext] = None
        self.config: Optional[DictConfig] = None
        self.launcher: Optional[Launcher] = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.hydra_context = hydra_context
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> List[Sequence[JobReturn]]:
        """Launch every job, batch by batch; the launchers' returns, one list per batch."""
        assert self.config is not None and self.launcher is not None and self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        overrides = parser.parse_overrides([f"{k}={v}" for k, v in self.params.items()] + list(arguments))
        self.overrides = batches(jobs(overrides), self.max_batch_size)
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        progress.expect(sweep_dir, sum(len(batch) for batch in self.overrides))   # the sweep's ETA line

        returns: List[Sequence[JobReturn]] = []
        initial_job_idx = 0
        while not self.is_done():
            batch = self.get_job_batch()
            tic = time.perf_counter()
            self.validate_batch_is_legal(batch)   # a bad override fails here, before any job starts
            log.debug(f"Validated configs of {len(batch)} jobs in {time.perf_counter() - tic:0.2f} seconds")
            results = self.launcher.launch(batch, initial_job_idx=initial_job_idx)
            for r in results:
                _ = r.return_value   # raises the job's exception, as Hydra's sweeper does
            initial_job_idx += len(batch)
            returns.append(results)
        return returns

    def get_job_batch(self) -> Sequence[Sequence[str]]:
        assert self.overrides is not None
        self.batch_index += 1
        return self.overrides[self.batch_index - 1]

    def is_done(self) -> bool:
        assert self.overrides is not None
        return self.batch_index >= len(self.overrides)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Compose one job per structure (see the module docstring) instead of every job;
        then calclab's own check (precheck.py): a config error of every job stops the sweep."""
        firsts = batch if self.check == "all" else representatives(batch, self._is_group)
        super().validate_batch_is_legal(firsts)
        precheck.check_batch(batch, firsts, lambda o: self.hydra_context.config_loader.load_sweep_config(self.config, o))

    def _is_group(self, key: str) -> bool:
        loader = self.hydra_context.config_loader
        repository = getattr(loader, "repository", None)
        # Without a repository to ask, treat every key as a group: every job is then checked.
        return True if repository is None else repository.group_exists(key)


def jobs(overrides: Sequence[Override]) -> List[List[str]]:
    """The cartesian product of the overrides' values, the last key varying fastest; a key
    given twice keeps its first place and its last value (Hydra's order)."""
    axes: Dict[str, List[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if not override.is_sweep_override():
            axes[key] = [f"{key}={override.get_value_element_as_str()}"]
        elif override.is_discrete_sweep():
            axes[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            raise HydraException(f"BasicSweeper does not support sweep type : {override.value_type.name}")
    return [list(job) for job in itertools.product(*axes.values())]


def batches(all_jobs: List[List[str]], max_batch_size: Optional[int]) -> List[List[List[str]]]:
    """``all_jobs`` in batches of ``max_batch_size`` (null: one batch)."""
    assert max_batch_size is None or max_batch_size > 0   # Hydra's own check, kept as it is
    if max_batch_size is None:
        return [all_jobs]
    return [all_jobs[i:i + max_batch_size] for i in range(0, len(all_jobs), max_batch_size)]


def representatives(batch: Sequence[Sequence[str]], is_group) -> List[Sequence[str]]:
    """The first job of each structure in ``batch``, in batch order."""
    parser = OverridesParser.create()
    first: Dict[Tuple[Hashable, ...], Sequence[str]] = {}
    for overrides in batch:
        key = tuple(structure(o, is_group) for o in parser.parse_overrides(list(overrides)))
        first.setdefault(key, overrides)
    return list(first.values())


def structure(override: Override, is_group) -> Hashable:
    """What of one override can decide whether its job's config composes."""
    value = override.value()
    whole = (override.is_delete() or override.key_or_group.split(".", 1)[0] == "hydra"
             or isinstance(value, (list, dict)) or is_group(override.key_or_group))
    kind = (override.type, override.key_or_group, override.package)
    return (*kind, override.get_value_element_as_str()) if whole else (*kind, type(value).__name__)
