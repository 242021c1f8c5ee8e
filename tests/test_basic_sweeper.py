"""The default sweeper (hydra/sweeper=basic, made calclab's by python -m runner): Hydra's basic
sweeper whose up-front check composes one job per structure.  The end-to-end cases (a bad key caught before any job,
in every structure) are in test_sweep.py::test_bad_sweep_input."""
import itertools

import pytest

from hydra_plugins.calclab_sweeper.basic_sweeper import representatives
from tests.conftest import run_cli

GROUPS = {"optim", "problem", "experiment"}


def product(**axes):
    keys = list(axes)
    return [[f"{k}={v}" for k, v in zip(keys, combo)] for combo in itertools.product(*axes.values())]


def reps(batch):
    return representatives(batch, lambda key: key in GROUPS)


def test_plain_values_share_a_structure_and_group_choices_do_not():
    batch = product(optim=["gd", "adam"], **{"optim.lr": ["0.001", "0.01", "0.1"]})
    assert reps(batch) == [["optim=gd", "optim.lr=0.001"], ["optim=adam", "optim.lr=0.001"]]


def test_a_value_of_another_type_a_list_a_deletion_or_a_hydra_key_is_its_own_structure():
    assert len(reps(product(**{"optim.lr": ["0.1", "1", "0.2", "abc", "null"]}))) == 4   # float, int, str, None
    assert len(reps(product(**{"problem.x0": ["[1,2]", "[1,2,3]"]}))) == 2
    assert len(reps(product(**{"~optim.lr": ["0.1", "0.2"]}))) == 2
    assert len(reps(product(**{"hydra.job.chdir": ["true", "false"]}))) == 2
    assert len(reps(product(**{"+foo": ["1", "2"], "++bar": ["3", "4"]}))) == 1
    assert len(reps([["foo=1"], ["+foo=2"]])) == 2          # set vs. add: a different check


def test_the_default_sweeper_is_calclabs_and_presets_may_pick_another(tmp_path):
    out = run_cli(["--cfg", "hydra", "--package", "hydra.sweeper"], cwd=tmp_path)
    assert "_target_: hydra_plugins.calclab_sweeper.basic_sweeper.CalclabBasicSweeper" in out.stdout, out.stderr
    assert "check: structures" in out.stdout and not out.stderr
    out = run_cli(["+search=adam_lr", "--cfg", "hydra", "--package", "hydra.sweeper"], cwd=tmp_path)
    assert "_target_: hydra_plugins.calclab_sweeper.optuna_sweeper.CalclabOptunaSweeper" in out.stdout, out.stderr


# ---- the sweep itself, against Hydra's own BasicSweeper ------------------------------------
# CalclabBasicSweeper is written on Hydra's public plugin API; Hydra's BasicSweeper (private,
# imported here only as the reference) must launch the same jobs in the same batches.

class RecordingLauncher:
    """Records each launch (first job number, the jobs' overrides); every job COMPLETED, or
    FAILED with ``error`` when the job's overrides contain ``fail_on``."""

    def __init__(self, fail_on=None):
        self.launches, self.fail_on = [], fail_on

    def launch(self, job_overrides, initial_job_idx):
        from hydra.core.utils import JobReturn, JobStatus

        jobs = [list(job) for job in job_overrides]
        self.launches.append((initial_job_idx, jobs))
        return [JobReturn(overrides=job, status=JobStatus.FAILED, _return_value=ValueError(f"job {job}"))
                if self.fail_on in job else JobReturn(overrides=job, status=JobStatus.COMPLETED)
                for job in jobs]


class CountingLoader:
    """Hydra's config loader, counting the job configs composed by the up-front check."""

    def __init__(self, loader):
        self.loader, self.composed = loader, []

    def load_sweep_config(self, master_config, sweep_overrides):
        self.composed.append(list(sweep_overrides))
        return self.loader.load_sweep_config(master_config=master_config, sweep_overrides=sweep_overrides)

    def __getattr__(self, name):
        return getattr(self.loader, name)


