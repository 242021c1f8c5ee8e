"""task=optimize: minimise a problem's objective with a numba optimizer.

The problem comes from ``runner.problems``, the descent from ``runner.descent``; this module
only ties them to the config groups it takes.
"""
from __future__ import annotations

from runner.config.optim import OPTIM_SCHEMAS, SCHEDULE_SCHEMAS
from runner.descent.driver import DescentKnobs, descent_result, minimise
from runner.problems.catalog import PROBLEM_SCHEMAS, build_problem
from runner.result import Result

GROUPS = {"problem": PROBLEM_SCHEMAS, "optim": OPTIM_SCHEMAS, "schedule": SCHEDULE_SCHEMAS}
SCHEMA = DescentKnobs


def warmup() -> None:
    """Load every kernel a job may need (the sweep calls this once before its workers start)."""
    import kernels.descent_fast  # noqa: F401  (explicit signatures: importing compiles or loads)
    import kernels.objectives  # noqa: F401
    import kernels.surface  # noqa: F401  (the contour plots)


def run(cfg, ctx) -> Result:
    v = ctx.validated
    problem = build_problem(v["problem"], ctx.seed)
    outcome = minimise(problem, v["optim"], v["schedule"], v["optimize"], ctx.seed, ctx.progress)
    return descent_result(outcome, v["optim"], v["schedule"], extra_compile_seconds=problem.compile_seconds)
