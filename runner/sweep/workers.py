"""Joblib sweeps: the launcher's worker processes start and import while the sweep is prepared.

``hydra/launcher=joblib`` (hydra-joblib-launcher) runs the jobs through ``joblib.Parallel``
on joblib's reusable loky executor.  Each worker is a fresh interpreter that spends seconds
importing Hydra, MLflow with its SQLAlchemy store and matplotlib before its first job, and
the launcher starts them only after the parent has created the MLflow store, the parent run
and the kernels.  :func:`prewarm` starts them first: it configures a ``joblib.Parallel``
with the launcher's own arguments, which creates the very executor the launcher's call gets
back later (loky reuses its executor while the arguments match), and sends each worker one
task that imports those modules and draws a small figure.

The warm-up imports no ``kernels`` (nor a module that does) until the parent has compiled
them into numba's on-disk cache: concurrent first compiles into that cache can crash.  The
parent writes :data:`KERNELS_READY` into the warm-up's barrier directory once its kernel
warm-up has returned (:meth:`WarmWorkers.kernels_compiled`); each worker waits for it, then
loads the task's kernels from the cache and, for ``task=optimize``, runs the sweep's base
config for a few steps and draws its plots, so that a worker's first job costs what the
others do.  Without the marker (the parent's warm-up failed, or took longer than
:data:`KERNELS_TIMEOUT`) the worker loads nothing and its first job loads the kernels.
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
    "runner.app", "runner.tasks.registry", "runner.sweep.callback", "runner.tracking.store", "runner.outputs.files", "runner.outputs.report",
    "mlflow.entities", "mlflow.store.tracking.sqlalchemy_store", "mlflow.tracking",
    "matplotlib.figure", "matplotlib.backends.backend_agg", "numba",
)
BARRIER_TIMEOUT = 30.0   # s a warm-up waits for the other workers to take theirs
KERNELS_READY = "kernels-ready"   # written into the barrier dir once the parent's kernel warm-up returned
KERNELS_FAILED = "kernels-failed"  # ... or once it raised: the workers load no kernel
MARKERS = (KERNELS_READY, KERNELS_FAILED)
KERNELS_TIMEOUT = 120.0  # s a warm-up waits for it before leaving the kernels to the first job
WARM_STEPS = 20          # optimize steps of the warm-up run whose plots a worker draws


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

    def kernels_compiled(self, ok: bool = True) -> None:
        """The parent's kernel warm-up has returned (``ok``) or raised: the workers may load the
        kernels now, or must not wait for them."""
        try:
            Path(self.barrier, KERNELS_READY if ok else KERNELS_FAILED).touch()
        except OSError:      # the barrier is gone (the sweep stopped): nothing waits for it
            pass

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


def prewarm(config: DictConfig, import_mlflow: bool = True) -> Optional[WarmWorkers]:
    """Start the joblib launcher's workers now and have each import what a job needs (MLflow
    only with ``import_mlflow``: not when the sweep's helper records the jobs' runs, nor for an
    untracked sweep); None if
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
        job, sweep_dir = task_config(config), str(config.hydra.sweep.dir)
        modules = WARM_MODULES if import_mlflow else tuple(m for m in WARM_MODULES if not m.startswith("mlflow"))
        warm = WarmWorkers(executor, [executor.submit(warm_up, str(barrier), n, modules, job=job, sweep_dir=sweep_dir)
                                      for _ in range(n)], barrier)
        # A sweep that stops before its jobs (a bad override) must not wait for the warm-ups
        # at exit: loky joins its workers in a threading-atexit hook (as concurrent.futures
        # does); this one, registered later, runs first.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            register(warm.stop)
        return warm
    except Exception:
        return None


def task_config(config: DictConfig) -> Optional[DictConfig]:
    """The sweep's base config without Hydra's node (its resolvers only work in Hydra's
    process), for a worker's warm-up run; None if it cannot be made."""
    try:
        job = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        OmegaConf.resolve(job)
        return job
    except Exception:
        return None


