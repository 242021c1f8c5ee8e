"""Joblib sweeps: the workers started and warmed while the sweep is prepared are the ones the
hydra-joblib-launcher then runs the jobs in, and their warm-up loads numba kernels only once the
parent has compiled them."""
import json
import os
import subprocess
import sys
import time

import pytest
from hydra import compose, initialize_config_module
from hydra.core.utils import JobReturn, JobStatus
from hydra.utils import instantiate

from runner.sweep import callback as sweep
from runner.sweep import workers as sweep_workers


def sweep_config(tmp_path, *overrides):
    with initialize_config_module(config_module="conf", version_base="1.3"):
        return compose(config_name="config", return_hydra_config=True,
                       overrides=[f"hydra.sweep.dir={tmp_path / 'sweep'}", *overrides])


def pid_job(idx, overrides, hydra_context, config, task_function, singleton_state) -> JobReturn:
    """Stands in for hydra-joblib-launcher's execute_job: says which process ran the job."""
    return JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED, _return_value=os.getpid())


@pytest.mark.slow
def test_the_joblib_launcher_runs_its_jobs_in_the_warmed_workers(tmp_path, monkeypatch):
    from hydra_plugins.hydra_joblib_launcher import _core

    cfg = sweep_config(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    warm = sweep_workers.prewarm(cfg)
    assert warm is not None
    try:
        sweep._warm_up(cfg)                           # as on_multirun_start: kernels compiled, then the marker
        warm.kernels_compiled()
        reports = warm.reports(timeout=120)
        warmed = {r["pid"] for r in reports}
        assert len(warmed) == 2                       # one warm-up in each worker
        assert all(r["import_s"] > 0 and r["process_start_s"] >= 0 and r["kernels"] for r in reports)

        # the launcher exactly as Hydra builds and calls it; only the job itself is replaced
        monkeypatch.setattr(_core, "execute_job", pid_job)
        launcher = instantiate(cfg.hydra.launcher)
        launcher.setup(hydra_context=object(), task_function=print, config=cfg)
        returns = launcher.launch([[f"optim.lr={i}"] for i in range(8)], initial_job_idx=0)
        ran_in = {r.return_value for r in returns}
        assert len(returns) == 8 and ran_in <= warmed, (ran_in, warmed)
        workers = list(warm.executor._processes)
    finally:
        warm.stop()
    deadline = time.time() + 30         # stop() does not wait for the workers to end; the test does
    while any(running(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in workers)


def running(pid: int) -> bool:
    """The process exists and is not a zombie (loky's manager thread reaps its workers)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_no_warm_up_without_parallel_workers(tmp_path):
    assert sweep_workers.prewarm(sweep_config(tmp_path)) is None                      # basic launcher
    assert sweep_workers.prewarm(sweep_config(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=1")) is None


def test_the_warm_up_imports_what_a_job_needs_but_no_kernel(tmp_path):
    code = ("import json, sys\n"
            "from runner.sweep.workers import WARM_MODULES, warm_up\n"
            f"report = warm_up({str(tmp_path)!r}, 1)\n"
            "import gc, time\n"
            "t = time.perf_counter(); gc.collect(); collect_s = time.perf_counter() - t\n"
            "print(json.dumps({'report': report, 'missing': [m for m in WARM_MODULES if m not in sys.modules],\n"
            "                  'frozen': gc.get_freeze_count(), 'collect_s': collect_s,\n"
            "                  'kernels': sorted(m for m in sys.modules if m.split('.')[0] == 'kernels'\n"
            "                                    or (m.startswith('runner.tasks.') and m != 'runner.tasks.registry'))}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["missing"] == []
    assert doc["kernels"] == []         # the parent compiles them meanwhile: a worker must not
    assert doc["report"]["import_s"] > 0 and os.listdir(tmp_path) == [str(doc["report"]["pid"])]
    # what was imported is out of the collections loky runs after every job (0.4-0.5 s each before)
    assert doc["frozen"] > 100_000 and doc["collect_s"] < 0.1


# In a fresh interpreter: warm_up with the sweep's base config; a meta-path hook notes, at
# every import of a ``kernels`` module, whether the parent's marker existed by then.
WARM_TASK = """
import json, os, sys, threading, time
from pathlib import Path
sys.path.insert(0, {tests!r})
from conftest import compose
from runner.sweep import workers as sweep_workers

barrier, marker_after = {barrier!r}, {marker_after!r}
marker = Path(barrier, sweep_workers.KERNELS_READY)
seen = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "kernels":
            seen.append(marker.exists())

sys.meta_path.insert(0, Watch())
job = sweep_workers.task_config(compose(["problem=bowl", "optim=gd", "tracking=none", "quiet=true"]))
if marker_after is not None:
    threading.Timer(marker_after, marker.touch).start()
report = sweep_workers.warm_up(barrier, 1, modules=(), job=job, kernels_timeout={timeout!r})
print(json.dumps({{"report": report, "seen": seen,
                  "kernels": sorted(m for m in sys.modules if m.split(".")[0] == "kernels")}}))
"""


def warm_task_in_fresh_process(tmp_path, marker_after, timeout):
    code = WARM_TASK.format(tests=os.path.dirname(__file__), barrier=str(tmp_path),
                            marker_after=marker_after, timeout=timeout)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=os.path.dirname(os.path.dirname(__file__)))
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_worker_loads_the_kernels_only_once_the_parent_has_compiled_them(tmp_path):
    doc = warm_task_in_fresh_process(tmp_path, marker_after=2.0, timeout=60.0)
    assert doc["report"]["kernels"] is True
    assert "kernels.descent_fast" in doc["kernels"] and "kernels.objectives" in doc["kernels"]
    assert doc["seen"] and all(doc["seen"]), doc["seen"]     # no kernel import before the marker
    assert doc["report"]["task_s"] >= 1.5                    # it waited for the marker


def test_no_kernel_is_loaded_when_the_parent_never_says_they_are_compiled(tmp_path):
    doc = warm_task_in_fresh_process(tmp_path, marker_after=None, timeout=1.0)
    assert doc["report"]["kernels"] is False and doc["kernels"] == [] and doc["seen"] == []
    failed = tmp_path / "failed"
    failed.mkdir()
    (failed / sweep_workers.KERNELS_FAILED).touch()          # the parent's warm-up raised
    doc = warm_task_in_fresh_process(failed, marker_after=None, timeout=60.0)
    assert doc["report"]["kernels"] is False and doc["kernels"] == []
    assert doc["report"]["task_s"] < 30                     # it did not wait for the timeout


def test_the_sweep_tells_the_workers_after_its_kernel_warm_up_and_before_waiting_for_the_helper(tmp_path, monkeypatch):
    events = []

    class Warm:
        def kernels_compiled(self, ok=True):
            events.append(("marker", ok))

    monkeypatch.setattr(sweep_workers, "prewarm", lambda config, **kw: Warm())
    monkeypatch.setattr(sweep, "_warm_up", lambda config: events.append("warm_up"))
    monkeypatch.setattr(sweep.SweepCallback, "_start_parent_run", lambda self, config, d: events.append("parent run"))
    sweep.SweepCallback().on_multirun_start(sweep_config(tmp_path, "tracking=none"))
    assert events == ["warm_up", ("marker", True)]
    events.clear()           # with MLflow made here: not before the parent run exists (this process needs the CPU)
    sweep.SweepCallback().on_multirun_start(sweep_config(tmp_path))
    assert events == ["warm_up", "parent run", ("marker", True)]

    class Helper:            # the helper makes the parent run: this process only waits, the workers go on
        def start_sweep(self, *args):
            events.append("helper asked")

    from runner.tracking.worker import TrackingWorker

    monkeypatch.setattr(TrackingWorker, "claim", classmethod(lambda cls: Helper()))
    events.clear()
    sweep.SweepCallback().on_multirun_start(sweep_config(tmp_path))
    assert events == ["helper asked", "warm_up", ("marker", True), "parent run"]

    def broken(config):
        raise RuntimeError("compile failed")

    events.clear()
    monkeypatch.setattr(sweep, "_warm_up", broken)
    with pytest.raises(RuntimeError):
        sweep.SweepCallback().on_multirun_start(sweep_config(tmp_path, "tracking=none"))
    assert events == [("marker", False)]


@pytest.mark.parametrize("overrides, helper, wanted", [
    (["tracking=none"], False, False),        # nothing is logged: no MLflow in the workers
    ([], False, True),                        # no helper (tracking.fork=false): the jobs log themselves
    ([], True, False),                        # the helper records the jobs' runs
])
def test_the_workers_import_mlflow_only_if_their_jobs_log_to_it(tmp_path, monkeypatch, overrides, helper, wanted):
    asked = []
    monkeypatch.setattr(sweep_workers, "prewarm", lambda config, import_mlflow=True: asked.append(import_mlflow))
    monkeypatch.setattr(sweep, "_warm_up", lambda config: None)
    monkeypatch.setattr(sweep.SweepCallback, "_start_parent_run", lambda self, config, d: None)

    class Helper:
        def start_sweep(self, *args):
            pass

    from runner.tracking.worker import TrackingWorker

    monkeypatch.setattr(TrackingWorker, "claim", classmethod(lambda cls: Helper() if helper else None))
    sweep.SweepCallback().on_multirun_start(sweep_config(tmp_path, *overrides))
    assert asked == [wanted]
