"""One training step of the book's ResNet in deepfound against the same ResNet in PyTorch.

Run with plain ``python tests/bench_resnet.py`` (``--profile`` adds where each
library's step spends its time). The network is the one chapter 10 trains:
``resnet(WIDTHS, stem_stride=STEM_STRIDE)``, a stem convolution, one residual
block per stage, global average pooling and a linear head; batch 128, float32, SGD
with Nesterov momentum and weight decay. The PyTorch network is the one the tests
check ours against (``tests/oracle.py``), with the same weights, on the same
batch. Both sides run on one thread (set before numpy and torch are imported, by
``deepfound.bench.run_as_benchmark``, which also lets OpenBLAS pick its own kernel);
the variants are timed in interleaved rounds, and the ratio deepfound / PyTorch is
the median of the rounds' ratios.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from pathlib import Path

from paired_steps import benchmark_main, paired_steps

WIDTHS = (16, 32, 64)
STEM_STRIDE = 2
BATCH = 128
# So small that no float32 weight changes: every timed step sees the same gradients, and the
# thousands of steps on one batch cannot overfit it into subnormal numbers.
LR = 1e-12
ROUNDS = 5


def steps():
    """deepfound's and PyTorch's training step, after checking that both compute the same."""
    import numpy as np
    import torch
    from oracle import copy_weights, torch_resnet

    from deepfound.conv import Conv2d
    from deepfound.losses import CrossEntropy
    from deepfound.optim import SGD
    from deepfound.resnet import resnet

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    model = resnet(WIDTHS, stem_stride=STEM_STRIDE, rng=rng)
    t_model = torch_resnet(WIDTHS, 1, stem_stride=STEM_STRIDE, dtype=torch.float32)
    copy_weights(model, t_model, rng)
    options = dict(momentum=0.9, nesterov=True, weight_decay=5e-4)
    loss_fn, opt = CrossEntropy(), SGD(model.parameters(), LR, **options)
    t_loss = torch.nn.CrossEntropyLoss()
    t_opt = torch.optim.SGD(t_model.parameters(), LR, **options)
    convs = [m.weight for m in model.modules() if isinstance(m, Conv2d)]
    t_convs = [m.weight for m in t_model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == len(t_convs)
    ours = (model, loss_fn, opt, x, y)
    theirs = (t_model, t_loss, t_opt, torch.from_numpy(x), torch.from_numpy(y))
    return paired_steps(ours, theirs, zip(convs, t_convs, strict=True))


def measure() -> None:
    import torch

    from deepfound.bench import describe_blas, format_seconds, ratio_of_rounds, time_rounds

    torch.set_num_threads(1)
    ours, theirs = steps()
    runs = time_rounds({"deepfound": ours, "PyTorch": theirs}, rounds=ROUNDS, min_time=0.3)
    ratio = ratio_of_rounds(runs["deepfound"], runs["PyTorch"])
    label = f"ResNet {'-'.join(map(str, WIDTHS))} training step, batch {BATCH}"
    print(f"\n{describe_blas()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'case':45} {'deepfound':>12} {'PyTorch':>12} {'ratio':>7}")
    cells = " ".join(
        f"{format_seconds(statistics.median(t.median for t in runs[n])):>12}" for n in runs
    )
    print(f"{label:45} {cells} {ratio:7.2f}")


def _own_time(stats: dict) -> dict[str, float]:
    """Seconds per deepfound function, counting the numpy functions it calls as its own.

    A function outside deepfound (numpy's, or a builtin such as ``einsum``) passes its
    time on to its callers, in proportion to the time each caller spent in it.
    """
    package = str(Path(__file__).resolve().parents[1] / "deepfound")
    totals: dict[str, float] = defaultdict(float)

    def label(func) -> str | None:
        filename, _, name = func
        if filename.startswith(package):
            return f"{Path(filename).stem}.{name}"
        return None

    def assign(func, seconds: float, depth: int = 0) -> None:
        name = label(func)
        callers = stats[func][4] if func in stats else {}
        if name is not None or not callers or depth > 5:
            totals[name or "other (Python, the timing loop)"] += seconds
            return
        spent = sum(c[2] for c in callers.values()) or 1.0
        for caller, c in callers.items():
            assign(caller, seconds * c[2] / spent, depth + 1)

    for func, (_, _, own, _, _) in stats.items():
        assign(func, own)
    return totals


def profile(n_steps: int = 30) -> None:
    """Where each step spends its time: deepfound by function, PyTorch by operator."""
    import cProfile
    import pstats

    import torch

    ours, theirs = steps()
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [ours() for _ in range(n_steps)])
    totals = _own_time(pstats.Stats(profiler).stats)
    whole = sum(totals.values())
    print(f"\ndeepfound, {n_steps} steps: each function with the numpy calls it makes")
    for name, seconds in sorted(totals.items(), key=lambda item: -item[1])[:14]:
        print(f"  {name:40} {1000 * seconds / n_steps:8.2f} ms/step {seconds / whole:6.1%}")
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(n_steps):
            theirs()
    print(f"\nPyTorch, {n_steps} steps: operators by their own time")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))


if __name__ == "__main__":
    benchmark_main(measure, profile)