def warm_up(barrier: str, n_workers: int, modules=WARM_MODULES, job: Optional[DictConfig] = None,
            kernels_timeout: float = KERNELS_TIMEOUT, sweep_dir: Optional[str] = None) -> Dict[str, Any]:
    """In a worker: import ``modules`` and draw a small log-scale figure (fonts, the labels);
    with ``job`` (the sweep's base config), once the parent has written :data:`KERNELS_READY`
    into ``barrier``, load the task's kernels and run it briefly (:func:`warm_task`).  Then
    wait until all ``n_workers`` warm-ups have started, so that each worker takes exactly
    one.  Returns the worker's pid, how long its start, imports and task warm-up took, and
    whether the kernels were loaded.  With ``sweep_dir``, Ctrl-C is handled as in the sweep's
    jobs from now on (runner.interrupt: a worker between jobs must not die of it)."""
    started = time.time()
    if sweep_dir is not None:
        from runner import interrupt

        interrupt.install(sweep_dir)
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:     # the job will report its own import error
            pass
    _draw_once()
    imported = time.time()
    kernels = job is not None and _wait_for_marker(barrier, kernels_timeout) == KERNELS_READY and warm_task(job)
    freeze_heap()
    ready = time.time()
    Path(barrier, str(os.getpid())).touch()
    _poll(barrier, BARRIER_TIMEOUT, lambda names: len([f for f in names if f not in MARKERS]) >= n_workers)
    return {"pid": os.getpid(), "process_start_s": started - _process_start_time(), "import_s": imported - started,
            "task_s": ready - imported, "kernels": kernels}


def _wait_for_marker(barrier: str, timeout: float) -> Optional[str]:
    """The first of :data:`MARKERS` that appears in ``barrier`` within ``timeout`` s; None on
    timeout or once the barrier is gone (the sweep stopped)."""
    return _poll(barrier, timeout, lambda names: next((m for m in MARKERS if m in names), None))


def _poll(barrier: str, timeout: float, found):
    """``found(names of the files in barrier)`` every 20 ms until it is truthy (returned), the
    timeout passes or the barrier is gone (the sweep has closed it): then None."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            hit = found(os.listdir(barrier))
        except FileNotFoundError:
            return None
        if hit:
            return hit
        time.sleep(0.02)
    return None


def warm_task(job: DictConfig) -> bool:
    """Load the task's kernels (from numba's cache: the parent has compiled them) and, for
    ``task=optimize``, run ``job`` for :data:`WARM_STEPS` steps without tracking and draw its
    plots (no file written).  Whether the kernels were loaded; a config the jobs will reject
    only skips the run."""
    import io

    from runner.tasks import registry
    from runner.outputs.plots import save

    try:
        task = registry.load_task(job.get("task"))
        getattr(task, "warmup", lambda: None)()
    except Exception:          # the jobs report a bad task themselves
        return False
    if job.get("task") != "optimize":
        return True
    try:
        job = job.copy()
        job.optimize.steps = min(int(job.optimize.steps), WARM_STEPS)
        with tempfile.TemporaryDirectory() as tmp:
            ctx = registry.TaskContext(run_dir=Path(tmp), seed=int(job.seed), quiet=True)
            result = task.run(job, ctx)
        for _, draw in result.plots:
            save(draw(), io.BytesIO(), format="png")
    except Exception:
        pass
    return True


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


def draw_in_background() -> None:
    """In the sweeping process, when its jobs run in workers: import matplotlib and draw once
    (fonts) in a daemon thread while it waits, so that the summary plots at the end
    (on one core, after the last job) do not pay for it (~0.4 s)."""
    threading.Thread(target=_draw_once, name="calclab-warm-plots", daemon=True).start()


def _draw_once() -> None:
    import io

    from matplotlib.figure import Figure

    from runner.outputs.plots import save

    fig = Figure(figsize=(2, 2), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([1, 10], [1e-3, 1.0])
    ax.set_yscale("log")
    ax.set(xlabel="step", ylabel="loss", title="warm-up")
    save(fig, io.BytesIO(), dpi=30, format="png")


def _process_start_time() -> float:
    """When this process started (epoch seconds, 10 ms resolution), from /proc; now where
    /proc is missing."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - ticks / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()
