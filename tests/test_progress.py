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
