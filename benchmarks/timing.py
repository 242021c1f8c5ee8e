"""Shared by the benchmark scripts (run as ``python benchmarks/<name>.py``)."""
import time


def best_of(fn, repeat: int) -> float:
    """The fastest of ``repeat`` timed calls, after one untimed warm-up call (compilation)."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)
