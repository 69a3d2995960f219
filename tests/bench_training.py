"""One training step of the deepfound MLP against the same MLP in PyTorch, side by side.

Run with plain ``python tests/bench_training.py``. For each thread count (1, and
every core) the script starts itself again with the BLAS and PyTorch thread
counts set before numpy and torch are imported, so both libraries use the same
number of threads. Every variant starts from the same weights and data; the
variants are timed in interleaved rounds so a change in machine load hits all of
them alike. Columns, medians over the rounds: a hand-fused numpy step (the floor
for numpy), deepfound (``Sequential`` + ``CrossEntropy`` + ``SGD``), PyTorch
(``nn.Sequential`` + autograd + ``torch.optim.SGD``), and the ratio deepfound /
PyTorch (the median of the rounds' ratios).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

N_IN, N_OUT = 784, 10
HIDDEN = 256  # the network of the training chapter
LR = 1e-3
ROUNDS = 3


def numpy_fused_step(x, y, w1, b1, w2, b2, lr):
    """The whole step written out by hand: no modules, no input gradient for the first layer."""
    import numpy as np

    h = x @ w1 + b1
    a = np.maximum(h, 0)
    out = a @ w2 + b2
    out -= out.max(1, keepdims=True)
    p = np.exp(out)
    p /= p.sum(1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    p /= len(y)
    grad_a = p @ w2.T
    grad_a *= h > 0
    w2 -= lr * (a.T @ p)
    b2 -= lr * p.sum(0)
    w1 -= lr * (x.T @ grad_a)
    b1 -= lr * grad_a.sum(0)


def variants(hidden: int, batch: int, *, step: bool):
    """(name, zero-argument callable) for numpy, deepfound and PyTorch, from the same weights."""
    import numpy as np
    import torch

    from deepfound.losses import CrossEntropy
    from deepfound.nn import Linear, ReLU, Sequential
    from deepfound.optim import SGD

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, batch)

    # The first layer's input is the data: like PyTorch for an input without requires_grad,
    # deepfound skips its gradient.
    first = Linear(N_IN, hidden, rng=1, input_grad=False)
    model = Sequential(first, ReLU(), Linear(hidden, N_OUT, rng=2))
    loss_fn, opt = CrossEntropy(), SGD(model.parameters(), lr=LR)
    fused = [p.data.copy() for p in model.parameters()]

    torch_model = torch.nn.Sequential(
        torch.nn.Linear(N_IN, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, N_OUT)
    )
    with torch.no_grad():
        for ours, theirs in zip(model.layers[::2], torch_model[::2], strict=True):
            theirs.weight.copy_(torch.from_numpy(ours.weight.data.T))
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    torch_loss = torch.nn.CrossEntropyLoss()
    torch_opt = torch.optim.SGD(torch_model.parameters(), lr=LR)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def deepfound_pass():
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        if step:
            opt.step()

    def torch_pass():
        torch_opt.zero_grad()
        torch_loss(torch_model(xt), yt).backward()
        if step:
            torch_opt.step()

    def fused_pass():
        numpy_fused_step(x, y, *fused, LR if step else 0.0)

    check_same_start(model, loss_fn, torch_model, torch_loss, x, y, xt, yt)
    return [("numpy fused", fused_pass), ("deepfound", deepfound_pass), ("PyTorch", torch_pass)]


def check_same_start(model, loss_fn, torch_model, torch_loss, x, y, xt, yt) -> None:
    """Both networks give the same loss and first-layer gradient before any timing."""
    import numpy as np

    ours = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    torch_model.zero_grad()
    theirs = torch_loss(torch_model(xt), yt)
    theirs.backward()
    assert abs(ours - theirs.item()) < 1e-4 * max(1.0, abs(ours)), (ours, theirs.item())
    grad_ours = model.layers[0].weight.grad
    grad_theirs = torch_model[0].weight.grad.numpy().T
    assert np.allclose(grad_ours, grad_theirs, rtol=1e-3, atol=1e-5)


def measure(threads: int) -> None:
    import torch

    from deepfound.bench import format_seconds, time_call

    torch.set_num_threads(threads)
    cases = [
        (f"training step, batch 64, hidden {HIDDEN}", HIDDEN, 64, True),
        ("training step, batch 64, hidden 50", 50, 64, True),
        (f"forward+backward, batch 50,000, hidden {HIDDEN}", HIDDEN, 50_000, False),
    ]
    print(
        f"\n{threads} thread(s) for BLAS and PyTorch (torch.get_num_threads() = "
        f"{torch.get_num_threads()})"
    )
    print(f"{'case':46} {'numpy fused':>12} {'deepfound':>12} {'PyTorch':>12} {'ratio':>7}")
    for label, hidden, batch, step in cases:
        timed = variants(hidden, batch, step=step)
        min_time = 0.2 if batch < 1000 else 0.3
        runs = {name: [] for name, _ in timed}
        for _ in range(ROUNDS):
            for name, fn in timed:
                runs[name].append(time_call(fn, repeats=3, min_time=min_time).median)
        med = {name: statistics.median(times) for name, times in runs.items()}
        # Each round times deepfound and PyTorch back to back, so the ratio is taken per round:
        # the median of the rounds' ratios is the least disturbed by a change in machine load.
        ratio = statistics.median(
            ours / theirs for ours, theirs in zip(runs["deepfound"], runs["PyTorch"], strict=True)
        )
        cells = " ".join(f"{format_seconds(med[name]):>12}" for name, _ in timed)
        print(f"{label:46} {cells} {ratio:7.2f}")


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--threads":
        measure(int(sys.argv[2]))
        return
    print("deepfound / PyTorch: time of deepfound divided by PyTorch's (below 1: deepfound faster)")
    for threads in sorted({1, os.cpu_count() or 1}):
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
        subprocess.run([sys.executable, __file__, "--threads", str(threads)], env=env, check=True)


if __name__ == "__main__":
    main()
