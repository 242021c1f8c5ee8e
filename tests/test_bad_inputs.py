"""The corpus of bad invocations: each is refused before any work with ONE line naming the key
(``calclab: error: KEY: ...``), exit code 2, no traceback, no result.json and no MLflow run.

In-process through the same validation path as the command line (Hydra composition, then
runner.app.execute); a representative subset runs through the real command line (slow)."""
import pytest
from hydra.errors import HydraException
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from runner import app, cli
from runner.errors import ConfigError
from tests.conftest import compose, run_cli

EXPR = ["problem=expr"]
TRAIN = ["task=train"]
INTEGRATE = ["task=integrate"]
F = "problem.f="
CASES = {
    # typo'd keys
    "typo optim key": (["optim.lrr=1"], "optim.lrr"),
    "typo task key": (["optimize.stepz=5"], "optimize.stepz"),
    "typo problem key": (["problem=rosenbrock", "problem.dimm=3"], "problem.dimm"),
    "typo train key": (TRAIN + ["train.stepss=1"], "train.stepss"),
    "typo tracking key": (["tracking.urii=x"], "tracking.urii"),
    "typo data key": (TRAIN + ["data.nn=5"], "data.nn"),
    "typo integrator key": (INTEGRATE + ["integrator.nn=5"], "integrator.nn"),
    "unknown top-level key": (["+foo=1"], "foo"),
    # a key the chosen option ignores
    "a csv path with synthetic data": (["problem=linreg", "problem.data.path=a.csv"], "problem.data.path"),
    # wrong types
    "lr not a number": (["optim.lr=abc"], "optim.lr"),
    "steps a fraction": (["optimize.steps=1.5"], "optimize.steps"),
    "steps a word": (["optimize.steps=abc"], "optimize.steps"),
    "seed a word": (["seed=abc"], "seed"),
    "seed negative": (["seed=-1"], "seed"),
    "quiet not a boolean": (["quiet=maybe"], "quiet"),
    "betas a word": (["optim=adam", "optim.betas=abc"], "optim.betas"),
    "grad_tol a word": (["optimize.grad_tol=abc"], "optimize.grad_tol"),
    "max_points a word": (["tracking.max_points=abc"], "tracking.max_points"),
    "busy_timeout a word": (["tracking.busy_timeout=abc"], "tracking.busy_timeout"),
    "integrator n a word": (INTEGRATE + ["integrator.n=abc"], "integrator.n"),
    "data n a word": (TRAIN + ["data.n=abc"], "data.n"),
    # impossible values
    "lr negative": (["optim.lr=-1"], "optim.lr"),
    "lr zero": (["optim.lr=0"], "optim.lr"),
    "steps zero": (["optimize.steps=0"], "optimize.steps"),
    "steps negative": (["optimize.steps=-5"], "optimize.steps"),
    "steps beyond memory": (["optimize.steps=1000000000000"], "optimize.steps"),
    "grad_tol negative": (["optimize.grad_tol=-1"], "optimize.grad_tol"),
    "divergence zero": (["optimize.divergence=0"], "optimize.divergence"),
    "batch_size zero": (["optimize.batch_size=0"], "optimize.batch_size"),
    "max_points too few": (["tracking.max_points=4"], "tracking.max_points"),
    "busy_timeout negative": (["tracking.busy_timeout=-1"], "tracking.busy_timeout"),
    "integrator n zero": (INTEGRATE + ["integrator.n=0"], "integrator.n"),
    "integrator n negative": (INTEGRATE + ["integrator.n=-1"], "integrator.n"),
    "train steps zero": (TRAIN + ["train.steps=0"], "train.steps"),
    "data n zero": (TRAIN + ["data.n=0"], "data.n"),
    "data d zero": (TRAIN + ["data=linear", "data.d=0"], "data.d"),
    "data noise negative": (TRAIN + ["data.noise=-1"], "data.noise"),
    "val_fraction above 1": (TRAIN + ["data.val_fraction=1.5"], "data.val_fraction"),
    "one spiral arm": (TRAIN + ["data=spirals", "data.classes=1"], "data.classes"),
    "data beyond memory": (TRAIN + ["data=linear", "data.n=10000000000"], "data.n"),
    "train divergence zero": (TRAIN + ["train.divergence=0"], "train.divergence"),
    # options that do not exist
    "unknown optimizer": (["optim=adamm"], "optim"),
    "unknown problem": (["problem=nope"], "problem"),
    "unknown task": (["task=nope"], "task"),
    "unknown schedule": (["schedule=nope"], "schedule"),
    "unknown integrator": (INTEGRATE + ["integrator=nope"], "integrator"),
    "unknown data set": (TRAIN + ["data=nope"], "data"),
    # unsafe expressions
    "import": (EXPR + [F + "'__import__(\"os\")'"], "problem.f"),
    "attribute": (EXPR + [F + "x.real"], "problem.f"),
    "open a file": (EXPR + [F + "open(x)"], "problem.f"),
    "lambda": (EXPR + [F + "'lambda: 1'"], "problem.f"),
    "conditional": (EXPR + [F + "'x if x else y'"], "problem.f"),
    "comprehension": (EXPR + [F + "'[i for i in x]'"], "problem.f"),
    "huge power": (EXPR + [F + "x**1000"], "problem.f"),
    "beyond float64": (EXPR + [F + "1e999*x"], "problem.f"),
    "division by zero": (EXPR + [F + "x/0"], "problem.f"),
    "unknown function": (EXPR + [F + "unknown(x)"], "problem.f"),
    "xor for power": (EXPR + [F + "'x ^ 2'"], "problem.f"),
    "statement": (EXPR + [F + "'import os'"], "problem.f"),
    "empty": (EXPR + [F + "''"], "problem.f"),
    "too long": (EXPR + [F + "+".join(["x"] * 1100)], "problem.f"),
    # hostile but legal expressions
    "power tower": (EXPR + [F + "'" + "(" * 12 + "x" + "**64)" * 12 + "'"], "problem.f"),
    "nested max": (EXPR + [F + "'" + "max(" * 90 + "x" + ",y)" * 90 + "'"], "problem.f"),
    "product of 40 sines": (EXPR + [F + "'" + "*".join(f"sin(x{i})" for i in range(1, 41)) + "'"], "problem.f"),
    "integrand power tower": (INTEGRATE + ["integrand=expr", "integrand.f='" + "(" * 6 + "x" + "**8)" * 6 + "'"],
                              "integrand.f"),
    # missing files
    "csv file missing": (TRAIN + ["data=csv", "data.path=/nonexistent/data.csv"], "data.path"),
    "csv path not given": (TRAIN + ["data=csv"], "data.path"),
    # stores that cannot take the run
    "store under a file": (["tracking.uri=sqlite:////etc/passwd/sub/mlflow.db"], "tracking.uri"),
    "store under /proc": (["tracking.uri=sqlite:////proc/x/mlflow.db"], "tracking.uri"),
    "store scheme unknown": (["tracking.uri=postgres://nowhere"], "tracking.uri"),
    "store uri garbage": (["tracking.uri=garbage"], "tracking.uri"),
    "store server unreachable": (["tracking.uri=http://127.0.0.1:9"], "tracking.uri"),
}


