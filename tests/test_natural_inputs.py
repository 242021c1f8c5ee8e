"""Inputs as a user types them: whole-number floats for integer keys, Optuna search spaces on
the command line, a missing optional package named in one line, and the tutorial's numbers
in a run's printed report."""
from __future__ import annotations

import io
import json
import os

import pytest

from conftest import compose, run_cli, run_task
from hydra_plugins.calclab_sweeper.optuna_sweeper import flat_params, quote_params_overrides
from runner import app
from runner.cli import missing_extra
from runner.errors import ConfigError
from runner.outputs.report import print_summary


def test_whole_number_floats_are_accepted_for_integer_keys():
    _, v = app.validate(compose(["task=integrate", "integrator=mc", "integrator.n=2e9"]))
    assert v["integrator"].n == 2_000_000_000 and isinstance(v["integrator"].n, int)
    _, v = app.validate(compose(["optimize.steps=1e3"]))
    assert v["optimize"].steps == 1000
    _, v = app.validate(compose(["task=train", "model.hidden=[32.0,16]"]))
    assert v["model"].hidden == [32, 16]


def test_fractional_floats_are_still_refused_for_integer_keys():
    with pytest.raises(ConfigError) as e:
        app.validate(compose(["task=integrate", "integrator=mc", "integrator.n=2.5"]))
    assert e.value.key == "integrator.n"


def test_sweeper_params_from_a_preset_and_from_the_command_line_read_alike():
    assert flat_params({"optim.lr": "interval(0, 1)", "optim": {"betas": {"0": "interval(0.5, 0.9)"}}}) == {
        "optim.lr": "interval(0, 1)", "optim.betas.0": "interval(0.5, 0.9)"}
    argv = ["optim=adam", "hydra.sweeper.params.optim.lr=tag(log, interval(1e-4, 1e-1))",
            "hydra.sweeper.params.optim.eps='choice(1e-8, 1e-6)'", "hydra.sweeper.n_trials=3"]
    assert quote_params_overrides(argv) == [
        "optim=adam", "++hydra.sweeper.params.optim.lr='tag(log, interval(1e-4, 1e-1))'",
        "hydra.sweeper.params.optim.eps='choice(1e-8, 1e-6)'", "hydra.sweeper.n_trials=3"]
    assert quote_params_overrides(["hydra.sweeper.grid.optim=gd,adam"]) == ["++hydra.sweeper.grid.optim='gd,adam'"]


def test_a_missing_optional_package_names_its_extra():
    try:
        try:
            raise ModuleNotFoundError("No module named 'optuna'", name="optuna")
        except ModuleNotFoundError as inner:
            raise RuntimeError("Error in call to target") from inner
    except RuntimeError as ex:
        line = missing_extra(ex)
    assert line.startswith("hydra/sweeper=optuna:") and '".[search]"' in line
    assert missing_extra(ModuleNotFoundError("No module named 'foo'", name="foo")) is None


@pytest.mark.parametrize("preset, rows", [
    # the tutorial's numbers: x0 = 0 then 0.4, 0.72, 0.976 (params column)
    ("seed/gd_quadratic", [("0", "0", "-4"), ("1", "0.4", "-3.2"), ("2", "0.72", "-2.56"), ("3", "0.976", "-2.05")]),
    ("seed/mse_partials", [("0", "(1.5, 0.5)", "(-1, -0.5)")]),     # dL/dw = -1.0, dL/db = -0.5
    ("seed/l2_gradient", [("0", "3", "4.6")]),                      # 2(wx - y)x + 2 lambda w = 4.6
    ("seed/bce_gradient", [("0", "0.5", "-0.378"), ("1", "0.538", None)]),  # sigma(0.5) - 1; z -> 0.538
])
def test_the_tutorial_presets_print_the_tutorials_numbers(preset, rows, tmp_path):
    result = run_task(compose([f"+experiment={preset}", "tracking=none"]), tmp_path)
    out = io.StringIO()
    print_summary(result, tmp_path, None, stream=out)
    lines = out.getvalue().splitlines()
    table = lines[lines.index("  first iterations (loss and gradient at that step's params):") + 2:]
    cells = {line.split()[0]: line for line in table if line.strip() and line.split()[0].isdigit()}
    for step, params, grad in rows:
        head, tail = cells[step].split(maxsplit=1)
        assert tail.startswith(params)
        if grad is not None:
            assert tail.rstrip().endswith(grad)


