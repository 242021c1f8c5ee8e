"""Shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""
import time

# time.perf_counter (wall time), or time.process_time (CPU time of the whole process, all its
# threads: on a loaded machine it leaves out the time spent waiting for a core); --cpu-time sets it
CLOCK = time.perf_counter


def use_cpu_time(on: bool) -> None:
    global CLOCK
    CLOCK = time.process_time if on else time.perf_counter


def best_of(fn, repeat: int) -> float:
    """The fastest of ``repeat`` timed calls, after one untimed warm-up call (compilation)."""
    fn()
    times = []
    for _ in range(repeat):
        t = CLOCK()
        fn()
        times.append(CLOCK() - t)
    return min(times)
