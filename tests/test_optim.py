"""deepfound.optim against torch.optim: the same updates from the same weights and gradients."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from deepfound.nn import Linear, Parameter
from deepfound.optim import SGD, linear_decay
from deepfound.testing import test_near

TOL = {"rtol": 1e-12, "atol": 1e-14}


@settings(max_examples=30, deadline=None)
@given(
    shapes=st.lists(array_shapes(min_dims=1, max_dims=3, max_side=5), min_size=1, max_size=4),
    lr=st.floats(1e-4, 10.0),
    seed=st.integers(0, 2**32 - 1),
)
def test_sgd_steps_match_torch(shapes, lr, seed):
    rng = np.random.default_rng(seed)
    ours = [Parameter(rng.standard_normal(shape)) for shape in shapes]
    theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
    opt, torch_opt = SGD(ours, lr=lr), torch.optim.SGD(theirs, lr=lr)
    for _ in range(3):
        for p, t in zip(ours, theirs, strict=True):
            p.grad = rng.standard_normal(p.data.shape)
            t.grad = torch.from_numpy(p.grad.copy())
        opt.step()
        torch_opt.step()
        for p, t in zip(ours, theirs, strict=True):
            test_near(p.data, t.detach().numpy(), **TOL)


def test_sgd_keeps_the_gradient_and_the_dtype():
    layer = Linear(3, 2, rng=0)
    layer.weight.grad = np.ones((3, 2), np.float32)
    before = layer.weight.data.copy()
    SGD(layer.parameters(), lr=0.5).step()
    test_near(layer.weight.data, before - 0.5)
    test_near(layer.weight.grad, np.ones((3, 2)))
    assert layer.weight.data.dtype == np.float32


def test_sgd_uses_the_learning_rate_set_between_steps():
    p = Parameter(np.zeros(2))
    p.grad = np.ones(2)
    opt = SGD([p], lr=1.0)
    opt.step()
    opt.lr = 0.25
    opt.step()
    test_near(p.data, np.full(2, -1.25))


@pytest.mark.parametrize("total_steps", [1, 3, 10, 97])
def test_linear_decay_matches_torch_linear_lr(total_steps):
    p = torch.zeros(1, requires_grad=True)
    torch_opt = torch.optim.SGD([p], lr=0.3)
    scheduler = torch.optim.lr_scheduler.LinearLR(
        torch_opt, start_factor=1.0, end_factor=0.0, total_iters=total_steps
    )
    schedule = linear_decay(0.3, total_steps)
    for step in range(total_steps):
        test_near(schedule(step), torch_opt.param_groups[0]["lr"], rtol=1e-12, atol=1e-15)
        torch_opt.step()
        scheduler.step()


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="no parameters"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="positive, got 0"):
        SGD([Parameter(np.zeros(1))], lr=0)
    with pytest.raises(TypeError, match="Parameter objects, got ndarray"):
        SGD([np.zeros(1)], lr=0.1)
    with pytest.raises(ValueError, match="total_steps must be at least 1, got 0"):
        linear_decay(0.1, 0)
    with pytest.raises(ValueError, match=r"step must lie in \[0, 4\), got 4"):
        linear_decay(0.1, 4)(4)
