"""One training step of the chapter's CNN in deepfound against the same CNN in PyTorch.

Run with plain ``python tests/bench_conv.py`` (``--profile`` adds where deepfound's
step spends its time). The network is the one of chapter 07: three 3×3
convolutions of 8, 16 and 32 channels, stride 2, padding 1, each followed by a
ReLU, then global average pooling and a linear layer to ten classes; batch 64,
float32. Both sides start from the same weights and data and run on one thread
(``deepfound.bench.run_as_benchmark`` sets the thread counts before numpy and
torch are imported, and lets OpenBLAS pick its own kernel):
with more threads, contention on a shared machine moves the ratio more than any
change to the code. The variants are timed in interleaved rounds, and the ratio
deepfound / PyTorch is the median of the rounds' ratios; a second line gives the ratio
of the fastest repeats.
"""

from __future__ import annotations

import statistics

from paired_steps import benchmark_main, paired_steps

WIDTHS = (8, 16, 32)
BATCH = 64
LR = 1e-3
ROUNDS = 5


def models(batch: int):
    """deepfound's and PyTorch's CNN with the same weights, their losses, optimizers and a batch."""
    import numpy as np
    import torch

    from deepfound.conv import Conv2d, GlobalAvgPool
    from deepfound.losses import CrossEntropy
    from deepfound.nn import Linear, ReLU, Sequential
    from deepfound.optim import SGD

    rng = np.random.default_rng(0)
    x = rng.random((batch, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, batch)

    layers, torch_layers, c_in = [], [], 1
    for i, c_out in enumerate(WIDTHS):
        # The first layer's input is the data: like PyTorch for an input without
        # requires_grad, deepfound skips its gradient.
        conv = Conv2d(c_in, c_out, 3, stride=2, padding=1, rng=i, input_grad=i > 0)
        conv.bias.data = rng.standard_normal(c_out).astype(np.float32) * 0.1
        layers += [conv, ReLU()]
        torch_layers += [torch.nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), torch.nn.ReLU()]
        c_in = c_out
    head = Linear(c_in, 10, rng=len(WIDTHS))
    model = Sequential(*layers, GlobalAvgPool(), head)
    torch_model = torch.nn.Sequential(
        *torch_layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(c_in, 10)
    )
    with torch.no_grad():
        for ours, theirs in zip(layers[::2], torch_layers[::2], strict=True):
            theirs.weight.copy_(torch.from_numpy(ours.weight.data))
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
        torch_model[-1].weight.copy_(torch.from_numpy(head.weight.data.T))
        torch_model[-1].bias.copy_(torch.from_numpy(head.bias.data))
    ours = (model, CrossEntropy(), SGD(model.parameters(), lr=LR), x, y)
    theirs = (
        torch_model,
        torch.nn.CrossEntropyLoss(),
        torch.optim.SGD(torch_model.parameters(), lr=LR),
        torch.from_numpy(x),
        torch.from_numpy(y),
    )
    return ours, theirs


def steps(batch: int):
    """deepfound's and PyTorch's training step, after checking that both compute the same."""
    ours, theirs = models(batch)
    convs = zip(ours[0].layers[:-2:2], theirs[0][:-3:2], strict=True)
    return paired_steps(ours, theirs, ((c.weight, t.weight) for c, t in convs), atol=1e-5)


def measure() -> None:
    import torch

    from deepfound.bench import describe_blas, format_seconds, ratio_of_rounds, time_rounds

    torch.set_num_threads(1)
    ours, theirs = steps(BATCH)
    runs = time_rounds({"deepfound": ours, "PyTorch": theirs}, rounds=ROUNDS)
    ratio = ratio_of_rounds(runs["deepfound"], runs["PyTorch"])
    label = f"CNN {'-'.join(map(str, WIDTHS))} training step, batch {BATCH}"
    print(f"\n{describe_blas()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'case':40} {'deepfound':>12} {'PyTorch':>12} {'ratio':>7}")
    medians = {n: statistics.median(t.median for t in runs[n]) for n in runs}
    cells = " ".join(f"{format_seconds(medians[n]):>12}" for n in runs)
    print(f"{label:40} {cells} {ratio:7.2f}")
    # The fastest repeat of each is the one least disturbed by other work on the machine;
    # deepfound's step moves more memory than PyTorch's and suffers more from a busy machine.
    best = {n: min(t.best for t in runs[n]) for n in runs}
    cells = " ".join(f"{format_seconds(best[n]):>12}" for n in best)
    print(f"{'  the same, fastest repeats':40} {cells} {best['deepfound'] / best['PyTorch']:7.2f}")


def profile(n_steps: int = 300) -> None:
    """Where deepfound's step spends its time: cProfile's functions by their own time."""
    import cProfile
    import pstats

    ours, _ = steps(BATCH)
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [ours() for _ in range(n_steps)])
    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    benchmark_main(measure, profile)
