"""A sweep says how far it is: ``[sweep] 5/32 jobs done, ~40 s left`` after each job, from the
sweeping process, whichever process ran the job (runner/sweep/progress.py)."""
import re

import pytest

from runner.sweep import progress
from tests.conftest import run_cli

LINE = re.compile(r"^\[sweep\] (\d+)/(\d+) jobs done(?:, ~(\d+) (s|min|h) left| in .*)$", re.M)


def test_the_time_left_is_the_mean_time_per_job_so_far_times_the_jobs_left():
    assert progress.line(5, 32, 10.0) == "[sweep] 5/32 jobs done, ~54 s left"        # 2 s a job, 27 left
    assert progress.line(1, 40, 60.0) == "[sweep] 1/40 jobs done, ~39 min left"
    assert progress.line(2, 1000, 36.0) == "[sweep] 2/1000 jobs done, ~5.0 h left"
    assert progress.line(32, 32, 75.0) == "[sweep] 32/32 jobs done in 75 s"


def test_a_line_each_time_more_jobs_have_ended_wherever_they_ran(tmp_path, capsys):
    watcher = progress.SweepProgress(tmp_path)
    watcher.poll()
    assert capsys.readouterr().out == ""                 # no sweeper has said how many jobs yet
    progress.expect(tmp_path, 3)
    progress.job_ended(tmp_path, 0)                       # e.g. written by a joblib worker
    watcher.poll()
    watcher.poll()                                        # nothing new: nothing said
    progress.job_ended(tmp_path, 2)
    progress.job_ended(tmp_path, 1)
    watcher.poll()                                        # two ended since the last look: one line
    assert [m[:2] for m in LINE.findall(capsys.readouterr().out)] == [("1", "3"), ("3", "3")]


def test_quiet_sweeps_say_nothing_and_a_rerun_forgets_the_last_sweeps_jobs(tmp_path, capsys):
    progress.expect(tmp_path, 2)
    progress.job_ended(tmp_path, 0)
    progress.job_ended(tmp_path, 1)
    quiet = progress.SweepProgress(tmp_path, enabled=False)
    quiet.poll()
    assert capsys.readouterr().out == ""
    again = progress.SweepProgress(tmp_path)
    again.start()                                         # the same sweep dir, run again
    progress.expect(tmp_path, 2)
    progress.job_ended(tmp_path, 1)
    again.stop()
    assert [m[:2] for m in LINE.findall(capsys.readouterr().out)] == [("1", "2")]


def counts(stdout: str):
    found = LINE.findall(stdout)
    return [int(m[0]) for m in found], {int(m[1]) for m in found}


SWEEP = ["-m", "problem=bowl", "optim=gd", "optim.lr=0.1,0.2,0.3,0.4", "optimize.steps=50", "tracking=none"]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [["hydra/launcher=basic"], ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
                                      []])   # [] : calclab's default, the batched launcher
def test_a_sweep_prints_its_progress_after_its_jobs(tmp_path, launcher):
    out = run_cli([*SWEEP, *launcher], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    done, totals = counts(out.stdout)
    assert totals == {4} and done[-1] == 4 and done == sorted(set(done)), out.stdout
    if launcher == ["hydra/launcher=basic"]:   # the jobs end one by one in this process: a line each
        assert done == [1, 2, 3, 4]


@pytest.mark.slow
def test_a_quiet_sweep_prints_no_progress_and_a_single_run_marks_no_sweep(tmp_path):
    out = run_cli([*SWEEP, "hydra/launcher=basic", "quiet=true"], cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert counts(out.stdout) == ([], set())
    (tmp_path / "one").mkdir()
    single = run_cli(["problem=bowl", "optim=gd", "optimize.steps=5", "tracking=none"], cwd=tmp_path / "one")
    assert single.returncode == 0, single.stderr
    assert not list((tmp_path / "one").glob("outputs/multirun")) and "jobs done" not in single.stdout
