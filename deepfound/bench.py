"""Timing for the chapters and the benchmarks: the median of repeated runs.

A single timing on a shared machine is noise; the median of several repeats,
each long enough for the clock to resolve, is a number worth putting in a table.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Timing:
    """Seconds per call of a timed function.

    Attributes
    ----------
    median, best : float
        Median and fastest of the repeats, in seconds per call.
    loops : int
        Calls in each repeat, chosen so that one repeat takes at least ``min_time``.
    repeats : int
        How many repeats were timed.
    """

    median: float
    best: float
    loops: int
    repeats: int

    def __str__(self) -> str:
        return f"{format_seconds(self.median)} per call (median of {self.repeats} x {self.loops})"


def time_call(fn: Callable[[], object], *, repeats: int = 5, min_time: float = 0.2) -> Timing:
    """Time ``fn()``: the median over ``repeats`` repeats of an automatically chosen loop count.

    The loop count is the smallest power of two for which one repeat takes at
    least ``min_time`` seconds, so that the clock's resolution does not matter.

    Examples
    --------
    >>> timing = time_call(lambda: sum(range(100)), repeats=3, min_time=0.01)
    >>> timing.repeats, timing.loops >= 1, 0 < timing.best <= timing.median
    (3, True, True)
    """
    if repeats < 1:
        raise ValueError(f"time_call: repeats must be at least 1, got {repeats}")
    timer = timeit.Timer(fn)
    loops = 1
    while timer.timeit(loops) < min_time:
        loops *= 2
    per_call = [t / loops for t in timer.repeat(repeat=repeats, number=loops)]
    return Timing(statistics.median(per_call), min(per_call), loops, repeats)


def format_seconds(seconds: float) -> str:
    """Seconds in the unit that reads best: ns, µs, ms or s, three significant digits.

    Examples
    --------
    >>> format_seconds(0.000123456)
    '123 µs'
    >>> format_seconds(2.5)
    '2.50 s'
    """
    if seconds >= 1:
        return f"{seconds:.2f} s"
    for unit, scale in (("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"
