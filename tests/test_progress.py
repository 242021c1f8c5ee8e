"""Nothing silent for long: a word while kernels compile."""
from __future__ import annotations

import io

import numba

from runner.outputs.compiling import NOTICE, compile_notice


def test_compiling_a_kernel_says_so_with_a_counter():
    @numba.njit
    def twice(x):
        return 2.0 * x

    out = io.StringIO()
    with compile_notice(stream=out) as notice:
        assert twice(1.5) == 3.0          # the first call compiles
    assert NOTICE in out.getvalue()       # shown at once (the counter redraws at most every 0.5 s)
    assert notice.bar.n == 1              # one kernel compiled
    again = io.StringIO()
    with compile_notice(stream=again):
        twice(2.0)                        # compiled already: nothing to say
    assert again.getvalue() == ""


def test_quiet_runs_say_nothing():
    @numba.njit
    def thrice(x):
        return 3.0 * x

    out = io.StringIO()
    with compile_notice(enabled=False, stream=out):
        thrice(1.0)
    assert out.getvalue() == ""


# ---- task=integrate: a bar over the evaluations, Ctrl-C keeps the estimate -------------------

class RecordingBar:
    """A progress bar that records what it was told; optionally raises KeyboardInterrupt (as
    runner.interrupt's handler does on Ctrl-C) at the first update past ``stop_above`` units."""

    def __init__(self, total, desc, stop_above=None):
        self.total, self.desc, self.updates, self.stop_above, self.closed = total, desc, [], stop_above, False

    def update(self, n):
        self.updates.append(n)
        if self.stop_above is not None and sum(self.updates) > self.stop_above:
            raise KeyboardInterrupt

    def close(self):
        self.closed = True


def integrate(tmp_path, overrides, stop_above=None):
    """task=integrate in-process with a RecordingBar; (Result, the bars made)."""
    from runner import app
    from tests.conftest import compose, task_context

    cfg = compose(["task=integrate", "tracking=none", "quiet=true", "seed=5", *overrides])
    task, validated = app.validate(cfg)
    ctx = task_context(tmp_path, validated, seed=5)
    bars = []
    ctx.progress = lambda total, desc: bars.append(RecordingBar(total, desc, stop_above)) or bars[-1]
    return task.run(cfg, ctx), bars


def whole_mc_sums(n, seed=5):
    """x^2 on [0, 2] by plain Monte Carlo in ONE kernel call over every chunk: the column sums."""
    import numpy as np

    from kernels import montecarlo as M

    sums = np.zeros((-(-n // M.CHUNK), M.N_SUMS))
    M.mc_sums(M.POWER, np.array([1.0, 0.0, 2.0, 2.0]), M.no_expression, 1, n, seed, M.PLAIN, np.zeros(1), 0, sums)
    return sums.sum(axis=0)


def test_a_long_monte_carlo_run_moves_a_bar_over_its_samples_and_changes_no_number(tmp_path):
    from runner.integrate.trace import SHOWN_FROM

    n = SHOWN_FROM + 12_345
    result, [bar] = integrate(tmp_path, ["integrand=x_squared", "integrator=mc", f"integrator.n={n}"])
    assert bar.total == n and sum(bar.updates) == n and len(bar.updates) > 1 and bar.closed
    assert result.status == "FINISHED"
    assert result.final["estimate"] == whole_mc_sums(n)[0] / n          # the same bits as one call


def test_a_short_run_shows_no_bar(tmp_path):
    result, bars = integrate(tmp_path, ["integrator=mc", "integrator.n=100000"])
    assert bars == [] and result.status == "FINISHED"


def test_a_long_tensor_rule_moves_a_bar_over_its_grid_points(tmp_path):
    import numpy as np

    from kernels import montecarlo as M
    from kernels import quadrature as Q
    from runner.integrate.trace import trapezoid_nodes

    result, [bar] = integrate(tmp_path, ["integrand=genz", "integrator=trapezoid", "integrator.n=4200",
                                         "integrate.checkpoints=2"])
    assert list(result.trajectory["n"]) == [2100, 4200]
    assert bar.total == 2100 ** 2 + 4200 ** 2 == sum(bar.updates) and len(bar.updates) > 2
    nodes, weights = trapezoid_nodes(4200)              # the rule in one kernel call, by hand
    sums = np.zeros((-(-4200 ** 2 // Q.RULE_CHUNK), 3))
    P = np.array([2, M.GAUSSIAN, 2.0, 2.0, 0.5, 0.5])
    Q.rule_sums(M.GENZ, P, M.no_expression, 2, nodes, weights, 0, sums)
    assert result.final["estimate"] == sums.sum(axis=0)[0]


def test_ctrl_c_during_monte_carlo_ends_killed_with_the_estimate_of_the_samples_done(tmp_path):
    from kernels import montecarlo as M

    n = 40 * 1 << 20
    result, [bar] = integrate(tmp_path, ["integrand=x_squared", "integrator=mc", f"integrator.n={n}"],
                              stop_above=2 << 20)
    done = sum(bar.updates)                              # the kernel calls that returned: whole chunks
    assert result.status == "KILLED" and f"after {done:,} of {n:,} samples" in result.message
    assert 0 < done < n and done % M.CHUNK == 0 and bar.closed
    assert result.final["n"] == done and result.info["n_requested"] == n
    s = whole_mc_sums(done)                              # a run asked for exactly those samples
    assert result.final["estimate"] == s[0] / done
    assert result.trajectory["n"][-1] == done and (result.trajectory["n"][:-1] < done).all()


def test_ctrl_c_during_a_rule_keeps_the_last_checkpoint_completed(tmp_path):
    result, [bar] = integrate(tmp_path, ["integrand=genz", "integrator=trapezoid", "integrator.n=4096",
                                         "integrate.checkpoints=3"], stop_above=1024 ** 2 + 2048 ** 2)
    assert result.status == "KILLED" and "the last checkpoint completed" in result.message
    assert list(result.trajectory["n"]) == [1024, 2048] and result.final["n"] == 2048
    assert result.final["estimate"] == result.trajectory["estimate"][-1]


def test_quiet_integrations_show_no_bar_and_others_do(tmp_path, capsys):
    from runner import app
    from runner.integrate.trace import SHOWN_FROM
    from tests.conftest import compose

    for quiet in ("true", "false"):
        cfg = compose(["task=integrate", "tracking=none", f"quiet={quiet}", "integrand=x_squared",
                       f"integrator.n={2 * SHOWN_FROM}"])
        app.execute(cfg, tmp_path / quiet)
        err = capsys.readouterr().err
        assert ("power by mc" in err) == (quiet == "false"), err
