"""The default sweeper (hydra/sweeper=basic, made calclab's by python -m runner): Hydra's basic
sweeper whose up-front check composes one job per structure.  The end-to-end cases (a bad key caught before any job,
in every structure) are in test_sweep.py::test_bad_sweep_input."""
import itertools

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
