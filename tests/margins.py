"""How far every result a chapter asserts stays above its bar, across machines: ``nox -s margins``.

Each asserted result is a recipe of :mod:`deepfound.recipes`, the same code the chapter
runs. This script runs it again in processes of its own, under every combination of

- a BLAS kernel: OpenBLAS's as the environment sets it, with ``OPENBLAS_CORETYPE`` and
  ``OPENBLAS_L2_SIZE`` unset (the kernel OpenBLAS picks for the processor, as on a
  reader's machine), and forced to Haswell's (what AMD processors and older Intel ones
  run); settings that end up on the same kernel run once;
- a thread count (1 and 2 unless told);
- a seed (the chapter's 0 and two more unless told), which sets the initial
  weights, the order of the batches and the augmentation,

and prints, per assert, the bar, the lowest, median and highest result and the margin
of the worst run. With ``--chapters`` it also executes chapters 06–10 as notebooks
(``deepfound run``) and prints the peak resident memory of each.

    python tests/margins.py                      # every assert
    python tests/margins.py resnet --seeds 0 1   # one, fewer seeds
    python tests/margins.py resnet --set epochs=6 zero_init=True   # a variant of the recipe
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import itertools
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
KERNEL_VARIABLES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
KERNELS = {
    "as set": {},
    "unset": dict.fromkeys(KERNEL_VARIABLES),
    "Haswell": {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": None},
}
MEASURED = ROOT / "deepfound" / "margins.json"
CHAPTERS = ("06_training", "07_conv", "08_optim", "09_batchnorm", "10_resnet")


def _asserts():
    """Each assert: its chapter's recipe, whether it needs images, and what to measure."""
    from deepfound import recipes

    def accuracy(recipe, data, seed):
        _, history = recipe.run(data, seed)
        return history.valid_accuracy[-1], sum(history.train_seconds)

    def depth_ratio(recipe, data, seed):
        start = time.perf_counter()
        return recipe.ratio(recipe.run(data, seed)), time.perf_counter() - start

    return {
        "mlp": ("06 MLP, SGD", recipes.MLP(), False, accuracy),
        "cnn": ("07 CNN", recipes.CNN(), True, accuracy),
        "adamw": ("08 MLP, AdamW one-cycle", recipes.AdamWMLP(), False, accuracy),
        "batchnorm": ("09 CNN, batch norm", recipes.BatchNormCNN(), True, accuracy),
        "resnet": ("10 ResNet", recipes.ResNet(), True, accuracy),
        "depth": ("10 plain deep / others, loss", recipes.DepthComparison(), True, depth_ratio),
    }


def child(name: str, seed: int, settings: dict) -> None:
    """Run one assert's recipe once, in this process, and print what it measured as JSON."""
    import threadpoolctl

    from deepfound.recipes import MNIST

    _, recipe, images, measure = _asserts()[name]
    recipe = dataclasses.replace(recipe, **settings)
    value, seconds = measure(recipe, MNIST.load(images=images), seed)
    (blas,) = threadpoolctl.threadpool_info() or [{"architecture": "no OpenBLAS"}]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {"value": value, "seconds": seconds, "kernel": blas.get("architecture"), "peak": peak}
        )
    )


def environment(kernel: str, threads: int) -> dict[str, str]:
    env = dict(os.environ)
    for variable, value in KERNELS[kernel].items():
        if value is None:
            env.pop(variable, None)
        else:
            env[variable] = value
    env.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))
    return env


def kernel_name(kernel: str) -> str:
    probe = "import numpy, threadpoolctl; print(threadpoolctl.threadpool_info()[0]['architecture'])"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env=environment(kernel, 1),
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def run_one(name, kernel, threads, seed, settings):
    command = [
        sys.executable,
        __file__,
        "--child",
        name,
        "--seed",
        str(seed),
        "--set",
        *(f"{k}={v!r}" for k, v in settings.items()),
    ]
    result = subprocess.run(
        command, env=environment(kernel, threads), capture_output=True, text=True, cwd=ROOT
    )
    if result.returncode:
        raise RuntimeError(f"{name} ({kernel}, {threads} threads, seed {seed}):\n{result.stderr}")
    return json.loads(result.stdout.splitlines()[-1])