def sweep_with(sweeper, arguments, sweep_dir, fail_on=None):
    """Run ``sweeper`` over ``arguments`` with a recording launcher (no job is run); returns
    (launches, compositions of the check, the sweep's return or the exception it raised)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import HydraContext

    with initialize_config_module(config_module="conf", version_base="1.3"):
        config = compose("config", overrides=[f"hydra.sweep.dir={sweep_dir}"], return_hydra_config=True)
        loader = CountingLoader(GlobalHydra.instance().config_loader())
        sweeper.hydra_context = HydraContext(config_loader=loader, callbacks=None)  # the sweeper uses none
        sweeper.config, sweeper.launcher = config, RecordingLauncher(fail_on)
        try:
            outcome = sweeper.sweep(list(arguments))
        except Exception as e:
            outcome = e
    return sweeper.launcher.launches, loader.composed, outcome


def hydras(max_batch_size=None, params=None):
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper

    return BasicSweeper(max_batch_size=max_batch_size, params=params)


def ours(max_batch_size=None, params=None, check="structures"):
    from hydra_plugins.calclab_sweeper.basic_sweeper import CalclabBasicSweeper

    return CalclabBasicSweeper(max_batch_size=max_batch_size, params=params, check=check)


SWEEPS = [
    (["optim=gd,adam", "optim.lr=1e-3,1e-2,1e-1"], {}),
    (["optim=gd,adam", "optim.lr=1e-3,1e-2,1e-1"], {"max_batch_size": 4}),
    (["seed=range(0,5)", "problem=bowl"], {"max_batch_size": 2}),
    (["optim=glob(ada*)", "quiet=true"], {}),
    (["problem=bowl,booth", "optim.lr=0.3"], {"params": {"optim.lr": "0.1,0.2", "seed": "1,2"}}),
    (["optimize.steps=10,20"], {"params": {"optim": "gd,momentum"}, "max_batch_size": 3}),
]


@pytest.mark.parametrize("arguments,kw", SWEEPS)
def test_jobs_batches_and_numbering_are_hydras(tmp_path, arguments, kw):
    expected, _, theirs = sweep_with(hydras(**kw), arguments, tmp_path / "hydra")
    got, _, returned = sweep_with(ours(**kw), arguments, tmp_path / "ours")
    assert got == expected and len(got) >= 1
    assert [len(batch) for batch in returned] == [len(batch) for batch in theirs]


def test_the_sweep_config_is_saved_as_multirun_yaml(tmp_path):
    from omegaconf import OmegaConf

    sweeper = ours()
    sweep_with(sweeper, ["seed=0,1"], tmp_path / "sweep")
    saved = OmegaConf.load(tmp_path / "sweep" / "multirun.yaml")
    assert saved.hydra.sweep.dir == str(tmp_path / "sweep") and saved.task == "optimize"


def test_the_check_composes_one_job_per_structure_or_every_job(tmp_path):
    arguments = ["optim=gd,adam", "optim.lr=1e-3,1e-2,1e-1"]
    _, structures, _ = sweep_with(ours(), arguments, tmp_path / "a")
    _, every, _ = sweep_with(ours(check="all"), arguments, tmp_path / "b")
    # Hydra's check composes one job per structure; then calclab's own check (precheck.py)
    # composes the first job again to validate its values, and stops there when it is valid
    assert structures == [["optim=gd", "optim.lr=0.001"], ["optim=adam", "optim.lr=0.001"],
                          ["optim=gd", "optim.lr=0.001"]]
    assert len(every) == 6 + 1


def test_errors_are_hydras(tmp_path):
    from hydra.errors import HydraException

    for arguments, kind in [(["optim.lr=interval(0.1, 1)"], HydraException),   # not a discrete sweep
                            (["optim.lrr=0.1,0.2"], HydraException)]:         # caught by the check
        _, _, expected = sweep_with(hydras(), arguments, tmp_path / "hydra")
        launches, _, got = sweep_with(ours(), arguments, tmp_path / "ours")
        assert isinstance(got, kind) and type(got) is type(expected) and str(got) == str(expected)
        assert launches == []
    # a failed job raises its exception once its batch has returned, as in Hydra
    launches, _, got = sweep_with(ours(max_batch_size=1), ["seed=0,1,2"], tmp_path / "c", fail_on="seed=1")
    assert isinstance(got, ValueError) and [first for first, _ in launches] == [0, 1]
    with pytest.raises(ValueError, match="hydra.sweeper.check: must be one of structures, all"):
        ours(check="some")
