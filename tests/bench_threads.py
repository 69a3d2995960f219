"""Chapter 10's training step on 1, 2 and 4 BLAS threads, side by side.

Run with plain ``python tests/bench_threads.py`` (``--threads 1 2 8`` for other counts,
``--rounds`` for more rounds). Each thread count runs in a process of its own (the count is
read when numpy loads), on the step chapter 10 trains: ``ResNet().model(0)`` with its SGD and
label-smoothed loss, on a batch of the recipe's size. The processes take turns, round after
round, so that a slow spell of a shared machine hits every count alike; the table shows the
median step of each count over the rounds and its ratio to one thread, and how many threads
BLAS actually runs (threadpoolctl): OpenBLAS starts no more than the cores it may use.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

STEP = """
import time
import numpy as np
from deepfound.losses import CrossEntropy
from deepfound.optim import SGD
from deepfound.recipes import ResNet

recipe = ResNet()
model = recipe.model(0)
rng = np.random.default_rng(0)
x = rng.standard_normal((recipe.batch_size, 1, 28, 28), dtype=np.float32)
y = rng.integers(0, 10, recipe.batch_size)
loss_fn = CrossEntropy(label_smoothing=recipe.label_smoothing)
# A learning rate so small that no float32 weight changes: every step computes the same.
opt = SGD(model.parameters(), 1e-12, momentum=recipe.momentum, nesterov=True,
          weight_decay=recipe.weight_decay)
times = []
for i in range({steps} + 3):
    start = time.perf_counter()
    loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    opt.step()
    times.append(time.perf_counter() - start)
from threadpoolctl import threadpool_info

running = max(pool["num_threads"] for pool in threadpool_info())
print(running, sorted(times[3:])[len(times[3:]) // 2])
"""


def step_seconds(threads: int, steps: int) -> tuple[int, float]:
    """The threads BLAS runs when asked for ``threads``, and the median step of that process."""
    env = dict(os.environ)
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(threads)
    code = STEP.format(steps=steps)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    running, seconds = result.stdout.split()[-2:]
    return int(running), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20, help="timed steps per process")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"chapter 10's training step by BLAS threads ({cores} usable cores here)")
    results, running = {t: [] for t in args.threads}, {}
    for _ in range(args.rounds):
        for threads in args.threads:
            running[threads], seconds = step_seconds(threads, args.steps)
            results[threads].append(seconds)
    base = statistics.median(results[args.threads[0]])
    print(f"{'threads':>8} {'running':>8} {'step (ms)':>10} {'vs ' + str(args.threads[0]):>8}")
    for threads, values in results.items():
        median = statistics.median(values)
        print(f"{threads:8} {running[threads]:8} {1000 * median:10.1f} {median / base:8.2f}x")


if __name__ == "__main__":
    main()
