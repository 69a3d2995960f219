"""The training steps of the book's networks in two checkouts of deepfound, timed side by side.

``python tests/compare_revisions.py OLD NEW`` takes two source folders (a worktree of the
commit before a change and one after it). For each network the book trains, it starts
one process per checkout (``PYTHONPATH`` set to the folder, one BLAS thread, OpenBLAS
free to pick its kernel) and times the network's training step there; the two
checkouts alternate round after round, so a change in the machine's load falls on
both alike. It prints each step's median time in both and the ratio NEW / OLD (the
median of the rounds' ratios).

Before timing, each process trains its network for a few steps on MNIST and prints
a fingerprint of the result (every loss, every parameter's bytes and the outputs
in evaluation mode): a refactoring
that changes no arithmetic leaves every fingerprint the same, and then every result
the book asserts is unchanged too. The table says, per network, whether they match.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROUNDS = 5
FINGERPRINT_STEPS = 12


def networks():
    """name -> (model, loss, optimizer, batch size, images?) as chapters 06–10 train them."""
    from deepfound.adaptive import AdamW
    from deepfound.losses import CrossEntropy
    from deepfound.optim import SGD
    from deepfound.recipes import CNN, MLP, AdamWMLP, BatchNormCNN, ResNet

    def sgd(**options):
        def make(model):
            return SGD(model.parameters(), 0.01, **options)

        return make

    resnet = ResNet()
    return {
        "MLP, SGD (06)": (MLP().model, CrossEntropy(), sgd(), 64, False),
        "MLP, AdamW (08)": (
            AdamWMLP().model,
            CrossEntropy(),
            lambda model: AdamW(model.parameters(), 1e-3, weight_decay=0.1),
            128,
            False,
        ),
        "CNN (07)": (CNN().model, CrossEntropy(), sgd(momentum=0.9), 64, True),
        "batch-norm CNN (09)": (
            BatchNormCNN().model,
            CrossEntropy(),
            sgd(momentum=0.9, weight_decay=5e-4),
            64,
            True,
        ),
        "ResNet (10)": (
            resnet.model,
            CrossEntropy(label_smoothing=0.1),
            sgd(momentum=0.9, nesterov=True, weight_decay=5e-4),
            128,
            True,
        ),
    }


def worker(name: str) -> None:
    """Fingerprint then time one network's step; print one JSON line."""
    import hashlib

    import numpy as np

    from deepfound.bench import time_call
    from deepfound.nn import no_grad
    from deepfound.recipes import MNIST

    make_model, loss_fn, make_opt, batch, images = networks()[name]
    data = MNIST.load(images=images)
    model, digest = make_model(0), hashlib.sha256()
    opt = make_opt(model)
    for step in range(FINGERPRINT_STEPS):
        rows = slice(step * batch, (step + 1) * batch)
        loss = loss_fn(model(data.x_train[rows]), data.y_train[rows])
        model.backward(loss_fn.backward())
        opt.step()
        digest.update(np.float64(loss).tobytes())
    for p in model.parameters():
        digest.update(np.ascontiguousarray(p.data).tobytes())
    with no_grad():  # evaluation mode too, as fit validates
        digest.update(np.ascontiguousarray(model.eval()(data.x_valid[:256])).tobytes())
    model.train()
    x, y = data.x_train[:batch], data.y_train[:batch]
    opt.lr = 1e-12  # no weight moves: every timed step sees the same gradients

    def train_step():
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()

    seconds = time_call(train_step, repeats=3, min_time=0.3).median
    print(json.dumps({"fingerprint": digest.hexdigest()[:16], "seconds": seconds}))


def run_worker(folder: Path, name: str) -> dict:
    from deepfound.bench import benchmark_environment

    env = benchmark_environment(os.environ, 1)
    env["PYTHONPATH"] = str(folder)
    out = subprocess.run(
        [sys.executable, __file__, "--worker", name],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=folder,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", type=Path, nargs="?")
    parser.add_argument("new", type=Path, nargs="?")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--only", help="time only the networks whose name contains this")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return
    if args.old is None or args.new is None:
        parser.error("give two source folders: OLD NEW")
    sys.path.insert(0, str(args.new))
    names = [name for name in networks() if args.only is None or args.only in name]
    print(f"{'step':<22} {'old':>9} {'new':>9} {'new/old':>8}  arithmetic")
    worst = 0.0
    for name in names:
        runs = {"old": [], "new": []}
        for _ in range(args.rounds):
            for side in ("old", "new"):
                runs[side].append(run_worker(getattr(args, side).resolve(), name))
        ratio = statistics.median(
            n["seconds"] / o["seconds"] for o, n in zip(runs["old"], runs["new"], strict=True)
        )
        prints = {r["fingerprint"] for side in runs.values() for r in side}
        same = "identical" if len(prints) == 1 else f"differs ({len(prints)} fingerprints)"
        old, new = (statistics.median(r["seconds"] for r in runs[s]) for s in ("old", "new"))
        print(f"{name:<22} {old * 1e3:7.2f}ms {new * 1e3:7.2f}ms {ratio:8.3f}  {same}")
        worst = max(worst, ratio)
    print(f"worst ratio new/old: {worst:.3f}")


if __name__ == "__main__":
    main()