def chapter_peak(chapter: str) -> tuple[float, float]:
    """Peak resident memory (bytes) of a chapter's kernel, and the run's wall-clock seconds."""
    measure = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)"
    )
    deepfound = Path(sys.executable).with_name("deepfound")
    start = time.perf_counter()
    command = [sys.executable, "-c", measure, str(deepfound), "run", f"book/{chapter}.md"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode:
        raise RuntimeError(f"book/{chapter}.md failed:\n{result.stderr}")
    return float(result.stdout.split()[-1]), time.perf_counter() - start


def parse_settings(pairs: list[str]) -> dict:
    settings = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        settings[key] = ast.literal_eval(value)
    return settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="asserts to sweep (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=list(KERNELS))
    parser.add_argument("--set", nargs="*", default=[], help="recipe settings, field=value")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="runs at once (results do not depend on it; times do)",
    )
    parser.add_argument("--chapters", action="store_true", help="peak memory of chapters 06-10")
    parser.add_argument(
        "--write", action="store_true", help="record the results for the chapters to quote"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = parse_settings(args.set)
    if args.child:
        child(args.child, args.seed, settings)
        return

    asserts = _asserts()
    names = args.names or list(asserts)
    unknown = sorted(set(names) - set(asserts))
    if unknown:
        parser.error(f"no such assert: {', '.join(unknown)} (one of {', '.join(asserts)})")
    kernels = {}
    for kernel in args.kernels:
        kernels.setdefault(kernel_name(kernel), kernel)
    print("kernels:", ", ".join(f"{name} ({setting})" for name, setting in kernels.items()))
    print(
        f"threads {args.threads}, seeds {args.seeds}" + (f", settings {settings}" * bool(settings))
    )
    runs = list(itertools.product(names, kernels.values(), args.threads, args.seeds))
    results = [None] * len(runs)
    done = 0
    # A run on t threads takes t of the --jobs cores: more threads than cores would make
    # OpenBLAS's threads wait for each other, and every run crawl.
    for threads in args.threads:
        mine = [i for i, run in enumerate(runs) if run[2] == threads]
        with ThreadPoolExecutor(max(1, args.jobs // threads)) as pool:
            futures = {pool.submit(run_one, *runs[i], settings): i for i in mine}
            for future in as_completed(futures):
                i, done = futures[future], done + 1
                results[i] = result = future.result()
                name, _, _, seed = runs[i]
                print(
                    f"[{done}/{len(runs)}] {name}, {result['kernel']}, {threads} thread(s), "
                    f"seed {seed}: {result['value']:.5f}",
                    flush=True,
                )
    print(
        f"\n{'assert':32} {'bar':>6} {'min':>7} {'median':>7} {'max':>7} {'worst margin':>12} "
        f"{'peak memory':>11} {'time':>7}"
    )
    for name in names:
        label, recipe, *_ = asserts[name]
        mine = [r for run, r in zip(runs, results, strict=True) if run[0] == name]
        values = [r["value"] for r in mine]
        low, mid, high = min(values), statistics.median(values), max(values)
        scale, unit = (100, " pt") if recipe.target < 1 else (1, "")
        peak = max(r["peak"] for r in mine) / 2**30
        seconds = statistics.median(r["seconds"] for r in mine)
        print(
            f"{label:32} {scale * recipe.target:6.2f} {scale * low:7.2f} {scale * mid:7.2f} "
            f"{scale * high:7.2f} {scale * (low - recipe.target):+9.2f}{unit:3} "
            f"{peak:8.2f} GB {seconds:6.1f}s"
        )
    if args.write:
        # Every recipe measured is kept, variants too, so that a chapter can quote what it
        # chose against; a recipe measured again replaces its old entry.
        measured = json.loads(MEASURED.read_text()) if MEASURED.exists() else {}
        for name in names:
            recipe = dataclasses.replace(asserts[name][1], **settings)
            mine = [r for run, r in zip(runs, results, strict=True) if run[0] == name]
            entries = [e for e in measured.get(name, []) if e["recipe"] != repr(recipe)]
            entries.append(
                {
                    "recipe": repr(recipe),
                    "values": [r["value"] for r in mine],
                    "kernels": sorted({r["kernel"] for r in mine}),
                    "threads": args.threads,
                    "seeds": args.seeds,
                }
            )
            measured[name] = entries
        MEASURED.write_text(json.dumps(measured, indent=1) + "\n")
        print(f"\nrecorded in {MEASURED.relative_to(ROOT)}")
    if args.chapters:
        print("\npeak resident memory of each chapter executed as a notebook:")
        for chapter in CHAPTERS:
            peak, seconds = chapter_peak(chapter)
            print(f"  book/{chapter}.md {peak / 2**30:5.2f} GB ({seconds:.0f} s)")


if __name__ == "__main__":
    main()
