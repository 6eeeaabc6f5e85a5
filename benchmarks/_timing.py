"""Timing shared by the benchmark scripts."""

import statistics
import time


def median_seconds(function, repeats):
    """Median wall time of `function()` over `repeats` calls, after one untimed warm-up call
    (tracing, allocation)."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
