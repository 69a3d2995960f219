"""deepfound.resnet: what the oracle (tests/oracle.py) does not check.

The block (both shortcut kinds) and the network built by ``resnet`` (residual or plain,
either stem stride) against the same modules in PyTorch, in both modes, and against
finite differences are entries of the oracle's table; their PyTorch twins,
``TorchResBlock`` and ``torch_resnet``, live there, and so does the block with
ResNet-D's pooled shortcut. Here: float32, the identity shortcut's gradient, the
builder's layout, ``zero_init``, the pooled shortcut's layout, and errors.
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


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_zero_init_block_starts_as_the_identity_on_what_a_relu_outputs(mode: str) -> None:
    rng = np.random.default_rng(4)
    block = getattr(ResBlock(3, 3, rng=0, zero_init=True), mode)()
    np.testing.assert_array_equal(block.bn2.weight.data, np.zeros(3, np.float32))
    x = np.maximum(rng.standard_normal((4, 3, 6, 6)), 0).astype(np.float32)
    np.testing.assert_array_equal(block(x), x)
    # The main path's parameters still get a gradient: bn2's scale, through x_hat.
    block.backward(rng.standard_normal(x.shape).astype(np.float32))
    assert np.abs(block.bn2.weight.grad).max() > 0
    assert repr(block) == "ResBlock(3, 3, zero_init=True)"


def test_default_block_is_unchanged_by_the_new_options() -> None:
    x = np.random.default_rng(5).standard_normal((2, 3, 6, 6)).astype(np.float32)
    plain = ResBlock(3, 5, stride=2, rng=7)
    explicit = ResBlock(3, 5, stride=2, rng=7, zero_init=False, pool_shortcut=False)
    for p, q in zip(plain.parameters(), explicit.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    np.testing.assert_array_equal(plain(x), explicit(x))
    assert (
        repr(plain.shortcut) == "Sequential(Conv2d(3, 5, 1, stride=2, bias=False), BatchNorm2d(5))"
    )


@pytest.mark.parametrize(
    ("stride", "layers"),
    [
        (2, "AvgPool2d(2, ceil_mode=True), Conv2d(3, 5, 1, bias=False), BatchNorm2d(5)"),
        (1, "Conv2d(3, 5, 1, bias=False), BatchNorm2d(5)"),
    ],
)
def test_pool_shortcut_averages_before_a_unit_stride_convolution(stride, layers) -> None:
    block = ResBlock(3, 5, stride=stride, rng=0, pool_shortcut=True)
    assert repr(block.shortcut) == f"Sequential({layers})"
    # The same weights as the strided shortcut: only the shortcut's sampling differs.
    strided = ResBlock(3, 5, stride=stride, rng=0)
    for p, q in zip(block.parameters(), strided.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert ResBlock(4, 4, rng=0, pool_shortcut=True).shortcut is None
    # An odd image: the pooled shortcut's last window is partial, and sizes still match.
    x = np.random.default_rng(6).standard_normal((2, 3, 7, 7)).astype(np.float32)
    out = block(x)
    assert out.shape == (2, 5, 4 if stride == 2 else 7, 4 if stride == 2 else 7)
    assert block.backward(np.ones_like(out)).shape == x.shape


def test_builder_passes_zero_init_and_pool_shortcut_to_every_block() -> None:
    model = resnet((4, 8), blocks=2, rng=0, zero_init=True, pool_shortcut=True)
    blocks = [layer for layer in model.layers if isinstance(layer, ResBlock)]
    assert len(blocks) == 4
    assert all(b.zero_init and b.pool_shortcut for b in blocks)
    assert all(not b.bn2.weight.data.any() for b in blocks)
    assert repr(blocks[2].shortcut).startswith("Sequential(AvgPool2d(2, ceil_mode=True)")
    default = resnet((4, 8), blocks=2, rng=0)
    assert [repr(b) for b in default.layers[3:-2]][2] == "ResBlock(4, 8, stride=2)"
    assert model(np.zeros((2, 1, 9, 9), np.float32)).shape == (2, 10)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: ResBlock(2, 2, zero_init=1), "ResBlock: zero_init must be True or False, got 1"),
        (lambda: ResBlock(2, 2, pool_shortcut="no"), "ResBlock: pool_shortcut must be True or"),
        (lambda: resnet(residual=False, zero_init=True), "resnet: zero_init and pool_shortcut"),
        (lambda: resnet(residual=False, pool_shortcut=True), "plain network .* has none"),
    ],
)
def test_block_options_reject_what_is_not_a_bool(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
