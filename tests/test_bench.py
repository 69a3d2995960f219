"""deepfound.bench: time_call's loop count, statistics and formatting; the benchmarks' helpers."""

from __future__ import annotations

import itertools
import statistics
import subprocess
import sys
import timeit
from functools import partial
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from deepfound import bench
from deepfound.bench import Timing, format_seconds, time_call


class FakeClock:
    """A clock that advances only when the timed function runs, by a scripted cost per call.

    Plugged into :class:`timeit.Timer` in place of ``perf_counter``, it makes
    every measurement of :func:`time_call` known in advance.
    """

    def __init__(self, costs):
        self.now = 0.0
        self.costs = iter(costs)
        self.calls = 0

    def __call__(self) -> float:
        return self.now

    def run(self) -> None:
        self.calls += 1
        self.now += next(self.costs)


def use_clock(monkeypatch, clock: FakeClock) -> None:
    monkeypatch.setattr(bench, "timeit", SimpleNamespace(Timer=partial(timeit.Timer, timer=clock)))


@pytest.mark.parametrize(
    ("cost", "min_time", "loops"),
    # Costs are powers of two, so the fake clock's sums are exact.
    [(2**-6, 0.1, 8), (2**-6, 2**-3, 8), (2**-6, 0.126, 16), (1.0, 0.2, 1), (2**-20, 0.2, 2**18)],
)
def test_loop_count_is_smallest_power_of_two_reaching_min_time(monkeypatch, cost, min_time, loops):
    clock = FakeClock(costs=itertools.repeat(cost))
    use_clock(monkeypatch, clock)
    timing = time_call(clock.run, repeats=3, min_time=min_time)
    assert timing.loops == loops
    # Probing runs 1, 2, 4, ..., loops calls; then each repeat runs `loops` calls.
    assert clock.calls == (2 * loops - 1) + 3 * loops
    assert timing == Timing(
        median=pytest.approx(cost), best=pytest.approx(cost), loops=loops, repeats=3
    )


@pytest.mark.parametrize("per_repeat", [[3.0, 1.0, 2.0], [5.0, 4.0, 9.0, 1.0, 4.5], [2.0]])
def test_median_and_best_of_the_repeats(monkeypatch, per_repeat):
    loops = 4  # 0.125 s per call while probing: 1, 2 then 4 calls reach min_time = 0.4 s
    probing = [0.125] * (1 + 2 + 4)
    timed = [cost for cost in per_repeat for _ in range(loops)]
    clock = FakeClock(costs=probing + timed)
    use_clock(monkeypatch, clock)
    timing = time_call(clock.run, repeats=len(per_repeat), min_time=0.4)
    assert timing.loops == loops and timing.repeats == len(per_repeat)
    assert timing.median == pytest.approx(statistics.median(per_repeat))
    assert timing.best == pytest.approx(min(per_repeat))
    assert timing.best <= timing.median <= max(per_repeat)


def test_real_clock():
    timing = time_call(lambda: sum(range(1000)), repeats=4, min_time=0.01)
    assert timing.repeats == 4
    assert timing.loops & (timing.loops - 1) == 0  # a power of two
    assert 0 < timing.best <= timing.median
    # One repeat of `loops` calls lasted at least min_time while probing; the calls did not get
    # a thousand times faster since.
    assert timing.loops * timing.median > 0.01 / 1000


@pytest.mark.parametrize("repeats", [0, -1])
def test_repeats_below_one_is_an_error(repeats):
    with pytest.raises(ValueError, match=f"repeats must be at least 1, got {repeats}"):
        time_call(lambda: None, repeats=repeats)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3.0, "3.00 s"),
        (1.0, "1.00 s"),
        (0.999, "999 ms"),
        (0.0123, "12.3 ms"),
        (1e-3, "1 ms"),
        (4.56e-5, "45.6 µs"),
        (1e-6, "1 µs"),
        (7.5e-7, "750 ns"),
        (1.2e-9, "1.2 ns"),
    ],
)
def test_format_seconds(seconds, text):
    assert format_seconds(seconds) == text


def test_timing_str():
    timing = Timing(median=0.0025, best=0.002, loops=64, repeats=5)
    assert str(timing) == "2.5 ms per call (median of 5 x 64)"


def test_rounds_interleave_the_functions():
    order = []
    runs = bench.time_rounds(
        {"a": lambda: order.append("a"), "b": lambda: order.append("b")},
        rounds=3,
        repeats=1,
        min_time=0.0,
    )
    assert [len(runs["a"]), len(runs["b"])] == [3, 3]
    # min_time 0: each time_call probes with one call and times one more, a's then b's.
    assert "".join(order) == "aabb" * 3


def test_ratio_pairs_each_round():
    def timings(*seconds):
        return [Timing(s, s, 1, 1) for s in seconds]

    # The ratio of the medians would be 2 / 4; the rounds' ratios are 1, 0.5 and 3.
    assert bench.ratio_of_rounds(timings(1, 2, 9), timings(1, 4, 3)) == 1.0
    with pytest.raises(ValueError):
        bench.ratio_of_rounds(timings(1, 2), timings(1))


def test_benchmark_environment():
    before = {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "512", "OMP_NUM_THREADS": "8"}
    env = bench.benchmark_environment(before, 2)
    assert env == {
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
        "DEEPFOUND_BENCHMARK_PROCESS": "1",
    }
    assert before["OPENBLAS_CORETYPE"] == "Haswell"  # the caller's mapping is left as it was
    with pytest.raises(ValueError, match="threads must be at least 1, got 0"):
        bench.benchmark_environment({}, 0)


def test_run_as_benchmark_runs_the_script_again_in_its_environment(tmp_path, monkeypatch):
    script = tmp_path / "script.py"
    script.write_text(
        "import os, sys\n"
        "from deepfound.bench import run_as_benchmark\n"
        "run_as_benchmark(3)\n"
        "env = os.environ\n"
        "print(env['OPENBLAS_NUM_THREADS'], env.get('OPENBLAS_CORETYPE'), sys.argv[1:])\n"
        "sys.exit(7)\n"
    )
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("DEEPFOUND_BENCHMARK_PROCESS", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(Path(bench.__file__).parents[1]))
    done = subprocess.run(
        [sys.executable, str(script), "--flag"], capture_output=True, text=True, check=False
    )
    # The child printed once, with its own environment, and its exit code came through.
    assert done.stdout == "3 None ['--flag']\n", done.stderr
    assert done.returncode == 7


def test_describe_blas_names_numpy():
    assert bench.describe_blas().startswith(f"numpy {np.__version__}")
