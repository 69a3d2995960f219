"""deepfound.resnet against the same block and network written in PyTorch, in float64.

``TorchResBlock`` and ``torch_resnet`` are the PyTorch equivalents, with the same
attribute names; :func:`copy_weights` copies every weight and running statistic of ours
into theirs by those names. The block is compared in training and evaluation mode,
for both shortcut kinds, on shapes drawn by hypothesis: outputs, the input's
gradient, every parameter's gradient and the running statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound.conv import Conv2d
from deepfound.nn import Linear, Parameter, ReLU, Sequential
from deepfound.norm import BatchNorm2d
from deepfound.resnet import ResBlock, conv_bn, resnet
from deepfound.testing import check_grad, test_near


class TorchResBlock(torch.nn.Module):
    """The basic block of ResNet in PyTorch, attribute for attribute as ``ResBlock``."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1, dtype=torch.float64) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(c_out, dtype=dtype)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False, dtype=dtype)
        self.bn2 = nn.BatchNorm2d(c_out, dtype=dtype)
        self.shortcut = None
        if c_in != c_out or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False, dtype=dtype),
                nn.BatchNorm2d(c_out, dtype=dtype),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class TorchGlobalAvgPool(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


def torch_resnet(
    widths, blocks: int, *, stem_stride: int = 1, residual: bool = True, dtype=torch.float64
) -> torch.nn.Sequential:
    """``resnet(widths, blocks, stem_stride=..., residual=...)`` in PyTorch, layer for layer."""
    nn = torch.nn

    def conv_bn_relu(c_in, c_out, stride=1):
        conv = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False, dtype=dtype)
        return [conv, nn.BatchNorm2d(c_out, dtype=dtype), nn.ReLU()]

    layers, width = conv_bn_relu(1, widths[0], stem_stride), widths[0]
    for i, c_out in enumerate(widths):
        for b in range(blocks):
            stride = 2 if i > 0 and b == 0 else 1
            if residual:
                layers.append(TorchResBlock(width, c_out, stride, dtype))
            else:
                layers += conv_bn_relu(width, c_out, stride) + conv_bn_relu(c_out, c_out)
            width = c_out
    return nn.Sequential(*layers, TorchGlobalAvgPool(), nn.Linear(width, 10, dtype=dtype))


def _ours(module, name: str):
    """What torch calls ``name`` in ``module``: ``conv1.weight`` or ``shortcut.1.running_var``."""
    for part in name.split("."):
        module = module.layers[int(part)] if part.isdigit() else getattr(module, part)
    return module


def copy_weights(ours, theirs: torch.nn.Module, rng: np.random.Generator) -> None:
    """Random batch-norm weights and biases in ours (not ones and zeros), then all into theirs."""
    for module in ours.modules():
        if isinstance(module, BatchNorm2d):
            weight, bias = module.weight.data, module.bias.data
            weight[...] = rng.uniform(0.5, 1.5, weight.shape)
            bias[...] = rng.normal(0, 0.5, bias.shape)
    with torch.no_grad():
        for name, tensor in [*theirs.named_parameters(), *theirs.named_buffers()]:
            if name.endswith("num_batches_tracked"):
                continue
            value = _ours(ours, name)
            value = value.data if isinstance(value, Parameter) else value
            # A Linear weight is (n_in, n_out) here and (n_out, n_in) in torch.
            tensor.copy_(torch.from_numpy(value.T if tensor.ndim == 2 else value))


