"""One training step of chapter 09's batch-normalized CNN in deepfound against PyTorch's.

Run with plain ``python tests/bench_norm.py``. The network is the one of
chapter 09: six convolutions (5×5 then 3×3) of 8, 16, 16, 32, 32 and 64 channels,
strides 2, 1, 2, 1, 2, 1, each followed by ``BatchNorm2d`` and a ReLU, then global
average pooling and a linear layer; batch 64, float32, SGD with momentum 0.9. The
same network without batch normalization (convolutions with biases) is timed
beside it, which shows what the normalization costs on each side. Both sides
start from the same weights and data, run on one thread (set before numpy and torch
are imported, by ``deepfound.bench.run_as_benchmark``, which also lets OpenBLAS pick
its own kernel), and are timed in interleaved rounds; a ratio deepfound / PyTorch
is the median of the rounds' ratios.
"""

from __future__ import annotations

import statistics

from paired_steps import benchmark_main, paired_steps

WIDTHS = (8, 16, 16, 32, 32, 64)
STRIDES = (2, 1, 2, 1, 2, 1)
BATCH = 64
LR, MOMENTUM = 1e-3, 0.9
ROUNDS = 5
SIDES = ("deepfound", "PyTorch")


def models(batch_norm: bool):
    """deepfound's and PyTorch's CNN with the same weights, as (model, loss, optimizer, x, y)."""
    import numpy as np
    import torch

    from deepfound.conv import Conv2d, GlobalAvgPool
    from deepfound.losses import CrossEntropy
    from deepfound.nn import Linear, ReLU, Sequential
    from deepfound.norm import BatchNorm2d
    from deepfound.optim import SGD

    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    layers, torch_layers, c_in = [], [], 1
    for i, (c_out, stride) in enumerate(zip(WIDTHS, STRIDES, strict=True)):
        k = 5 if i == 0 else 3
        options = {"stride": stride, "padding": k // 2, "bias": not batch_norm}
        conv = Conv2d(c_in, c_out, k, rng=i, input_grad=i > 0, **options)
        t_conv = torch.nn.Conv2d(c_in, c_out, k, **options)
        with torch.no_grad():
            t_conv.weight.copy_(torch.from_numpy(conv.weight.data))
            if not batch_norm:
                t_conv.bias.zero_()
        layers.append(conv)
        torch_layers.append(t_conv)
        if batch_norm:
            layers.append(BatchNorm2d(c_out))
            torch_layers.append(torch.nn.BatchNorm2d(c_out))
        layers.append(ReLU())
        torch_layers.append(torch.nn.ReLU())
        c_in = c_out
    head = Linear(c_in, 10, rng=len(WIDTHS))
    model = Sequential(*layers, GlobalAvgPool(), head)
    t_head = torch.nn.Linear(c_in, 10)
    with torch.no_grad():
        t_head.weight.copy_(torch.from_numpy(head.weight.data.T))
        t_head.bias.copy_(torch.from_numpy(head.bias.data))
    t_model = torch.nn.Sequential(
        *torch_layers, torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), t_head
    )
    ours = (model, CrossEntropy(), SGD(model.parameters(), LR, momentum=MOMENTUM), x, y)
    theirs = (
        t_model,
        torch.nn.CrossEntropyLoss(),
        torch.optim.SGD(t_model.parameters(), lr=LR, momentum=MOMENTUM),
        torch.from_numpy(x),
        torch.from_numpy(y),
    )
    return ours, theirs


def steps(batch_norm: bool):
    """deepfound's and PyTorch's training step, after checking that both compute the same."""
    ours, theirs = models(batch_norm)
    return paired_steps(ours, theirs, [(ours[0].layers[0].weight, theirs[0][0].weight)])


def measure() -> None:
    import torch

    from deepfound.bench import describe_blas, format_seconds, ratio_of_rounds, time_rounds

    torch.set_num_threads(1)
    cases = {"with batch norm": steps(True), "without": steps(False)}
    fns = {
        (case, side): fn
        for case, pair in cases.items()
        for side, fn in zip(SIDES, pair, strict=True)
    }
    runs = time_rounds(fns, rounds=ROUNDS)
    print(f"\n{describe_blas()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    print(f"{'case':50} {'deepfound':>12} {'PyTorch':>12} {'ratio':>7}")
    for case in cases:
        ours, theirs = runs[case, "deepfound"], runs[case, "PyTorch"]
        label = f"CNN {'-'.join(map(str, WIDTHS))} step, batch {BATCH}, {case}"
        times = " ".join(
            f"{format_seconds(statistics.median(t.median for t in side)):>12}"
            for side in (ours, theirs)
        )
        print(f"{label:50} {times} {ratio_of_rounds(ours, theirs):7.2f}")


if __name__ == "__main__":
    benchmark_main(measure)
