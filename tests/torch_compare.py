"""One forward and backward pass of a deepfound module beside the torch module it must equal."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from deepfound.testing import test_near


def torch_param_grads(theirs: torch.nn.Module) -> list[np.ndarray]:
    """The gradients of ``theirs``'s parameters, in order, as numpy arrays."""
    return [p.grad.numpy() for p in theirs.parameters()]


def check_against_torch(
    ours,
    theirs: torch.nn.Module,
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    rtol: float,
    atol: float,
    torch_grads: Callable[[torch.nn.Module], list[np.ndarray]] = torch_param_grads,
) -> None:
    """Output, input gradient and every parameter gradient of ``ours`` equal ``theirs``'s.

    The output gradient is drawn from ``rng`` in the output's shape. ``torch_grads``
    gives torch's parameter gradients in deepfound's order and layout.
    """
    x_t = torch.tensor(x, requires_grad=True)
    theirs.zero_grad()
    out_t = theirs(x_t)
    test_near(ours(x), out_t.detach().numpy(), rtol=rtol, atol=atol)
    grad_out = rng.standard_normal(tuple(out_t.shape))
    out_t.backward(torch.from_numpy(grad_out))
    test_near(ours.backward(grad_out), x_t.grad.numpy(), rtol=rtol, atol=atol)
    grads, expected = [p.grad for p in ours.parameters()], torch_grads(theirs)
    assert len(grads) == len(expected)
    for grad, grad_t in zip(grads, expected, strict=True):
        test_near(grad, grad_t, rtol=rtol, atol=atol)