@pytest.mark.slow
@pytest.mark.parametrize("space", [
    "optim.lr=tag(log, interval(1e-4, 1e-1))",                        # as with hydra-optuna-sweeper
    "hydra.sweeper.params.optim.lr=tag(log, interval(1e-4, 1e-1))",   # the sweeper's own key
])
def test_an_optuna_search_space_on_the_command_line(space, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_cli(["-m", "hydra/sweeper=optuna", "optim=adam", space, "hydra.sweeper.n_trials=2",
                    "optimize.steps=10", "tracking=none", "quiet=true", f"hydra.sweep.dir={sweep_dir}"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    lrs = [json.loads((sweep_dir / str(i) / "result.json").read_text()) for i in range(2)]
    assert all(doc["status"] == "FINISHED" for doc in lrs)
    best = (sweep_dir / "optimization_results.yaml").read_text()
    assert "optim.lr" in best


@pytest.mark.slow
def test_search_without_optuna_is_one_line_naming_the_extra(tmp_path):
    fake = tmp_path / "no_optuna" / "optuna"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'optuna'\", name='optuna')\n")
    path = os.pathsep.join([str(fake.parent), os.environ.get("PYTHONPATH", "")])
    proc = run_cli(["-m", "+search=adam_lr", "tracking=none"], tmp_path, env_extra={"PYTHONPATH": path})
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("calclab: error")]
    assert errors == [proc.stderr.strip().splitlines()[-1]] and '".[search]"' in errors[0]
    assert "Traceback" not in proc.stderr


def test_a_saddle_says_f_is_unbounded_below_not_lower_the_learning_rate(tmp_path):
    # x^2 + 3xy + y^2: Hessian [[2, 3], [3, 2]] has eigenvalues 5 and -1, so f -> -inf along (1, -1)
    saddle = run_task(compose(["problem=expr", "problem.f=x**2 + 3*x*y + y**2", "problem.x0=[2,1]", "optim=gd",
                               "tracking=none"]), tmp_path)
    assert saddle.status == "DIVERGED"
    assert "unbounded below" in saddle.message and "lower optim.lr" not in saddle.message
    # a bowl with too large a step overshoots upwards: there lowering the learning rate is the advice
    bowl = run_task(compose(["problem=expr", "problem.f=x**2 + y**2", "problem.x0=[2,1]", "optim=gd",
                             "optim.lr=1.5", "tracking=none"]), tmp_path)
    assert bowl.status == "DIVERGED" and "lower optim.lr" in bowl.message


def _check(jobs):
    from hydra_plugins.calclab_sweeper.precheck import check_batch

    check_batch(jobs, jobs[:1], compose)   # jobs differing in plain values: one structure


def test_a_config_error_of_every_job_stops_the_sweep_before_it_starts():
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"^model\.loss: 'bce' is for two classes; this data has 3"):
        _check([["task=train", "data=iris", "train.steps=5"], ["task=train", "data=iris", "train.steps=10"]])
    with pytest.raises(ConfigCompositionException, match=r"^optim\.lr: must be > 0"):
        _check([["optim.lr=-1"], ["optim.lr=-2"]])


def test_a_config_error_of_some_jobs_lets_the_sweep_go_on():
    _check([["optim.lr=0.1"], ["optim.lr=-1"]])
    _check([["optim.lr=-1"], ["optim.lr=0.1"]])     # the checked job fails, another does not
    _check([["task=train", "data=iris", "model.output=softmax", "model.loss=cce"]])
    _check([["task=train", "model=rnn", "data=sequence", "data.T=5"]])   # a model without a loss head


@pytest.mark.slow
def test_a_sweep_whose_every_job_would_fail_is_refused_before_any_job(tmp_path):
    from mlflow.tracking import MlflowClient

    proc = run_cli(["-m", "task=train", "data=iris", "train.steps=5,10", "quiet=true"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("calclab: error: model.loss: 'bce' is for two classes")
    assert not list(tmp_path.glob("outputs/multirun/*/*/0"))      # no job started
    store = tmp_path / "outputs" / "mlflow.db"
    if store.exists():                                            # no parent run left RUNNING
        client = MlflowClient(f"sqlite:///{store}")
        runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
        assert all(r.info.status != "RUNNING" for r in runs)
