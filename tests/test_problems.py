"""Building problems from configs: every preset, data sources, and every bad input as one
ConfigError naming the key."""
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from runner.errors import ConfigError
from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
from runner.config.validate import validate_group

PRESETS = sorted(Path(__file__).resolve().parents[1].joinpath("conf", "problem").glob("*.yaml"))


def build(node, seed=0):
    return build_problem(validate_group("problem", OmegaConf.create(node), PROBLEM_SCHEMAS), seed)


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.stem)
def test_every_preset_validates_and_builds(path):
    p = build(OmegaConf.to_container(OmegaConf.load(path)))
    assert p.dim == len(p.param_names) == p.x0.size
    assert np.isfinite(p.loss(p.x0))


def test_presets_are_the_tutorials_functions():
    load = lambda name: build(OmegaConf.to_container(OmegaConf.load(next(p for p in PRESETS if p.stem == name))))
    q = load("quadratic")
    for x in (-1.0, 0.0, 2.0, 3.5):
        assert q.loss([x]) == pytest.approx(x * x - 4 * x + 5)
    assert q.minima[0][0] == pytest.approx([2.0]) and q.label == "x^2 - 4x + 5"
    assert load("practice1").loss([1.0, 2.0]) == pytest.approx(1 + 16)
    assert load("coupled_bowl").loss([1.0, 2.0]) == pytest.approx(1 + 2 + 4)
    lin = load("linreg")
    assert lin.minima[0][0] == pytest.approx([2.0, 1.0]) and lin.param_names == ["w", "b"]


def test_synthetic_data_is_reproducible_by_seed_and_recorded():
    node = {"name": "linreg", "data": {"source": "synthetic", "n": 50, "d": 4, "noise": 0.0}}
    a, b, c = build(node, seed=1), build(node, seed=1), build(node, seed=2)
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, c.X)
    # noise 0: the generating hyperplane is the exact least-squares fit
    np.testing.assert_allclose(a.minima[0][0], a.meta["true_w"] + [a.meta["true_b"]], atol=1e-10)
    fixed = dict(node, data=dict(node["data"], seed=9))
    np.testing.assert_array_equal(build(fixed, seed=1).X, build(fixed, seed=2).X)


def test_classification_labels_become_signs():
    p = build({"name": "logreg", "data": {"source": "inline", "x": [[0.0], [1.0]], "y": [0, 1]}})
    np.testing.assert_array_equal(p.y, [-1.0, 1.0])
    with pytest.raises(ConfigError, match="problem.data.y: class labels must be 0/1 or -1/\\+1; row 2 has 2"):
        build({"name": "svm", "data": {"source": "inline", "x": [[0.0], [1.0]], "y": [1, 2]}})


def test_csv_with_header_and_named_target(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("a,target,b\n1,3,0\n2,5,1\n3,7,0\n")
    p = build({"name": "linreg", "data": {"source": "csv", "path": str(f), "target": "target"}})
    np.testing.assert_array_equal(p.X, [[1, 0], [2, 1], [3, 0]])
    np.testing.assert_array_equal(p.y, [3, 5, 7])
    assert p.param_names == ["w1", "w2", "b"] and p.meta["columns"] == ["a", "b"]


def test_csv_without_header_takes_the_last_column(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("1;3\n2;5\n")
    p = build({"name": "linreg", "data": {"source": "csv", "path": str(f), "header": False, "delimiter": ";"}})
    np.testing.assert_array_equal(p.y, [3, 5])


@pytest.mark.parametrize("text,message", [
    ("", "no data rows"),
    ("a,y\n", "no data rows"),
    ("a,y\n1,2\n3,x\n", "line 3, column 'y': not a number ('x')"),
    ("a,y\n1,2\n3\n", "line 3 has 1 columns, expected 2"),
    ("y\n1\n2\n", "needs at least one feature column"),
])
def test_bad_csv_files(tmp_path, text, message):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        build({"name": "linreg", "data": {"source": "csv", "path": str(f)}})
    assert e.value.key == "problem.data.path" and message in e.value.problem


def test_csv_missing_file_and_missing_target(tmp_path):
    with pytest.raises(ConfigError, match="problem.data.path: file not found: .*nope.csv"):
        build({"name": "linreg", "data": {"source": "csv", "path": str(tmp_path / "nope.csv")}})
    f = tmp_path / "d.csv"
    f.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="problem.data.target: no column named 'y'; columns: a, b"):
        build({"name": "linreg", "data": {"source": "csv", "path": str(f), "target": "y"}})


@pytest.mark.parametrize("node,key,message", [
    ({"name": "quadratic", "A": [[1, 0], [0, 1]], "x0": [1, 2, 3]}, "problem.x0", "expected 2 values (x, y), got 3"),
    ({"name": "rosenbrock", "dim": 3, "x0": [1]}, "problem.x0", "expected 3 values (x1, x2, x3), got 1"),
    ({"name": "linreg", "data": {"x": [1, 2], "y": [3, 5]}, "x0": [1.0]}, "problem.x0", "expected 2 values (w, b), got 1"),
    ({"name": "expr", "f": "x*y", "x0": [1]}, "problem.x0", "expected 2 values (x, y), got 1"),
    ({"name": "quadratic", "A": [[1, 2]]}, "problem.A", "square matrix"),
    ({"name": "quadratic", "A": [[1]], "b": [1, 2]}, "problem.b", "expected 1 values"),
    ({"name": "expr", "f": "[x, y]"}, "problem.f", "one scalar f"),
    ({"name": "expr", "f": "__import__('os').system('x')"}, "problem.f", "refused"),
    ({"name": "expr", "f": "x**99999999"}, "problem.f", "refused"),
    ({"name": "linreg", "data": {"x": [[1], [2]], "y": [1]}}, "problem.data.y", "1 targets for 2 rows"),
])
def test_bad_problem_inputs_name_the_key(node, key, message):
    with pytest.raises(ConfigError) as e:
        build(node)
    assert e.value.key == key and message in e.value.problem


@pytest.mark.parametrize("node,key", [
    ({"name": "rosenbrock", "dim": 1}, "problem.dim"),
    ({"name": "rastrigin", "dim": 0}, "problem.dim"),
    ({"name": "linreg", "l2": -1.0}, "problem.l2"),
    ({"name": "linreg", "reduction": "median"}, "problem.reduction"),
    ({"name": "linreg", "data": {"source": "synthetic", "n": 0}}, "problem.data.n"),
    ({"name": "linreg", "data": {"source": "http"}}, "problem.data.source"),
    ({"name": "linreg", "data": {"source": "csv"}}, "problem.data.path"),
    ({"name": "linreg", "data": {"sorce": "csv"}}, "problem.data.sorce"),
    ({"name": "rosenbrock", "dimm": 3}, "problem.dimm"),
    ({"name": "rosenbrock", "dim": "three"}, "problem.dim"),
    ({"name": "rosenbrok"}, "problem.name"),
])
def test_schema_errors_name_the_key(node, key):
    with pytest.raises(ConfigError) as e:
        validate_group("problem", OmegaConf.create(node), PROBLEM_SCHEMAS)
    assert e.value.key == key
