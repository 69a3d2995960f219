"""One training step of the deepfound MLP against the same MLP in PyTorch, side by side.

Run with plain ``python tests/bench_training.py`` (``--threads N`` for another thread
count than one). The script starts itself again (``deepfound.bench.run_as_benchmark``)
with the BLAS and PyTorch thread counts set before numpy and torch are imported, so
both libraries use the same number of threads: one by default, since threads that
wait for each other on a shared machine turn a timing into noise. That process also
lets OpenBLAS pick its own kernel where the machine pins an older one; the first
line printed names the kernel that ran. Every variant starts from the same weights
and data, and the two optimizers are checked to take the same step; the variants
are timed in interleaved rounds so a change in machine load hits all of them alike.
Columns, medians over the rounds: a hand-fused numpy step with plain SGD (the floor
for numpy), deepfound (``Sequential`` + ``CrossEntropy`` + ``SGD`` or ``Adam``),
PyTorch (``nn.Sequential`` + autograd + ``torch.optim.SGD`` or ``Adam``), and the
ratio deepfound / PyTorch (the median of the rounds' ratios).
"""

from __future__ import annotations

import argparse
import statistics

from deepfound.bench import run_as_benchmark

N_IN, N_OUT = 784, 10
HIDDEN = 256  # the network of the training chapter
# The timed steps use a learning rate so small that no float32 weight changes: every step sees
# the gradients of the start of training. With a real one, the thousands of timed steps on one
# batch would fit it until the softmax underflows into subnormal numbers, slow in both libraries.
LR = 1e-12
CHECK_LR = 1e-3  # for the one step on which both optimizers are checked to agree
ROUNDS = 5
# (deepfound / PyTorch) targets for the lesson's MLP, 784-50-10, batch 64.
TARGETS = {"SGD": 0.5, "Adam": 0.6}


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


def variants(hidden: int, batch: int, *, step: bool, optimizer: str = "SGD"):
    """name -> zero-argument callable for numpy (SGD only), deepfound and PyTorch, same weights."""
    import numpy as np
    import torch

    from deepfound import optim
    from deepfound.losses import CrossEntropy
    from deepfound.nn import Linear, ReLU, Sequential

    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, N_IN)).astype(np.float32)
    y = rng.integers(0, N_OUT, batch)

    # The first layer's input is the data: like PyTorch for an input without requires_grad,
    # deepfound skips its gradient.
    first = Linear(N_IN, hidden, rng=1, input_grad=False)
    model = Sequential(first, ReLU(), Linear(hidden, N_OUT, rng=2))
    loss_fn, opt = CrossEntropy(), getattr(optim, optimizer)(model.parameters(), lr=LR)
    fused = [p.data.copy() for p in model.parameters()]

    torch_model = torch.nn.Sequential(
        torch.nn.Linear(N_IN, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, N_OUT)
    )
    with torch.no_grad():
        for ours, theirs in zip(model.layers[::2], torch_model[::2], strict=True):
            theirs.weight.copy_(torch.from_numpy(ours.weight.data.T))
            theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    torch_loss = torch.nn.CrossEntropyLoss()
    torch_opt = getattr(torch.optim, optimizer)(torch_model.parameters(), lr=LR)
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

    check_same_step(model, loss_fn, opt, torch_model, torch_loss, torch_opt, x, y, xt, yt)
    timed = {"deepfound": deepfound_pass, "PyTorch": torch_pass}
    return {"numpy fused": fused_pass, **timed} if optimizer == "SGD" else timed


def check_same_step(model, loss_fn, opt, torch_model, torch_loss, torch_opt, x, y, xt, yt):
    """Both networks give the same loss and first-layer gradient, then take the same step."""
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
    before = model.layers[0].weight.data.copy()
    opt.lr = torch_opt.param_groups[0]["lr"] = CHECK_LR
    opt.step()
    torch_opt.step()
    opt.lr = torch_opt.param_groups[0]["lr"] = LR
    weight_theirs = torch_model[0].weight.detach().numpy().T
    assert not np.array_equal(model.layers[0].weight.data, before)
    assert np.allclose(model.layers[0].weight.data, weight_theirs, rtol=1e-4, atol=1e-6)


def measure(threads: int) -> None:
    import torch

    from deepfound.bench import describe_blas, format_seconds, ratio_of_rounds, time_rounds

    torch.set_num_threads(threads)
    cases = [
        (f"training step, batch 64, hidden {HIDDEN}, SGD", HIDDEN, 64, True, "SGD"),
        ("training step, batch 64, hidden 50, SGD", 50, 64, True, "SGD"),
        ("training step, batch 64, hidden 50, Adam", 50, 64, True, "Adam"),
        (f"forward+backward, batch 50,000, hidden {HIDDEN}", HIDDEN, 50_000, False, "SGD"),
    ]
    print(f"\n{describe_blas()}; torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    columns = ("numpy fused", "deepfound", "PyTorch")
    print(f"{'case':46} {'numpy fused':>12} {'deepfound':>12} {'PyTorch':>12} {'ratio':>7}")
    ratios = {}
    for label, hidden, batch, step, optimizer in cases:
        small = batch < 1000
        runs = time_rounds(
            variants(hidden, batch, step=step, optimizer=optimizer),
            rounds=ROUNDS if small else 3,
            min_time=0.2 if small else 0.3,
        )
        ratio = ratio_of_rounds(runs["deepfound"], runs["PyTorch"])
        if hidden == 50:
            ratios[optimizer] = ratio
        cells = " ".join(
            f"{format_seconds(statistics.median(t.median for t in runs[name])):>12}"
            if name in runs
            else f"{'-':>12}"
            for name in columns
        )
        print(f"{label:46} {cells} {ratio:7.2f}")
    print()
    for optimizer, target in TARGETS.items():
        verdict = "meets" if ratios[optimizer] <= target else "misses"
        print(
            f"{optimizer} step, 784-50-10, batch 64: deepfound / PyTorch = "
            f"{ratios[optimizer]:.2f} ({verdict} the target of {target})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS and PyTorch threads")
    args = parser.parse_args()
    run_as_benchmark(args.threads)
    print("deepfound / PyTorch: time of deepfound divided by PyTorch's (below 1: deepfound faster)")
    measure(args.threads)


if __name__ == "__main__":
    main()
