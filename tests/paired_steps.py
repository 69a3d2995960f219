"""A deepfound network's training step beside its PyTorch twin's, checked to agree before timing.

The benchmarks (``tests/bench_*.py``) time two steps only once both networks, given
the same weights and the same batch, compute the same loss and the same gradients.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


def paired_steps(ours, theirs, weights: Iterable, *, atol: float = 1e-4) -> tuple[Callable, ...]:
    """deepfound's and PyTorch's training steps, after one forward and backward pass of each.

    ``ours`` is ``(model, loss_fn, optimizer, x, y)`` in deepfound, ``theirs`` the same
    in PyTorch, and ``weights`` pairs a deepfound parameter with the torch parameter it
    stands for. The losses must agree to 1e-4 (relative) and each pair's gradients
    to ``rtol=1e-3`` and ``atol`` times the largest torch gradient.
    """
    import numpy as np

    model, loss_fn, opt, x, y = ours
    t_model, t_loss, t_opt, xt, yt = theirs
    loss = loss_fn(model(x), y)
    model.backward(loss_fn.backward())
    t_opt.zero_grad()
    t_value = t_loss(t_model(xt), yt)
    t_value.backward()
    assert abs(loss - t_value.item()) < 1e-4 * max(1.0, abs(loss)), (loss, t_value.item())
    weights = list(weights)
    assert weights, "no gradients to compare"
    for ours_p, theirs_p in weights:
        grad = theirs_p.grad.numpy()
        assert np.allclose(ours_p.grad, grad, rtol=1e-3, atol=atol * abs(grad).max())

    def deepfound_step():
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()

    def pytorch_step():
        t_opt.zero_grad()
        t_loss(t_model(xt), yt).backward()
        t_opt.step()

    return deepfound_step, pytorch_step


def benchmark_main(measure: Callable[[], None], profile: Callable[[], None] | None = None) -> None:
    """A benchmark's ``main``: its own process, the ratios, and ``--profile`` if it has one."""
    import sys

    from deepfound.bench import run_as_benchmark

    run_as_benchmark()
    print("deepfound / PyTorch: time of deepfound divided by PyTorch's (below 1: deepfound faster)")
    measure()
    if profile is not None and "--profile" in sys.argv[1:]:
        profile()
