"""The matrix-multiplication ladder on this machine: each variant's median time and its ratio to @.

Run as a script (``python tests/bench_matmul.py``, or ``nox -s bench``). All variants are timed
one after the other in the same run, on the same inputs, so their ratios are comparable.
The default shapes are the lesson's: 5 MNIST-sized rows (5 x 784) times a 784 x 10 weight matrix.
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

from deepfound.bench import format_seconds, time_call
from deepfound.matmul import (
    matmul,
    matmul_broadcast,
    matmul_einsum,
    matmul_elementwise,
    matmul_loops,
)

VARIANTS = [matmul_loops, matmul_elementwise, matmul_broadcast, matmul_einsum, matmul]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=(5, 784, 10), metavar=("N", "M", "P"))
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.2)
    args = parser.parse_args()

    n, m, p = args.shape
    rng = np.random.default_rng(0)
    # Pixel-like inputs in [0, 1] and standard normal weights, as in the chapter.
    x = rng.random((n, m)).astype(args.dtype)
    w = rng.standard_normal((m, p)).astype(args.dtype)
    reference = x @ w
    rtol = 1e-5 if args.dtype == "float32" else 1e-12
    for f in VARIANTS:
        scale = np.abs(x).astype(np.float64) @ np.abs(w).astype(np.float64)
        if not np.all(np.abs(f(x, w) - reference) <= rtol * scale):
            raise SystemExit(f"{f.__name__} disagrees with x @ w")

    timings = {
        f.__name__: time_call(lambda f=f: f(x, w), repeats=args.repeats, min_time=args.min_time)
        for f in VARIANTS
    }
    timings["x @ w"] = time_call(lambda: x @ w, repeats=args.repeats, min_time=args.min_time)
    baseline = timings["x @ w"].median

    print(
        f"matmul ladder: ({n} x {m}) @ ({m} x {p}), {args.dtype}, "
        f"numpy {np.__version__}, Python {platform.python_version()}"
    )
    print(f"median of {args.repeats} repeats, each of at least {args.min_time} s\n")
    print(f"{'variant':<20}{'median':>12}{'best':>12}{'loops':>9}{'ratio to @':>14}")
    for name, timing in timings.items():
        print(
            f"{name:<20}{format_seconds(timing.median):>12}{format_seconds(timing.best):>12}"
            f"{timing.loops:>9}{timing.median / baseline:>14,.1f}"
        )


if __name__ == "__main__":
    main()
