"""A Hydra launcher (its config: ``conf/hydra/launcher/batched.yaml``) that runs a sweep's jobs as batches in the sweeping process:
``hydra/launcher=batched``, calclab's default (``basic``, ``joblib`` and ``ray`` stay available).

Jobs that share a *structure* (the same config choices and keys, differing only in plain
values such as ``optim.lr``, ``optim.betas``, ``seed``, ``problem.x0``) are composed once: the first
job's config is composed by Hydra, and every other job gets a copy of its task config with
its own value overrides applied by Hydra's own override code.  The jobs of a structure then
go to :func:`runner.sweep.batch.run_batch`, which validates each one (a bad value fails that
job alone), runs those it can as one kernel call per shared problem and records them in bulk;
the jobs it cannot batch (tasks other than optimize) run one by one exactly as Hydra's basic
launcher runs them.  Overrides, ``hydra.sweep.dir``, job numbers, ``multirun.yaml`` and each
job's ``result.json`` and ``.hydra/overrides.yaml`` keep their meaning, and the sweep
callback's parent run and summary work as with any launcher.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import JobReturn, configure_log, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write


log = logging.getLogger(__name__)

class BatchedLauncher(Launcher):
    def __init__(self, max_batch_size: int = 1024) -> None:
        if max_batch_size < 1:
            raise ValueError(f"hydra.launcher.max_batch_size: must be >= 1, got {max_batch_size}")
        self.max_batch_size = max_batch_size
        self.config: Optional[DictConfig] = None
        self.hydra_context = None
        self.task_function = None

    def setup(self, *, hydra_context, task_function, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from runner.sweep.batch import run_batch
        from runner.sweep.progress import job_ended

        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        returns: Dict[int, JobReturn] = {}
        counts = {"batches": 0, "batched": 0, "single": 0, "early": 0}
        for members in self._structures(job_overrides, initial_job_idx):
            composed = self._compose(members[0])
            task_cfg = copy.deepcopy(composed)
            with read_write(task_cfg), open_dict(task_cfg):
                del task_cfg["hydra"]
            jobs = [self._job(composed, task_cfg, idx, overrides) for idx, overrides in members]
            done = run_batch(jobs, sweep_dir, self.max_batch_size, self._callbacks)
            counts["batches"] += done.batches
            counts["batched"] += done.computed
            counts["early"] += len(done.results) - done.computed
            for job in jobs:
                if job.num in done.results:
                    returns[job.num] = self._job_return(job, done.results[job.num])
                    job_ended(sweep_dir, job.num)      # for the sweep's progress line (runner.sweep.progress)
                else:
                    returns[job.num] = self._run_alone(job)
                    counts["single"] += 1
        print(f"[sweep] {len(returns)} jobs: {counts['batched']} in {counts['batches']} batch(es) (one kernel call "
              f"each), {counts['single']} run one by one, {counts['early']} ended before any work", flush=True)
        return [returns[initial_job_idx + i] for i in range(len(job_overrides))]

    # ---- composing once per structure ------------------------------------------------------
    def _structures(self, job_overrides, initial_job_idx) -> List[list]:
        parser = OverridesParser.create()
        groups: Dict[tuple, list] = {}
        for i, overrides in enumerate(job_overrides):
            parsed = parser.parse_overrides(list(overrides))
            key = tuple((o.type, o.key_or_group, o.package, o.get_value_element_as_str() if self._whole(o) else None)
                        for o in parsed)
            groups.setdefault(key, []).append((initial_job_idx + i, list(overrides)))
        return list(groups.values())

    def _whole(self, o) -> bool:
        """Whether the override decides the config's structure (a group choice, a deletion,
        anything under ``hydra.``), so its value must be equal within a batch; any other value
        (numbers, strings, lists such as optim.betas) is applied to each job's copy."""
        return o.is_delete() or o.key_or_group.split(".", 1)[0] == "hydra" or self._is_group(o.key_or_group)

    def _is_group(self, key: str) -> bool:
        repository = getattr(self.hydra_context.config_loader, "repository", None)
        return True if repository is None else repository.group_exists(key)

    def _compose(self, first) -> DictConfig:
        idx, overrides = first
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(cfg):
            cfg.hydra.job.id = cfg.hydra.job.num = idx
        return cfg

    def _job(self, composed: DictConfig, base: DictConfig, idx: int, overrides: List[str]):
        """The job's task config: a copy of the structure's (``base``) with the job's own values."""
        # hydra-internal-ok: the very code load_sweep_config applies a job's overrides with (and
        # names its directory with), so a job's values mean what they mean in Hydra (hydra-core 1.3)
        from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname

        from runner.sweep.batch import BatchJob

        parsed = OverridesParser.create().parse_overrides(overrides)
        hydra_cfg = composed.hydra
        with read_write(hydra_cfg), open_dict(hydra_cfg):   # in place: only what names the job
            hydra_cfg.job.id = hydra_cfg.job.num = idx
            hydra_cfg.overrides.task = overrides
            names = hydra_cfg.job.config.override_dirname
            hydra_cfg.job.override_dirname = get_overrides_dirname(
                overrides=parsed, kv_sep=names.kv_sep, item_sep=names.item_sep, exclude_keys=names.exclude_keys)
        run_dir = Path(str(hydra_cfg.sweep.dir)) / str(OmegaConf.select(composed, "hydra.sweep.subdir"))
        task_cfg = copy.deepcopy(base)
        values = [o for o in parsed if not self._whole(o)]
        error = None
        try:
            ConfigLoaderImpl._apply_overrides_to_config(values, task_cfg)
        except Exception as e:     # Hydra's own message for a value its grammar or the schema refuses
            error = str(e).splitlines()[0]
        return BatchJob(num=idx, overrides=overrides, cfg=task_cfg, run_dir=run_dir.resolve(),
                        compose_error=error)

    # ---- what Hydra gets back -------------------------------------------------------------------
    def _job_return(self, job, result) -> JobReturn:
        from hydra.core.utils import JobStatus

        ret = JobReturn(overrides=job.overrides, cfg=job.cfg, working_dir=str(job.run_dir), task_name="calclab")
        ret.status = JobStatus.COMPLETED
        ret.return_value = result
        return ret

    def _callbacks(self):
        return self.hydra_context.callbacks

    def _run_alone(self, job) -> JobReturn:
        """A job that cannot batch: composed and run exactly as Hydra's basic launcher does."""
        cfg = self.hydra_context.config_loader.load_sweep_config(self.config, job.overrides)
        with open_dict(cfg):
            cfg.hydra.job.id = cfg.hydra.job.num = job.num
        ret = run_job(hydra_context=self.hydra_context, task_function=self.task_function, config=cfg,
                      job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return ret
