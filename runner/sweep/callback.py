"""Multirun support: one MLflow parent run per sweep, a summary at the end, skip-finished.

A Hydra callback (registered in ``conf/config.yaml``) runs in the process that launches the
jobs, whatever the launcher:

* ``on_multirun_start``: has the MLflow store, the task's experiment and the parent run
  created *before* any job starts (parallel workers racing on a fresh SQLite store crash,
  and racing to create an experiment put runs into "Default") and writes them to
  ``<sweep dir>/sweep.json`` for the jobs to read.  Under ``python -m runner`` this is done
  by the helper forked at start-up (:mod:`runner.tracking.worker`), which has imported MLflow
  meanwhile and then records the jobs' child runs too, so neither this process nor a joblib
  worker imports MLflow.  With the joblib
  launcher it first starts the workers, which import what a job needs meanwhile
  (:mod:`runner.sweep.workers`); and it loads every numba kernel the task needs before any
  worker does (concurrent first compiles into numba's cache can crash).
* ``on_job_end`` (in the process that ran the job) and a watcher in the sweeping process:
  ``[sweep] 5/32 jobs done, ~40 s left`` as the jobs end (:mod:`runner.sweep.progress`).
* ``on_multirun_end``: stops the joblib workers; reads every job's ``result.json``, prints
  the summary table, writes ``summary.csv`` and comparison plots, waits for the helper to
  complete the jobs' child runs (it writes them while the next jobs run), has the summary
  (and the best job) logged to the parent run and ends it (KILLED after a Ctrl-C: :mod:`runner.interrupt`,
  exit 130).  If the sweep dies before that, an ``atexit`` hook ends the parent as KILLED.

Jobs find the parent through :func:`parent_of` and become its child runs.
"""
from __future__ import annotations

import atexit
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from runner import interrupt
from runner.outputs.compiling import compile_notice
from runner.errors import CONFIG_ERROR_EXIT, TRACKING_FAILED_EXIT, ConfigError
from runner.result import FINISHED, Result
from runner.sweep.progress import SweepProgress, job_ended
from runner.sweep.summary import best_job, job_records, print_table, summary_plots, summary_table, swept_keys, write_csv
from runner.tracking.messages import PARENT_FILE, AbandonParent, FinishParent, StartParent, parent_of


@dataclass
class SweepKnobs:
    """``sweep.*``: what a multirun does besides launching its jobs."""
    skip_finished: bool = False   # a job whose overrides already FINISHED in this sweep dir is not re-run
    prewarm_workers: bool = True  # joblib launcher: start the workers and import in them while the sweep is prepared
    curve_points: int = 20        # batched launcher: points per curve of each child run (see README, Sweeps)
    job_plots: int = 16           # batched launcher: per-job files and plots only for batches up to this size

    def check(self):
        if self.curve_points < 8:
            raise ConfigError("curve_points", f"must be >= 8, got {self.curve_points}")
        if self.job_plots < 0:
            raise ConfigError("job_plots", f"must be >= 0, got {self.job_plots}")


def finished_before(cfg, sweep_dir: Optional[Path], run_dir: Path, overrides) -> Optional[Result]:
    """With ``sweep.skip_finished``, the earlier Result of this job (same overrides, FINISHED in
    the same sweep dir, e.g. a re-run with ``hydra.sweep.dir`` fixed), else None."""
    if sweep_dir is None or not OmegaConf.select(cfg, "sweep.skip_finished", default=False):
        return None
    wanted = sorted(overrides)
    for row in job_records(sweep_dir):
        doc = row["result"]
        if sorted(row["overrides"]) == wanted and doc.get("status") == FINISHED:
            if Path(row["dir"]).resolve() != Path(run_dir).resolve():
                (Path(run_dir) / "skipped.json").write_text(json.dumps({"finished_in": row["dir"]}))
            print(f"[sweep] skipped {' '.join(overrides)}: finished before in {row['dir']}", flush=True)
            return Result(task=doc.get("task", ""), status=FINISHED, message="skipped: finished before",
                          final=doc.get("final") or {}, info={"skipped": True})
    return None


