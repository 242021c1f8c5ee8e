"""Joblib sweeps: the launcher's worker processes start and import while the sweep is prepared.

``hydra/launcher=joblib`` (hydra-joblib-launcher) runs the jobs through ``joblib.Parallel``
on joblib's reusable loky executor.  Each worker is a fresh interpreter that spends seconds
importing Hydra, MLflow with its SQLAlchemy store and matplotlib before its first job, and
the launcher starts them only after the parent has created the MLflow store, the parent run
and the kernels.  :func:`prewarm` starts them first: it configures a ``joblib.Parallel``
with the launcher's own arguments, which creates the very executor the launcher's call gets
back later (loky reuses its executor while the arguments match), and sends each worker one
task that imports those modules and draws a small figure.

The warm-up never imports ``kernels`` (nor a module that does): the parent compiles them
into numba's on-disk cache at the same time, and concurrent first compiles into that cache
can crash.  Jobs load the kernels once they run, after the parent has compiled them.
Anything unexpected here (another joblib, a worker that cannot start) only means the
workers start cold, as without this module.

Without psutil, loky runs a full ``gc.collect()`` in a worker after every task that follows
a second without one: with Hydra, MLflow, SQLAlchemy, pandas, matplotlib and numba loaded
that walk took 0.4-0.5 s after each job (7 s of a worker's 16 short jobs).  The warm-up
and a worker's first job therefore end with :func:`freeze_heap`: what is in memory then
(modules, kernels, the store's engine) moves to the permanent generation, which collections
skip; what later jobs create is collected as before.
"""
from __future__ import annotations

import gc
import importlib
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

from omegaconf import DictConfig, OmegaConf

# What a job imports before it runs the task, minus numba kernels: Hydra's job machinery,
# the app and its tracking, MLflow's store (it pulls SQLAlchemy, alembic and pandas),
# matplotlib's object API, numba itself (importing it compiles nothing).
WARM_MODULES = (
    "hydra.core.utils", "hydra._internal.config_loader_impl", "hydra_plugins.hydra_joblib_launcher._core",
    "runner.app", "runner.sweep", "runner.tracking", "runner.outputs", "runner.report",
    "mlflow.entities", "mlflow.store.tracking.sqlalchemy_store", "mlflow.tracking",
    "matplotlib.figure", "matplotlib.backends.backend_agg", "numba",
)
BARRIER_TIMEOUT = 30.0   # s a warm-up waits for the other workers to take theirs


def is_joblib(config: DictConfig) -> bool:
    target = OmegaConf.select(config, "hydra.launcher._target_", default="") or ""
    return target.startswith("hydra_plugins.hydra_joblib_launcher.")


def parallel_kwargs(config: DictConfig) -> Dict[str, Any]:
    """The keyword arguments hydra-joblib-launcher gives ``joblib.Parallel`` (its ``_core.launch``)."""
    from hydra_plugins.hydra_joblib_launcher._core import process_joblib_cfg

    kwargs = OmegaConf.to_container(config.hydra.launcher, resolve=True)
    kwargs.pop("_target_", None)
    kwargs["backend"] = "loky"
    process_joblib_cfg(kwargs)
    return kwargs


class WarmWorkers:
    """The launcher's executor and the warm-up tasks sent to it, one per worker."""

    def __init__(self, executor, futures, barrier: Path):
        self.executor = executor
        self.futures = futures
        self.barrier = barrier

    def reports(self, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """Each worker's :func:`warm_up` report (pid, seconds), in submission order."""
        return [f.result(timeout=timeout) for f in self.futures]

    def used_by_launcher(self) -> bool:
        """Whether the launcher's Parallel got this executor back (loky keeps one current
        reusable executor and replaces it when the arguments differ)."""
        from joblib.externals.loky import reusable_executor

        return getattr(reusable_executor, "_executor", None) is self.executor

    def stop(self) -> None:
        """The sweep's jobs are done: end the (idle) workers now instead of at interpreter
        exit, where loky waits for each to tear down its interpreter (~1 s with MLflow loaded)."""
        shutil.rmtree(self.barrier, ignore_errors=True)
        self.executor.shutdown(wait=False, kill_workers=True)


def prewarm(config: DictConfig) -> Optional[WarmWorkers]:
    """Start the joblib launcher's workers now and have each import what a job needs; None if
    the launcher is not joblib, it would run in-process (one job at a time) or anything fails."""
    if not is_joblib(config):
        return None
    try:
        from joblib import Parallel

        parallel = Parallel(**parallel_kwargs(config))
        with parallel:       # configures the backend: gets or creates the reusable executor
            executor = getattr(parallel._backend, "_workers", None)
        if executor is None:  # n_jobs=1: the launcher runs the jobs in this process
            return None
        n = executor._max_workers
        barrier = Path(tempfile.mkdtemp(prefix="calclab-warm-"))
        warm = WarmWorkers(executor, [executor.submit(warm_up, str(barrier), n) for _ in range(n)], barrier)
        # A sweep that stops before its jobs (a bad override) must not wait for the warm-ups
        # at exit: loky joins its workers in a threading-atexit hook (as concurrent.futures
        # does); this one, registered later, runs first.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(warm.stop)
        return warm
    except Exception:
        return None


def warm_up(barrier: str, n_workers: int, modules=WARM_MODULES) -> Dict[str, Any]:
    """In a worker: import ``modules`` and draw a small log-scale figure (fonts, mathtext).
    Then wait until all ``n_workers`` warm-ups have started, so that each worker takes
    exactly one.  Returns the worker's pid and how long its start and imports took."""
    started = time.time()
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:     # the job will report its own import error
            pass
    _draw_once()
    freeze_heap()
    ready = time.time()
    Path(barrier, str(os.getpid())).touch()
    deadline = ready + BARRIER_TIMEOUT
    while time.time() < deadline:
        try:
            if len(os.listdir(barrier)) >= n_workers:
                break
        except FileNotFoundError:   # the sweep has already closed the barrier
            break
        time.sleep(0.02)
    return {"pid": os.getpid(), "process_start_s": started - _process_start_time(), "import_s": ready - started}


def freeze_heap() -> None:
    """Collect once, then exclude everything still alive from later collections."""
    gc.collect()
    gc.freeze()


_job_ended = False


def after_job() -> None:
    """In a loky worker, after its first job (kernels loaded, the store opened): freeze_heap."""
    global _job_ended
    if not _job_ended and multiprocessing.current_process().name.startswith("LokyProcess"):
        freeze_heap()
    _job_ended = True


def _draw_once() -> None:
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([1, 10], [1e-3, 1.0])
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title="warm-up")
    fig.savefig(io.BytesIO(), format="png", dpi=30)


def _process_start_time() -> float:
    """When this process started (epoch seconds, 10 ms resolution), from /proc; now where
    /proc is missing."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()
