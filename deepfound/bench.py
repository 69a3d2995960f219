"""Timing for the chapters and the benchmarks: the median of repeated runs.

A single timing on a shared machine is noise; the median of several repeats,
each long enough for the clock to resolve, is a number worth putting in a table.
The benchmarks (``tests/bench_*.py``) also share the process they run in
(:func:`run_as_benchmark`), the interleaved rounds that time deepfound beside
PyTorch (:func:`time_rounds`) and the ratio of the two (:func:`ratio_of_rounds`).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import timeit
from collections.abc import Callable, Mapping
from dataclasses import dataclass

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# Set on some machines to pin OpenBLAS to an older kernel, which older OpenBLAS builds need;
# a current numpy then runs slower than it can. A benchmark unsets both together.
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
_CHILD = "DEEPFOUND_BENCHMARK_PROCESS"


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


def time_rounds(
    fns: Mapping[str, Callable[[], object]],
    *,
    rounds: int = 5,
    repeats: int = 3,
    min_time: float = 0.2,
) -> dict[str, list[Timing]]:
    """Time each of ``fns`` once per round, the rounds one after the other.

    Interleaving puts each function's repeats side by side in time, so that a change
    in the machine's load falls on all of them alike rather than on whichever ran last.

    Examples
    --------
    >>> runs = time_rounds({"a": lambda: None, "b": lambda: None}, rounds=2, min_time=0.001)
    >>> sorted(runs), [len(timings) for timings in runs.values()]
    (['a', 'b'], [2, 2])
    """
    runs: dict[str, list[Timing]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            runs[name].append(time_call(fn, repeats=repeats, min_time=min_time))
    return runs


def ratio_of_rounds(ours: list[Timing], theirs: list[Timing]) -> float:
    """The median over the rounds of ``ours / theirs``, each round's two timings taken together.

    Two timings of one round were taken back to back, under the same load: their ratio
    is steadier than the ratio of the two medians.

    Examples
    --------
    >>> fast, slow = Timing(1.0, 1.0, 1, 1), Timing(2.0, 2.0, 1, 1)
    >>> ratio_of_rounds([fast, slow, fast], [slow, slow, slow])
    0.5
    """
    return statistics.median(a.median / b.median for a, b in zip(ours, theirs, strict=True))


def benchmark_environment(environ: Mapping[str, str], threads: int) -> dict[str, str]:
    """``environ`` for a benchmark: ``threads`` BLAS threads, OpenBLAS free to pick its kernel.

    Examples
    --------
    >>> env = benchmark_environment({"OPENBLAS_CORETYPE": "Haswell", "HOME": "/h"}, 1)
    >>> env["OPENBLAS_NUM_THREADS"], "OPENBLAS_CORETYPE" in env, env["HOME"]
    ('1', False, '/h')
    """
    if threads < 1:
        raise ValueError(f"benchmark_environment: threads must be at least 1, got {threads}")
    env = {key: value for key, value in environ.items() if key not in KERNEL_VARIABLES}
    env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    env[_CHILD] = "1"
    return env


def run_as_benchmark(threads: int = 1) -> None:
    """Run the calling script again in a process of its own set up for timing, then exit.

    Thread counts only take effect when they are set before numpy and torch are
    loaded, so the script starts itself again with :func:`benchmark_environment`;
    in that process this function returns at once and the script goes on. Call it
    first thing in ``main``, before numpy or torch is imported. The environment
    changes only for this one process: tests and the book run as configured.
    """
    if os.environ.get(_CHILD) == "1":
        return
    env = benchmark_environment(os.environ, threads)
    raise SystemExit(subprocess.run([sys.executable, *sys.argv], env=env).returncode)


def describe_blas() -> str:
    """The BLAS library numpy calls, its kernel and thread count, as threadpoolctl reports them."""
    import numpy as np

    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return f"numpy {np.__version__} (install threadpoolctl to see its BLAS kernel)"
    blas = [info for info in threadpool_info() if info.get("user_api") == "blas"]
    parts = [
        f"{info.get('internal_api')} {info.get('version')}, kernel {info.get('architecture')}, "
        f"{info.get('num_threads')} thread(s)"
        for info in blas
    ]
    return f"numpy {np.__version__} with " + ("; ".join(parts) or "no BLAS found")
