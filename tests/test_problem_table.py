"""The problem table: every entry has its config file and its kernels, and build_problem takes
nothing but the table (an unknown name is one error line)."""
import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from runner.errors import ConfigError
from runner.problems import builders
from runner.problems.catalog import PROBLEMS, build_problem

CONF = Path(__file__).resolve().parents[1] / "conf" / "problem"


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_every_entry_has_its_config_file_with_the_schema_keys(name):
    node = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    assert node["name"] == name
    assert set(node) <= {f.name for f in dataclasses.fields(PROBLEMS[name].schema)}


def test_every_config_file_names_an_entry():
    names = {OmegaConf.load(path).name for path in CONF.glob("*.yaml")}
    assert names <= set(PROBLEMS), names - set(PROBLEMS)


@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_a_schema_that_defaults_its_name_defaults_to_its_own(name):
    field = {f.name: f for f in dataclasses.fields(PROBLEMS[name].schema)}["name"]
    assert field.default in (name, dataclasses.MISSING)


@pytest.mark.parametrize("name", sorted(n for n, e in PROBLEMS.items() if e.kernels))
def test_every_named_kernel_pair_exists(name):
    value_grad, hessian = builders.kernels(PROBLEMS[name].kernels)
    assert callable(value_grad) and callable(hessian)


def test_an_unknown_name_is_one_error_naming_the_key():
    with pytest.raises(ConfigError) as e:
        build_problem(SimpleNamespace(name="three_hump"), 0)
    assert e.value.key == "problem.name"
    assert "unknown problem 'three_hump'; allowed: ackley, beale" in str(e.value)
    assert "\n" not in str(e.value)
