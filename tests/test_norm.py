"""deepfound.norm: what the oracle (tests/oracle.py) does not check.

``batch_norm`` and ``batch_norm_grad`` against ``torch.nn.functional.batch_norm``, and
``BatchNorm1d`` and ``BatchNorm2d`` against PyTorch's layers and against the plain pair,
in both modes, step after step, running statistics included, are entries of the
oracle's table, and so are layer and group normalization. Here: float32, memory
layouts, defaults, small batches and errors; instance normalization as
``GroupNorm(c, c)``, and a batch of one image.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from oracle import assert_close

from deepfound.norm import (
    BatchNorm1d,
    BatchNorm2d,
    GroupNorm,
    LayerNorm,
    batch_norm,
    batch_norm_grad,
    group_norm,
    group_norm_grad,
    layer_norm,
    layer_norm_grad,
    normalize_grad,
)
from deepfound.testing import test_near


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_backward_twice_gives_the_same_gradients(mode: str) -> None:
    rng = np.random.default_rng(0)
    layer = getattr(BatchNorm2d(3), mode)()
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    grad_out = rng.standard_normal(x.shape).astype(np.float32)
    layer(x)
    first = [layer.backward(grad_out), layer.weight.grad.copy(), layer.bias.grad.copy()]
    second = [layer.backward(grad_out), layer.weight.grad, layer.bias.grad]
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)


def test_any_memory_layout_gives_the_same_answer_and_channels_last_out() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 5, 7, 3))
    grad_out = rng.standard_normal(x.shape)
    layouts = {
        "NCHW": lambda a: np.ascontiguousarray(a),
        "channels last": lambda a: np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(
            0, 3, 1, 2
        ),
        "strided": lambda a: np.repeat(a, 2, axis=3)[..., ::2],
    }
    results = []
    for to_layout in layouts.values():
        layer = BatchNorm2d(5, dtype=np.float64)
        out = layer(to_layout(x))
        results.append((out, layer.backward(to_layout(grad_out)), layer.running_var))
        # Channels last in memory, as a convolution wants its input.
        assert out.transpose(0, 2, 3, 1).flags.c_contiguous
    for result in results[1:]:
        for a, b in zip(results[0], result, strict=True):
            test_near(a, b, rtol=1e-12, atol=1e-14)


def test_defaults_are_pytorch_s() -> None:
    layer = BatchNorm2d(4)
    assert layer.training and layer.eps == 1e-5 and layer.momentum == 0.1
    np.testing.assert_array_equal(layer.weight.data, np.ones(4, np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(4, np.float32))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(4, np.float32))
    np.testing.assert_array_equal(layer.running_var, np.ones(4, np.float32))
    assert [p for p in layer.parameters()] == [layer.weight, layer.bias]
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(np.float32)
    assert layer(x).dtype == np.float32 and layer.backward(x).dtype == np.float32
    assert layer.running_mean.dtype == np.float32
    assert repr(layer) == "BatchNorm2d(4)"
    assert repr(BatchNorm1d(3, eps=1e-3, momentum=0.5)) == "BatchNorm1d(3, eps=0.001, momentum=0.5)"


@pytest.mark.parametrize(
    ("layer", "shape"),
    [(BatchNorm1d(3), (1, 3)), (BatchNorm2d(3), (1, 3, 1, 1))],
    ids=["one row", "one pixel of one image"],
)
def test_one_value_per_channel_in_training_mode_raises(layer, shape) -> None:
    x = np.ones(shape, np.float32)
    with pytest.raises(ValueError, match=r"one value per channel .*has no variance.*\.eval\(\)"):
        layer(x)
    np.testing.assert_array_equal(layer.running_var, np.ones(3, np.float32))  # untouched
    assert layer.eval()(x).shape == shape


def test_two_values_per_channel_from_one_image_are_enough() -> None:
    layer = BatchNorm2d(2)
    out = layer(np.arange(4.0, dtype=np.float32).reshape(1, 2, 2, 1))
    test_near(out.ravel(), np.array([-1.0, 1.0, -1.0, 1.0]), rtol=1e-4)


def test_bad_shapes_and_arguments_raise_value_error_naming_them() -> None:
    with pytest.raises(ValueError, match=r"BatchNorm1d: input of shape \(n, 3\) .*\(4, 2\)"):
        BatchNorm1d(3)(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"BatchNorm1d: input .*got \(4, 3, 2\)"):
        BatchNorm1d(3)(np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: input of shape \(n, 3, h, w\).*\(4, 3\)"):
        BatchNorm2d(3)(np.ones((4, 3)))
    layer = BatchNorm2d(3)
    layer(np.ones((2, 3, 2, 2)))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3, 2, 2\).*got \(2, 3, 2, 1\)"):
        layer.backward(np.ones((2, 3, 2, 1)))
    with pytest.raises(RuntimeError, match="before forward"):
        BatchNorm1d(2).backward(np.ones((2, 2)))
    for kwargs, match in [
        ({"n_features": 0}, "n_features must be at least 1, got 0"),
        ({"n_features": 2.0}, "n_features must be an integer, got 2.0"),
        ({"n_features": 2, "momentum": 1.5}, r"momentum must lie in \[0, 1\], got 1.5"),
        ({"n_features": 2, "eps": -1.0}, "eps must be at least 0, got -1.0"),
    ]:
        with pytest.raises(ValueError, match=f"BatchNorm2d: {match}"):
            BatchNorm2d(**kwargs)


def test_plain_pair_rejects_what_it_cannot_normalize() -> None:
    one = np.ones(3)
    with pytest.raises(ValueError, match=r"batch_norm: input of shape \(n, c\) or"):
        batch_norm(np.ones((2, 3, 4)), one, one, one, one)
    with pytest.raises(ValueError, match="one value per channel"):
        batch_norm(np.ones((1, 3)), one, one, one, one, training=True)
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3\)"):
        batch_norm_grad(np.ones((2, 3)), one, one, one, np.ones((3, 2)))


def test_group_norm_with_a_group_per_channel_is_torch_s_instance_norm() -> None:
    rng = np.random.default_rng(2)
    x = rng.normal(2.0, 3.0, (3, 4, 5, 6))
    grad_out = rng.standard_normal(x.shape)
    ours = GroupNorm(4, 4, dtype=np.float64)
    ours.weight.data[...], ours.bias.data[...] = rng.uniform(0.5, 1.5, 4), rng.normal(0, 1, 4)
    theirs = torch.nn.InstanceNorm2d(4, affine=True, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x_t = torch.tensor(x, requires_grad=True)
    out_t = theirs(x_t)
    out_t.backward(torch.tensor(grad_out))
    assert_close(ours(x), out_t, "output")
    assert_close(ours.backward(grad_out), x_t.grad, "gradient of the input")
    assert_close(ours.weight.grad, theirs.weight.grad, "gradient of the weight")
    assert_close(ours.bias.grad, theirs.bias.grad, "gradient of the bias")


@pytest.mark.parametrize(
    ("layer", "shape"),
    [
        (LayerNorm(3), (3,)),
        (GroupNorm(1, 3), (3,)),
        (LayerNorm((3, 4, 4)), (3, 4, 4)),
        (GroupNorm(3, 3), (3, 4, 4)),
    ],
    ids=repr,
)
def test_layer_and_group_norm_normalize_a_batch_of_one(layer, shape) -> None:
    x = np.random.default_rng(3).normal(5.0, 2.0, (4, *shape)).astype(np.float32)
    # Batch normalization in training mode has one value per channel from one row: it
    # refuses it; for one image it would normalize with that image's statistics alone.
    with pytest.raises(ValueError, match="one value per channel"):
        BatchNorm1d(3)(x[:1].reshape(1, 3, -1)[:, :, 0])
    out = layer(x[:1])
    assert out.dtype == np.float32 and out.shape == (1, *shape)
    np.testing.assert_array_equal(out, layer(x)[:1])  # each example on its own
    groups = out.reshape(getattr(layer, "num_groups", 1), -1)
    test_near(groups.mean(1), np.zeros(len(groups)), atol=1e-5)
    test_near(groups.std(1), np.ones(len(groups)), atol=1e-3)
    assert layer.backward(np.ones_like(x)).shape == x.shape


def test_layer_norm_takes_an_int_or_a_tuple_and_starts_at_ones_and_zeros() -> None:
    layer = LayerNorm(5)
    assert layer.normalized_shape == (5,) and repr(layer) == "LayerNorm((5,))"
    np.testing.assert_array_equal(layer.weight.data, np.ones(5, np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(5, np.float32))
    assert LayerNorm([2, 3], eps=0.1).weight.data.shape == (2, 3)
    assert repr(GroupNorm(2, 6, eps=0.1)) == "GroupNorm(2, 6, eps=0.1)"
    assert GroupNorm(2, 6).weight.data.shape == GroupNorm(2, 6).bias.data.shape == (6,)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: GroupNorm(4, 6), "GroupNorm: num_groups 4 does not divide num_channels 6"),
        (lambda: GroupNorm(0, 6), "GroupNorm: num_groups must be an integer of at least 1"),
        (lambda: GroupNorm(2, 2.0), "GroupNorm: num_channels must be an integer .* got 2.0"),
        (lambda: GroupNorm(2, 4, eps=-1.0), "GroupNorm: eps must be a number of at least 0"),
        (lambda: LayerNorm(0), "LayerNorm: normalized_shape must be an integer .* got 0"),
        (lambda: LayerNorm(()), r"LayerNorm: normalized_shape must hold at least one size"),
        (lambda: LayerNorm(3, eps="0"), "LayerNorm: eps must be a number of at least 0"),
        (lambda: LayerNorm(3)(np.ones((2, 4))), r"layer_norm: .*\(3,\) expected, got \(2, 4\)"),
        (lambda: GroupNorm(2, 4)(np.ones((2, 6, 3))), r"GroupNorm: .*\(n, 4, ...\).*\(2, 6, 3\)"),
        (lambda: group_norm(np.ones((2, 6)), 4, np.ones(6), np.ones(6)), "divisible by num_gr"),
        (lambda: layer_norm(np.ones((2, 3)), (3,), np.ones(2), np.ones(3)),
         r"layer_norm: weight of shape \(3,\) expected, got \(2,\)"),
        (lambda: group_norm_grad(np.ones((2, 4)), 2, np.ones(4), np.ones((4, 2))),
         r"group_norm_grad: grad_out of shape \(2, 4\) .* got \(4, 2\)"),
        (lambda: layer_norm_grad(np.ones((2, 3)), (3,), np.ones(3), np.ones(3)),
         r"layer_norm_grad: grad_out of shape \(2, 3\)"),
        (lambda: normalize_grad(np.ones((2, 3)), np.ones(3), (1,)), "normalize_grad: grad_out"),
    ],
)  # fmt: skip
def test_layer_and_group_norm_reject_bad_arguments_naming_them(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
