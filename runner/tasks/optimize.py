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
    import kernels.batch  # noqa: F401  (explicit signatures: importing compiles or loads)
    import kernels.descent_fast  # noqa: F401
    import kernels.objectives  # noqa: F401
    import kernels.surface  # noqa: F401  (the contour plots)


def run(cfg, ctx) -> Result:
    v = ctx.validated
    problem = build_problem(v["problem"], ctx.seed)
    outcome = minimise(problem, v["optim"], v["schedule"], v["optimize"], ctx.seed, ctx.progress)
    return descent_result(outcome, v["optim"], v["schedule"], extra_compile_seconds=problem.compile_seconds)


def run_many(jobs, max_batch: int = 1024) -> tuple:
    """Many jobs of this task at once (the batched launcher, runner.sweep.batch): ``jobs`` is
    ``[(cfg, ctx)]``, validated.  Jobs whose problems share the objective, the data and the
    array shapes run as one kernel call per ``max_batch`` jobs (runner.descent.batch), each
    with the numbers it has alone.  Returns (one Result or ConfigError per job, kernel calls)."""
    from runner.descent.batch import batch_key, minimise_batch, prepare
    from runner.errors import ConfigError

    problems, out, groups = {}, [None] * len(jobs), {}
    for i, (cfg, ctx) in enumerate(jobs):
        v = ctx.validated
        try:
            key = (repr(v["problem"]), ctx.seed)
            if key not in problems:
                problems[key] = build_problem(v["problem"], ctx.seed)
            run_ = prepare(problems[key], v["optim"], v["schedule"], v["optimize"], ctx.seed)
        except ConfigError as e:
            out[i] = e
            continue
        groups.setdefault(batch_key(run_), []).append((i, run_))
    calls = 0
    for members in groups.values():
        for lo in range(0, len(members), max_batch):
            chunk = members[lo: lo + max_batch]
            calls += 1
            for (i, run_), outcome in zip(chunk, minimise_batch([r for _, r in chunk])):
                v = jobs[i][1].validated
                out[i] = descent_result(outcome, v["optim"], v["schedule"],
                                        extra_compile_seconds=run_.problem.compile_seconds)
    return out, calls