class SweepCallback(Callback):
    """See the module docstring.  ``hydra.callbacks.sweep._target_: runner.sweep.callback.SweepCallback``."""

    def __init__(self) -> None:
        self.parent: Optional[Dict[str, str]] = None
        self.helper = None
        self.warm = None
        self.progress: Optional[SweepProgress] = None

    def __getstate__(self):
        """Jobs get a copy of the callbacks (the joblib launcher pickles them with every job):
        the parent's tracking helper, the warm-up tasks in flight and the progress line's
        watcher stay with the parent."""
        return {**self.__dict__, "warm": None, "helper": None, "progress": None}

    # ---- start ---------------------------------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check_ray_address(config)
            _check_store(config)
        except ConfigError as e:     # Hydra turns a callback's exception into a warning: stop here
            print(f"calclab: error: {e}", file=sys.stderr, flush=True)
            raise SystemExit(CONFIG_ERROR_EXIT) from None
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        interrupt.clear(sweep_dir)
        interrupt.install(sweep_dir)
        self.progress = SweepProgress(sweep_dir, enabled=not OmegaConf.select(config, "quiet"))
        self.progress.start()
        tracked = OmegaConf.select(config, "tracking.name") == "mlflow"
        if tracked:     # the helper creates the store and the parent run while the kernels load
            from runner.tracking.worker import TrackingWorker

            self.helper = TrackingWorker.claim()
            if self.helper is not None and not OmegaConf.select(config, "tracking.fork", default=True):
                self._close_helper()
            parent_request = self._parent_run_request(config, sweep_dir)
            if self.helper is not None:
                self.helper.start_sweep(parent_request)
        if OmegaConf.select(config, "sweep.prewarm_workers", default=True):
            from runner.sweep import workers as sweep_workers

            # the workers log to MLflow themselves only if the sweep is tracked and no helper does it
            self.warm = sweep_workers.prewarm(config, import_mlflow=tracked and self.helper is None)
            if self.warm is not None:   # the jobs run elsewhere: this process draws only the summary
                sweep_workers.draw_in_background()
        compiled = False
        try:
            _warm_up(config)
            compiled = True
        finally:
            # The warmed workers load the kernels (and run the task briefly) only once they are
            # compiled; when the helper makes the store and the parent run, at once (this
            # process only waits for it), else after this process has made them (the CPU).
            early = self.warm is not None and self.helper is not None
            if early:
                self.warm.kernels_compiled(compiled)
            try:
                if tracked:
                    self._start_parent_run(parent_request, sweep_dir)
            finally:
                if self.warm is not None and not early:
                    self.warm.kernels_compiled(compiled)

    @staticmethod
    def _parent_run_request(config: DictConfig, sweep_dir: Path) -> StartParent:
        """What creating this sweep's parent run takes (runner.tracking.parent.start_parent)."""
        from runner.tracking.store import resolve_store

        tcfg = config.tracking
        uri, artifact_root = resolve_store(tcfg.uri, tcfg.artifact_location)
        overrides = list(config.hydra.overrides.task)
        tags = {"calclab.sweep": "parent", "task": str(config.task), "sweep_dir": str(sweep_dir.resolve()),
                "overrides": " ".join(overrides)[:5000], "mlflow.source.name": "calclab"}
        return StartParent(uri, artifact_root, tcfg.experiment or f"calclab-{config.task}",
                           f"sweep: {' '.join(overrides)}"[:250], tags, {"sweep.overrides": " ".join(overrides)[:6000]})

    def _start_parent_run(self, request: StartParent, sweep_dir: Path) -> None:
        """The store, the experiment and the parent run exist (made by the helper, else here);
        write sweep.json for the jobs."""
        self.parent = self.helper.reply() if self.helper is not None else self._tracking(request)
        (sweep_dir / PARENT_FILE).write_text(json.dumps(self.parent))
        self.sweep_dir = sweep_dir
        atexit.register(self._abandon)

    def _tracking(self, request):
        """Carry out a parent-run request (runner.tracking.messages), in the helper if there is one."""
        if self.helper is not None:
            return self.helper.call(request)
        from runner.tracking import parent as parent_runs

        return parent_runs.carry_out(request)

    # ---- a job's end, in the process that ran it -------------------------------------------
    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        from runner.sweep import workers as sweep_workers

        if OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN:    # Hydra calls this for single runs too
            # still in the job's directory with hydra.job.chdir=true: the sweep dir is the launch cwd's
            job_ended(Path(config.hydra.runtime.cwd) / config.hydra.sweep.dir, config.hydra.job.num)
            if self.progress is not None:      # the sweeping process ran this job: its line at once
                self.progress.poll()
        sweep_workers.after_job()

    # ---- end -----------------------------------------------------------------------------
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
        self._stop_workers()
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = job_records(sweep_dir)
        swept = swept_keys(rows)
        table = summary_table(rows, swept)
        csv_path = write_csv(table, sweep_dir / "summary.csv")
        if not OmegaConf.select(config, "quiet"):
            print_table(table)
        plots = summary_plots(rows, swept, sweep_dir / "summary_plots") + self._readings(rows, table, swept, sweep_dir,
                                                                                          config)
        stopped = interrupt.interrupted(sweep_dir)
        incomplete = self._wait_for_runs()
        if self.parent is not None:
            self._finish_parent_run(rows, csv_path, plots, sweep_dir, "KILLED" if stopped else "FINISHED")
        self._close_helper()
        if stopped:
            ran = sum(r["result"].get("message") != interrupt.NOT_RUN for r in rows)
            print(f"calclab: {interrupt.verb()}: {ran} of the sweep's jobs ran (summary in {sweep_dir})",
                  file=sys.stderr, flush=True)
            raise SystemExit(interrupt.exit_code())
        unrecorded = sum(bool(r["result"].get("mlflow_record_failed")) for r in rows)
        if unrecorded or incomplete:   # the results are on disk; a sweep missing records is not a success
            upload = f"; upload them with: python -m runner.tracking upload {sweep_dir}" if unrecorded else ""
            print(f"calclab: error: tracking.uri: {unrecorded + incomplete} of the sweep's {len(rows)} jobs have "
                  f"no complete MLflow record; their results are in {sweep_dir}{upload}", file=sys.stderr, flush=True)
            raise SystemExit(TRACKING_FAILED_EXIT)

    @staticmethod
    def _readings(rows, table, swept, sweep_dir: Path, config) -> list:
        """Heat maps over each pair of numeric swept keys, the ranking per group of the other
        swept keys (runner.sweep.heatmap), the best path of each group on a 2-D problem's
        contour (runner.sweep.paths), and the batched jobs' trajectories archive: files for
        the parent run."""
        from runner.sweep.heatmap import heat_maps, ranking
        from runner.sweep.paths import best_path_plots
        from runner.tracking.archive import ARCHIVE_FILE

        files = heat_maps(table, swept, sweep_dir / "summary_plots")
        files += best_path_plots(rows, table, swept, sweep_dir, sweep_dir / "summary_plots", _job_config(config))
        ranked = ranking(table, swept)
        if len(ranked) > 1:
            files.append(write_csv(ranked, sweep_dir / "ranking.csv"))
            if not OmegaConf.select(config, "quiet"):
                print("[sweep] ranking (best finished job per group)")
                for row in ranked:
                    print("  " + "  ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in row.items()))
        archive = sweep_dir / ARCHIVE_FILE
        return files + ([archive] if archive.is_file() else [])

    def _finish_parent_run(self, rows, csv_path, plots, sweep_dir: Path, status: str) -> None:
        counts = {s: sum(r["result"]["status"] == s for r in rows) for s in ("FINISHED", "DIVERGED", "FAILED", "KILLED")}
        metrics = {}
        # bookkeeping, not a measurement: tags (a metric would draw a one-point chart of it)
        tags = {"jobs": str(len(rows)), **{f"jobs_{k.lower()}": str(v) for k, v in counts.items()}}
        params, artifacts = {}, [csv_path, *plots]
        best = best_job(rows)
        if best is not None:
            metrics["best_loss"] = best["result"]["final"]["loss"]
            tags.update(best_job=str(best["job"]), best_overrides=" ".join(best["overrides"])[:5000])
            if best["result"].get("mlflow_run_id"):
                tags["best_run_id"] = best["result"]["mlflow_run_id"]
        search = sweep_dir / "optimization_results.yaml"      # written by the optuna sweeper
        if search.is_file():
            found = OmegaConf.to_container(OmegaConf.load(search))
            if "best_value" in found:
                metrics[f"best_{found['metric']}"] = found["best_value"]
                params.update({f"best.{key}": value for key, value in found["best_params"].items()})
                tags["best_trial"] = str(found["best_trial"])
            artifacts.append(search)
        # FINISHED: the sweep ran to its end (KILLED: Ctrl-C); how its jobs ended is in jobs_* and the table
        self._tracking(FinishParent(self.parent, metrics, tags, params, [str(p) for p in artifacts], status))
        self.parent = None

    def _wait_for_runs(self) -> int:
        """The helper completes the jobs' child runs after the jobs have moved on: wait for the
        last of them, and say which (if any) could not be completed (they ended FAILED); how many."""
        if self.helper is None or self.parent is None:
            return 0
        try:
            lines = self.helper.wait_for_runs()
        except Exception as e:     # the helper is gone: the summary below says the same
            lines = [f"the sweep's tracking helper failed ({type(e).__name__}: {e})"]
        for line in lines:
            print(f"calclab: error: {line}", file=sys.stderr, flush=True)
        return len(lines)

    def _close_helper(self) -> None:
        helper, self.helper = self.helper, None
        if helper is not None:
            helper.close()

    def _stop_workers(self) -> None:
        """Every job has returned: stop the joblib workers started by on_multirun_start, with
        one line on their start-up, which ran while the sweep was prepared."""
        warm, self.warm = self.warm, None
        if warm is None:
            return
        reused = warm.used_by_launcher()
        try:
            reports = warm.reports(timeout=1.0)
        except Exception:     # a worker died or never took its warm-up: the jobs say more
            reports = []
        warm.stop()
        if not reused:
            print("[sweep] the joblib launcher started new workers instead of the warmed-up ones "
                  "(its executor arguments differ)", flush=True)
        elif reports:
            start = sum(r["process_start_s"] for r in reports) / len(reports)
            imports = sum(r["import_s"] for r in reports) / len(reports)
            loaded = sum(bool(r.get("kernels")) for r in reports)
            print(f"[sweep] {len(reports)} joblib workers warmed up while the sweep was prepared "
                  f"(mean: process start {start:.2f} s, imports {imports:.2f} s; kernels loaded in {loaded})",
                  flush=True)

    def _abandon(self) -> None:
        """The sweep ended without on_multirun_end (Ctrl-C, a crash, a bad sweep override):
        never leave the parent RUNNING; if no job ran at all, it never meant anything: delete it."""
        if self.progress is not None:
            self.progress.stopped.set()
        if self.parent is None:
            return
        try:
            jobs_ran = any(self.sweep_dir.glob("*/.hydra"))    # a job started (it may not have ended)
            self._tracking(AbandonParent(self.parent, jobs_ran))
            if not jobs_ran:
                (self.sweep_dir / PARENT_FILE).unlink(missing_ok=True)
        except Exception:
            pass
        finally:
            self._close_helper()


def _job_config(config: DictConfig):
    """``compose(overrides)``: a job's config as Hydra composed it for the job (Hydra's compose
    API, on the config tree of the running application)."""
    from hydra import compose

    name = OmegaConf.select(config, "hydra.job.config_name", default=None) or "config"
    return lambda overrides: compose(config_name=name, overrides=list(overrides))


def _check_store(config: DictConfig) -> None:
    """A tracked sweep's store that cannot take runs is one error line before any job starts."""
    if OmegaConf.select(config, "tracking.name") != "mlflow":
        return
    from runner.config.validate import validate_group
    from runner.tracking.check import check_store
    from runner.tracking.store import SCHEMAS

    check_store(validate_group("tracking", config.tracking, SCHEMAS))


def check_ray_address(config: DictConfig, timeout: float = 5.0) -> None:
    """A Ray cluster address that does not answer is one error line before any job starts
    (Ray itself retries for minutes).  ``auto``, ``local`` and no address are not checked."""
    import socket

    address = OmegaConf.select(config, "hydra.launcher.ray.init.address", default=None)
    if not address or str(address) in ("auto", "local"):
        return
    text = str(address).split("://", 1)[-1]
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError("hydra.launcher.ray.init.address", f"expected HOST:PORT or ray://HOST:PORT, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise ConfigError("hydra.launcher.ray.init.address",
                          f"no Ray cluster answers at {address} ({e.strerror or e}); start one with "
                          f"`ray start --head` or drop the address for a local Ray") from None


def _warm_up(config: DictConfig) -> None:
    """Load (or compile once) the task's numba kernels here, before any worker loads them."""
    from runner.tasks import registry

    try:
        task = registry.load_task(config.get("task"))
    except Exception:
        return   # the jobs report the bad task themselves
    warm = getattr(task, "warmup", None)
    if warm is not None:
        start = time.perf_counter()
        with compile_notice():
            warm()
        print(f"[sweep] kernels ready in {time.perf_counter() - start:.2f} s", flush=True)
