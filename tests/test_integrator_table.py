"""The integrator table: every entry has its config file, its kind and its rule, and the task
runs whatever the table holds (a new entry needs no edit of runner/tasks/integrate.py)."""
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from runner import app
from runner.integrate import integrators as I
from runner.integrate import registry
from runner.integrate import trace as T
from runner.integrate.registry import INTEGRATORS, KINDS, NamedIntegrator
from runner.tasks import integrate as task
from tests.conftest import compose

CONF = Path(__file__).resolve().parents[1] / "conf" / "integrator"


@pytest.mark.parametrize("name", sorted(INTEGRATORS))
def test_every_entry_has_its_config_file_kind_and_schema(name):
    entry = INTEGRATORS[name]
    node = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    assert node["name"] == name == entry.schema.name
    assert set(node) <= {f.name for f in dataclasses.fields(entry.schema)}
    assert entry.kind in KINDS


def test_every_config_file_names_an_entry():
    assert {OmegaConf.load(p).name for p in CONF.glob("*.yaml")} == set(INTEGRATORS)


def test_a_kind_outside_the_list_is_refused():
    with pytest.raises(ValueError, match="'lattice' is not one of"):
        NamedIntegrator(I.MonteCarlo, "lattice", T.adaptive, I.sample_checkpoints)


@pytest.mark.parametrize("name,degree", [("trapezoid", 1), ("simpson", 3), ("gauss_legendre", 2 * 6 - 1)])
def test_each_rule_is_exact_to_its_degree(name, degree):
    x, w = INTEGRATORS[name].nodes(6)
    for k in range(degree + 1):
        assert w @ x ** k == pytest.approx(1 / (k + 1), abs=1e-14)     # the integral of x^k over [0, 1]
    assert abs(w @ x ** (degree + 1) - 1 / (degree + 2)) > 1e-9      # and not beyond it


def test_only_the_closed_rules_evaluate_the_ends():
    assert {n for n, e in INTEGRATORS.items() if e.evaluates_ends} == {"trapezoid", "simpson"}


@pytest.mark.parametrize("name,n,k,expected", [
    ("sobol", 1024, 4, [128, 256, 512, 1024]),
    ("gauss_legendre", 4, 4, [1, 2, 4]),
    ("adaptive", 100, 4, [15, 25, 50, 100]),
    ("stratified", 100, 3, [18, 50, 98]),       # 2 k^2 <= 25, 50, 100 in d = 2: k = 3, 5, 7
])
def test_checkpoints_by_kind(name, n, k, expected):
    method = INTEGRATORS[name].schema(n=n)
    assert INTEGRATORS[name].checkpoints(method, 2, k) == expected


@dataclass
class Midpoint(I.Simpson):
    name: str = "midpoint"


def midpoint_nodes(n):
    return (np.arange(n) + 0.5) / n, np.full(n, 1.0 / n)


def test_a_new_entry_runs_without_touching_the_task(tmp_path, monkeypatch):
    """A midpoint rule added as one entry: the task validates and runs it, and its error on x^2
    over [0, 2] is the midpoint rule's (b - a)^3 / (24 n^2) f'' = 8 * 2 / (24 n^2)."""
    entry = registry.quadrature(Midpoint, midpoint_nodes, lowest=1)
    monkeypatch.setitem(INTEGRATORS, "midpoint", entry)
    monkeypatch.setitem(task.INTEGRATOR_SCHEMAS, "midpoint", Midpoint)
    cfg = compose(["task=integrate", "tracking=none", "quiet=true", "integrator=simpson", "integrator.n=64"])
    OmegaConf.update(cfg, "integrator.name", "midpoint")
    r = app.execute(cfg, tmp_path / "midpoint")
    assert r.info["integrator"] == "midpoint"
    assert 8 / 3 - r.final["estimate"] == pytest.approx(16 / (24 * 64 ** 2), rel=1e-9)
    assert r.final["n"] == 64 and "error_estimate" in r.final        # a quadrature: error from halving n