def _runs(uri):
    client = MlflowClient(uri)
    return client.search_runs([e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)],
                              run_view_type=ViewType.ALL)


def refusal(overrides, run_dir):
    """The one line the command line would print for these overrides, or None if they ran."""
    try:
        cfg = compose(overrides)
    except HydraException as ex:            # the command line prints cli.one_line(ex)
        return cli.one_line(ex)
    try:
        app.execute(cfg, run_dir)
    except ConfigError as e:
        return str(e)
    return None


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_input_is_one_line_naming_its_key_before_any_work(case, tmp_path, mlflow_uri):
    overrides, key = CASES[case]
    before = len(_runs(mlflow_uri))
    extra = [] if any(o.startswith("tracking.uri") for o in overrides) else [f"tracking.uri={mlflow_uri}"]
    extra += [] if any(o.startswith("quiet") for o in overrides) else ["quiet=true"]
    line = refusal(overrides + extra, tmp_path / "run")
    assert line is not None, "ran instead of being refused"
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"{key}:") or f"'{key}" in line or f" {key}" in line, line
    assert not (tmp_path / "run" / "result.json").exists()
    assert len(_runs(mlflow_uri)) == before


@pytest.mark.slow
@pytest.mark.parametrize("case", ["typo optim key", "lr negative", "unknown optimizer", "import", "power tower",
                                  "product of 40 sines", "data d zero", "data beyond memory", "csv file missing",
                                  "store under a file", "store server unreachable"])
def test_a_bad_input_through_the_command_line(case, tmp_path):
    overrides, key = CASES[case]
    proc = run_cli([*overrides, "quiet=true"], tmp_path, timeout=300)
    assert proc.returncode == 2, proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert line.startswith("calclab: error: ") and key in line and "Traceback" not in proc.stderr
    assert not list(tmp_path.rglob("result.json"))
    db = tmp_path / "outputs" / "mlflow.db"
    assert not db.exists() or not _runs(f"sqlite:///{db}")