def _step(ours, theirs, x: np.ndarray, grad_out: np.ndarray) -> None:
    """One forward and backward each: output, every gradient and every buffer agree."""
    x_t = torch.tensor(x, requires_grad=True)
    theirs.zero_grad()
    out_t = theirs(x_t)
    out_t.backward(torch.from_numpy(grad_out))
    test_near(ours(x), out_t.detach().numpy(), rtol=1e-9, atol=1e-10)
    test_near(ours.backward(grad_out), x_t.grad.numpy(), rtol=1e-9, atol=1e-10)
    for name, param in theirs.named_parameters():
        grad = _ours(ours, name).grad
        test_near(grad.T if param.ndim == 2 else grad, param.grad.numpy(), rtol=1e-8, atol=1e-10)
    for name, buffer in theirs.named_buffers():
        if not name.endswith("num_batches_tracked"):
            test_near(_ours(ours, name), buffer.numpy(), rtol=1e-10, atol=1e-12)


@st.composite
def blocks(draw, *, projection: bool) -> dict:
    """Shapes of a block and its input; ``projection`` picks the shortcut kind."""
    c_in = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3)) if projection else 1
    c_out = draw(st.integers(1, 4)) if projection else c_in
    if projection and stride == 1 and c_out == c_in:
        c_out += 1
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(2, 7)), draw(st.integers(2, 7))
    # Batch normalization in training mode needs two values per channel at the output.
    if n * ((h - 1) // stride + 1) * ((w - 1) // stride + 1) < 2:
        n = 2
    return dict(
        n=n, c_in=c_in, c_out=c_out, stride=stride, h=h, w=w, seed=draw(st.integers(0, 2**16))
    )


@pytest.mark.parametrize("projection", [False, True], ids=["identity", "projection"])
@settings(max_examples=20, deadline=None)
@given(data=st.data(), steps=st.integers(1, 3))
def test_block_matches_torch_in_training_then_evaluation_mode(projection, data, steps) -> None:
    case = data.draw(blocks(projection=projection))
    rng = np.random.default_rng(case["seed"])
    ours = ResBlock(case["c_in"], case["c_out"], stride=case["stride"], rng=rng, dtype=np.float64)
    theirs = TorchResBlock(case["c_in"], case["c_out"], case["stride"])
    assert (ours.shortcut is None) == (not projection)
    copy_weights(ours, theirs, rng)
    n, s = case["n"], case["stride"]
    shape = (n, case["c_in"], case["h"], case["w"])
    out_shape = (n, case["c_out"], (case["h"] - 1) // s + 1, (case["w"] - 1) // s + 1)
    for _ in range(steps):
        _step(ours, theirs, rng.normal(0.5, 2, shape), rng.standard_normal(out_shape))
    ours.eval(), theirs.eval()
    assert all(not m.training for m in ours.modules())
    _step(ours, theirs, rng.normal(0.5, 2, shape), rng.standard_normal(out_shape))
    ours.train()
    assert all(m.training for m in ours.modules())


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_block_gradient_matches_finite_differences(stride: int, mode: str) -> None:
    rng = np.random.default_rng(stride)
    block = getattr(ResBlock(2, 2, stride=stride, rng=rng, dtype=np.float64), mode)()
    x = rng.standard_normal((2, 2, 5, 5))
    weights = rng.standard_normal(block(x).shape)
    grad = block.backward(weights)
    check_grad(lambda a: float((block(a) * weights).sum()), x, grad, rtol=1e-6, atol=1e-7)


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


@pytest.mark.parametrize("residual", [True, False], ids=["residual", "plain"])
@pytest.mark.parametrize("stem_stride", [1, 2])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_network_matches_torch(residual: bool, stem_stride: int, mode: str) -> None:
    rng = np.random.default_rng(0)
    kwargs = dict(blocks=2, stem_stride=stem_stride, residual=residual)
    ours = resnet((3, 4, 5), **kwargs, rng=rng, dtype=np.float64)
    theirs = torch_resnet((3, 4, 5), **kwargs)
    copy_weights(ours, theirs, rng)
    ours.layers[0].input_grad = True  # to compare the input's gradient as well
    getattr(ours, mode)(), getattr(theirs, mode)()
    x = rng.normal(0.3, 1, (4, 1, 9, 9))
    _step(ours, theirs, x, rng.standard_normal((4, 10)))


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
