"""deepfound.norm: what the oracle (tests/oracle.py) does not check.

``batch_norm`` and ``batch_norm_grad`` against ``torch.nn.functional.batch_norm``, and
``BatchNorm1d`` and ``BatchNorm2d`` against PyTorch's layers and against the plain pair,
in both modes, step after step, running statistics included, are entries of the
oracle's table. Here: float32, memory layouts, defaults, small batches and errors.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepfound.norm import BatchNorm1d, BatchNorm2d, batch_norm, batch_norm_grad
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
