"""deepfound.norm against torch.nn.BatchNorm1d and BatchNorm2d (float64), and finite differences.

``LAYERS`` pairs each deepfound layer with its torch counterpart and a hypothesis
strategy for input shapes; the comparison, finite-difference and error tests all
iterate over it. Training-mode shapes have at least two values per channel.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound.norm import BatchNorm1d, BatchNorm2d, batch_norm, batch_norm_grad
from deepfound.testing import check_grad, test_near


@st.composite
def rows(draw) -> tuple[int, ...]:
    return draw(st.integers(2, 7)), draw(st.integers(1, 5))


@st.composite
def images(draw) -> tuple[int, ...]:
    n, c, h, w = (draw(st.integers(1, k)) for k in (4, 5, 5, 5))
    if n * h * w < 2:
        n = 2
    return n, c, h, w


LAYERS = [
    (BatchNorm1d, torch.nn.BatchNorm1d, rows()),
    (BatchNorm2d, torch.nn.BatchNorm2d, images()),
]
IDS = ["BatchNorm1d", "BatchNorm2d"]


def _pair(ours_cls, torch_cls, c: int, momentum: float, rng: np.random.Generator):
    """The two layers with the same random weight and bias (not ones and zeros)."""
    ours = ours_cls(c, momentum=momentum, dtype=np.float64)
    ours.weight.data = rng.standard_normal(c)
    ours.bias.data = rng.standard_normal(c)
    theirs = torch_cls(c, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.weight.data))
        theirs.bias.copy_(torch.from_numpy(ours.bias.data))
    return ours, theirs


def _compare_step(ours, theirs, x: np.ndarray, grad_out: np.ndarray) -> None:
    """One forward and backward on each side: output, input and parameter gradients agree."""
    x_t = torch.tensor(x, requires_grad=True)
    theirs.zero_grad()
    out_t = theirs(x_t)
    out_t.backward(torch.from_numpy(grad_out))
    pairs = [
        (ours(x), out_t.detach().numpy()),
        (ours.backward(grad_out), x_t.grad.numpy()),
        (ours.weight.grad, theirs.weight.grad.numpy()),
        (ours.bias.grad, theirs.bias.grad.numpy()),
    ]
    for got, expected in pairs:
        test_near(got, expected, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shapes"), LAYERS, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data(), momentum=st.sampled_from([0.0, 0.1, 0.5, 1.0]), steps=st.integers(1, 4))
def test_matches_torch_in_training_then_evaluation_mode(
    ours_cls, torch_cls, shapes, data, momentum: float, steps: int
) -> None:
    shape = data.draw(shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    ours, theirs = _pair(ours_cls, torch_cls, shape[1], momentum, rng)
    for _ in range(steps):
        # Off-centre, scaled data, so that the running averages move.
        x = rng.normal(rng.normal(0, 3), rng.uniform(0.5, 4), shape)
        _compare_step(ours, theirs, x, rng.standard_normal(shape))
        test_near(ours.running_mean, theirs.running_mean.numpy(), rtol=1e-10, atol=1e-12)
        test_near(ours.running_var, theirs.running_var.numpy(), rtol=1e-10, atol=1e-12)
    ours.eval(), theirs.eval()
    # Evaluation mode takes any batch, one row or one pixel too.
    eval_shape = (data.draw(st.integers(1, 3)), *shape[1:])
    before = ours.running_mean.copy(), ours.running_var.copy()
    _compare_step(ours, theirs, rng.normal(1, 2, eval_shape), rng.standard_normal(eval_shape))
    np.testing.assert_array_equal(before[0], ours.running_mean)
    np.testing.assert_array_equal(before[1], ours.running_var)


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shapes"), LAYERS, ids=IDS)
@pytest.mark.parametrize("mode", ["train", "eval"])
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_gradients_match_finite_differences(ours_cls, torch_cls, shapes, mode: str, data) -> None:
    shape = data.draw(shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16)))
    layer, _ = _pair(ours_cls, torch_cls, shape[1], 0.1, rng)
    layer.running_mean = rng.standard_normal(shape[1])
    layer.running_var = rng.uniform(0.5, 2.0, shape[1])
    getattr(layer, mode)()
    x, weights = rng.normal(1, 2, shape), rng.standard_normal(shape)
    layer(x)
    grads = [layer.backward(weights), layer.weight.grad, layer.bias.grad]

    def loss_at(a: np.ndarray) -> float:
        return float((layer(a) * weights).sum())

    check_grad(loss_at, x, grads[0], rtol=1e-6, atol=1e-7)
    for p, grad in zip((layer.weight, layer.bias), grads[1:], strict=True):
        saved = p.data

        def loss_at_param(a: np.ndarray, p=p) -> float:
            p.data = a
            return float((layer(x) * weights).sum())

        check_grad(loss_at_param, saved, grad, rtol=1e-6, atol=1e-7)
        p.data = saved


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


# The plain pair, batch_norm / batch_norm_grad: the definition the layers are tested against.


@pytest.mark.parametrize("shapes", [rows(), images()], ids=["rows", "images"])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), training=st.booleans(), momentum=st.sampled_from([0.0, 0.1, 1.0]))
def test_plain_pair_matches_torch_functional(shapes, data, training, momentum) -> None:
    shape = data.draw(shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    x, grad_out = rng.normal(1.0, 2.0, shape), rng.standard_normal(shape)
    c = shape[1]
    weight, bias = rng.standard_normal(c), rng.standard_normal(c)
    mean, var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    t_mean, t_var = torch.tensor(mean), torch.tensor(var)
    x_t = torch.tensor(x, requires_grad=True)
    w_t, b_t = torch.tensor(weight, requires_grad=True), torch.tensor(bias, requires_grad=True)
    out_t = F.batch_norm(x_t, t_mean, t_var, w_t, b_t, training, momentum, 1e-5)
    out_t.backward(torch.from_numpy(grad_out))

    # The gradient is taken at the statistics the forward pass used: before its update.
    stats = mean.copy(), var.copy()
    grads = batch_norm_grad(x, *stats, weight, grad_out, training)
    out = batch_norm(x, mean, var, weight, bias, training, momentum)
    test_near(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    test_near(mean, t_mean.numpy(), rtol=1e-12, atol=1e-12)
    test_near(var, t_var.numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in zip(grads, (x_t.grad, w_t.grad, b_t.grad), strict=True):
        test_near(ours, theirs.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize(("layer_cls", "shapes"), [(BatchNorm1d, rows()), (BatchNorm2d, images())])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), steps=st.integers(1, 3))
def test_layers_equal_the_plain_pair(layer_cls, shapes, data, steps) -> None:
    """The layers' faster forms compute what the plain pair defines, in both modes."""
    shape = data.draw(shapes)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    c = shape[1]
    layer = layer_cls(c, momentum=0.3, dtype=np.float64)
    layer.weight.data[:], layer.bias.data[:] = rng.standard_normal(c), rng.standard_normal(c)
    mean, var = layer.running_mean.copy(), layer.running_var.copy()
    for mode in ["train"] * steps + ["eval"]:
        training = mode == "train"
        layer.train() if training else layer.eval()
        x, grad_out = rng.normal(1.0, 2.0, shape), rng.standard_normal(shape)
        w, b = layer.weight.data, layer.bias.data
        expected_grads = batch_norm_grad(x, mean, var, w, grad_out, training)
        expected = batch_norm(x, mean, var, w, b, training, momentum=0.3)
        test_near(layer(x), expected, rtol=1e-10, atol=1e-12)
        grad_x = layer.backward(grad_out)
        test_near(grad_x, expected_grads[0], rtol=1e-9, atol=1e-10)
        test_near(layer.weight.grad, expected_grads[1], rtol=1e-9, atol=1e-10)
        test_near(layer.bias.grad, expected_grads[2], rtol=1e-9, atol=1e-10)
        test_near(layer.running_mean, mean, rtol=1e-12, atol=1e-12)
        test_near(layer.running_var, var, rtol=1e-12, atol=1e-12)


def test_plain_pair_rejects_what_it_cannot_normalize() -> None:
    one = np.ones(3)
    with pytest.raises(ValueError, match=r"batch_norm: input of shape \(n, c\) or"):
        batch_norm(np.ones((2, 3, 4)), one, one, one, one)
    with pytest.raises(ValueError, match="one value per channel"):
        batch_norm(np.ones((1, 3)), one, one, one, one, training=True)
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3\)"):
        batch_norm_grad(np.ones((2, 3)), one, one, one, np.ones((3, 2)))
