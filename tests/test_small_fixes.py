"""result.json writes JSON numbers or null (never the string "nan"), and a constant formula has a
variable: the tutorial's constant rule d/dx 7 = 0 without naming one."""
import json
import math

import numpy as np

from runner.expr.compile import parse_expression
from runner.outputs.files import json_safe


def test_non_finite_numbers_are_null_in_result_json(tmp_path, run_app):
    """Simpson's rule has no standard error: result.json says null, not "nan"."""
    _, doc, run_dir = run_app("task=integrate", "integrand=x_squared", "integrator=simpson", tracking=False)
    text = (run_dir / "result.json").read_text()
    assert doc["final"]["standard_error"] is None and '"nan"' not in text
    assert json_safe({"a": [math.nan, math.inf, np.float64(-math.inf), 1.5]}) == {"a": [None, None, None, 1.5]}
    json.loads(text)


def test_a_constant_formula_is_a_function_of_x():
    parsed = parse_expression("7")
    assert parsed.variables == ["x"] and float(parsed.exprs[0]) == 7.0
    assert parse_expression("7", variables=["t"]).variables == ["t"]


def test_the_constant_rule_from_the_command_line(run_app):
    result, doc, _ = run_app("task=analyze", "problem=expr", "problem.f='7'", "analyze.at=2", tracking=False)
    assert doc["final"]["variables"] == ["x"] and doc["final"]["derivative"] == 0.0
