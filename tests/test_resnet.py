"""deepfound.resnet: what the oracle (tests/oracle.py) does not check.

The block (both shortcut kinds) and the network built by ``resnet`` (residual or plain,
either stem stride) against the same modules in PyTorch, in both modes, and against
finite differences are entries of the oracle's table; their PyTorch twins,
``TorchResBlock`` and ``torch_resnet``, live there. Here: float32, the identity
shortcut's gradient, the builder's layout, and errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from oracle import TorchResBlock

from deepfound.conv import Conv2d
from deepfound.nn import Linear, ReLU, Sequential
from deepfound.resnet import ResBlock, conv_bn, resnet
from deepfound.testing import test_near


def test_backward_overwrites_and_parameters_are_every_layer_s() -> None:
    rng = np.random.default_rng(0)
    block = ResBlock(3, 5, stride=2, rng=rng)
    x = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
    grad_out = rng.standard_normal(block(x).shape).astype(np.float32)
    first = [block.backward(grad_out), *(p.grad.copy() for p in block.parameters())]
    second = [block.backward(grad_out), *(p.grad for p in block.parameters())]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    theirs = TorchResBlock(3, 5, 2)
    assert [p.data.shape for p in block.parameters()] == [
        tuple(p.shape) for p in theirs.parameters()
    ]


def test_identity_shortcut_passes_the_gradient_unchanged() -> None:
    # With the main path's last scale at zero, the block is relu(x): a gradient on a positive
    # input goes through untouched, however small the main path's gradient is.
    block = ResBlock(2, 2, rng=0, dtype=np.float64)
    block.bn2.weight.data[:] = 0
    block.bn2.bias.data[:] = 0
    x = np.abs(np.random.default_rng(0).standard_normal((3, 2, 4, 4))) + 0.1
    test_near(block(x), x)
    grad_out = np.random.default_rng(1).standard_normal(x.shape)
    test_near(block.backward(grad_out), grad_out)


@pytest.mark.parametrize(
    ("make", "x_shape", "message"),
    [
        (
            lambda: ResBlock(3, 4),
            (2, 4, 8, 8),
            r"input of shape \(n, 3, h, w\) expected .* got \(2, 4, 8, 8\)",
        ),
        (
            lambda: ResBlock(3, 3),
            (3, 8, 8),
            r"input of shape \(n, c, h, w\) expected, got \(3, 8, 8\)",
        ),
        (lambda: ResBlock(3, 4, stride=0), None, "stride must be an integer of at least 1, got 0"),
        (
            lambda: ResBlock(3, 4, stride=1.5),
            None,
            "stride must be an integer of at least 1, got 1.5",
        ),
        (lambda: ResBlock(0, 4), None, "c_in must be an integer of at least 1, got 0"),
        (lambda: ResBlock(3, True), None, "c_out must be an integer of at least 1, got True"),
    ],
)
def test_block_rejects_what_cannot_match(make, x_shape, message) -> None:
    with pytest.raises(ValueError, match="ResBlock: " + message):
        make()(np.zeros(x_shape, np.float32))


def test_block_needs_two_values_per_channel_in_training_mode_only() -> None:
    block = ResBlock(1, 1, stride=2, rng=0)
    with pytest.raises(ValueError, match="BatchNorm2d: one value per channel"):
        block(np.ones((1, 1, 2, 2), np.float32))
    assert block.eval()(np.ones((1, 1, 2, 2), np.float32)).shape == (1, 1, 1, 1)


def test_block_rejects_a_gradient_of_the_wrong_shape() -> None:
    block = ResBlock(2, 4, stride=2, rng=0)
    block(np.zeros((2, 2, 8, 8), np.float32))
    with pytest.raises(
        ValueError, match=r"ResBlock: grad_out of shape \(2, 4, 4, 4\) .* \(2, 4, 8, 8\)"
    ):
        block.backward(np.zeros((2, 4, 8, 8), np.float32))


def test_builder_layout() -> None:
    model = resnet((4, 8, 16), blocks=2, rng=0)
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds[:3] == ["Conv2d", "BatchNorm2d", "ReLU"] and kinds[-2:] == [
        "GlobalAvgPool",
        "Linear",
    ]
    assert [repr(b) for b in model.layers[3:-2]] == [
        "ResBlock(4, 4)", "ResBlock(4, 4)", "ResBlock(4, 8, stride=2)",
        "ResBlock(8, 8)", "ResBlock(8, 16, stride=2)", "ResBlock(16, 16)",
    ]  # fmt: skip
    plain = resnet((4, 8, 16), blocks=2, residual=False, rng=0)
    convs = [m for m in plain.modules() if isinstance(m, Conv2d)]
    main_convs = [
        m for m in model.modules() if isinstance(m, Conv2d) and m.weight.data.shape[2] == 3
    ]
    assert [c.weight.data.shape for c in convs] == [c.weight.data.shape for c in main_convs]
    assert isinstance(plain.layers[-1], Linear) and isinstance(plain.layers[2], ReLU)
    assert model(np.zeros((2, 1, 28, 28), np.float32)).shape == (2, 10)
    assert conv_bn(2, 3)[0].stride == 1 and isinstance(Sequential(*conv_bn(2, 3)), Sequential)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(widths=()), r"resnet: at least one width needed, got \(\)"),
        (dict(blocks=0), "resnet: blocks must be an integer of at least 1, got 0"),
    ],
)
def test_builder_rejects_bad_arguments(kwargs, message) -> None:
    with pytest.raises(ValueError, match=message):
        resnet(**kwargs)
