"""deepfound.autograd against torch.autograd in float64, and against the package's own gradients.

``OPS`` pairs each operation of a :class:`~deepfound.tensor.Tensor` with the torch
expression it must equal; one test runs every entry, value and gradient, on shapes,
axes and indices drawn by hypothesis (broadcasting both ways, numbers and arrays on
either side, repeated indices). ``MODULES`` holds every layer of the package that has a
backward pass, ``LOSSES`` its losses and ``PAIRS`` the gradient function of every pair:
each is checked against the same computation written with autograd, the convolution,
the pooling and batch normalization composed of elementary operations, so that the
hand-derived gradients are checked by a machine that knows only the chain rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound import autograd
from deepfound.autograd import Tensor, topological_order, unbroadcast
from deepfound.conv import (
    AvgPool2d,
    Conv2d,
    GlobalAvgPool,
    MaxPool2d,
    avg_pool2d_grad,
    conv2d_grad,
    global_avg_pool_grad,
    max_pool2d_grad,
)
from deepfound.functional import flatten_grad, lin_grad, mse_grad, relu_grad
from deepfound.losses import CrossEntropy, cross_entropy_grad, log_softmax_grad, nll_grad
from deepfound.nn import MSE, Flatten, Linear, ReLU, Sequential
from deepfound.norm import BatchNorm1d, BatchNorm2d, batch_norm_grad
from deepfound.recipes import CNN
from deepfound.resnet import ResBlock, resnet

# Float64 on both sides: 1e-12 relative leaves room only for rounding.
RTOL = 1e-12


def assert_close(ours: np.ndarray, expected: np.ndarray, rtol: float = RTOL) -> None:
    """Same shape, and ``max |ours - expected| <= rtol * max(max |expected|, 0.001)``."""
    ours, expected = np.asarray(ours), np.asarray(expected)
    assert ours.shape == expected.shape, (ours.shape, expected.shape)
    # A floor on the scale: an all-zero gradient (one class, say) allows rounding of 1e-15.
    scale = max(float(np.abs(expected).max(initial=0.0)), 1e-3)
    error = float(np.abs(ours - expected).max(initial=0.0)) / scale
    assert error <= rtol, f"relative difference {error:.3g} > {rtol}"


# ---------------------------------------------------------------------------------------------
# Every operation against torch.


@dataclass(frozen=True)
class Op:
    """An operation, the torch expression it must equal, and how to draw its inputs.

    ``draw(draw_fn, rng)`` returns the inputs (arrays; each becomes a tensor that requires a
    gradient) and the options, keyword arguments of ``ours`` and ``theirs`` alike.
    """

    name: str
    draw: Callable
    ours: Callable
    theirs: Callable


def _shape(draw, min_dims=0, max_dims=3, low=1):
    return tuple(draw(st.lists(st.integers(low, 4), min_size=min_dims, max_size=max_dims)))


@st.composite
def broadcast_pair(draw) -> tuple[tuple, tuple]:
    """Two shapes that broadcast: each drops leading axes of a common one or shrinks some to 1."""
    base = _shape(draw)
    shapes = []
    for _ in range(2):
        kept = base[draw(st.integers(0, len(base))) :]
        shapes.append(tuple(1 if draw(st.booleans()) else n for n in kept))
    return shapes[0], shapes[1]


def _binary(draw, rng):
    a, b = draw(broadcast_pair())
    return [rng.standard_normal(a), rng.standard_normal(b)], {}


def _away_from_zero(rng, shape):
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def _dividing(draw, rng):
    a, b = draw(broadcast_pair())
    return [rng.standard_normal(a), _away_from_zero(rng, b)], {}


def _unary(draw, rng):
    return [rng.standard_normal(_shape(draw))], {}


def _positive(draw, rng):
    return [rng.uniform(0.5, 2.0, _shape(draw))], {}


def _with_array(draw, rng):
    a, b = draw(broadcast_pair())
    return [rng.standard_normal(a)], {"other": rng.standard_normal(b)}


def _axis(draw, ndim: int):
    """None, an axis (maybe negative) or a tuple of distinct axes."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.sets(st.integers(0, ndim - 1), min_size=1)))


def _reduction(draw, rng):
    shape = _shape(draw)
    options = {"axis": _axis(draw, len(shape)), "keepdims": draw(st.booleans())}
    return [rng.standard_normal(shape)], options


def _dims(axis, ndim):
    return tuple(range(ndim)) if axis is None else axis


def _torch_sum(t, axis, keepdims):
    return t.sum(dim=_dims(axis, t.ndim), keepdim=keepdims) if t.ndim else t.sum()


def _torch_mean(t, axis, keepdims):
    return t.mean(dim=_dims(axis, t.ndim), keepdim=keepdims) if t.ndim else t.mean()


def _reshape(draw, rng):
    shape = _shape(draw, min_dims=1)
    size = int(np.prod(shape))
    target = draw(st.sampled_from([(size,), (-1,), (1, size), (size, 1, 1), (-1, 1)]))
    return [rng.standard_normal(shape)], {"shape": target}


def _matrix(draw, rng):
    return [rng.standard_normal(_shape(draw, 2, 2))], {}


def _matmul(draw, rng):
    n, k, m = (draw(st.integers(1, 5)) for _ in range(3))
    return [rng.standard_normal((n, k)), rng.standard_normal((k, m))], {}


def _index(draw, rng):
    """Slices with steps, integers, or integer arrays that repeat indices, on one or two axes."""
    rows, cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    picks = st.lists(st.integers(-rows, rows - 1), min_size=1, max_size=8)
    first = draw(
        st.one_of(
            st.builds(slice, st.none() | st.integers(0, rows), st.none(), st.integers(1, 3)),
            st.integers(-rows, rows - 1),
            picks.map(np.array),
        )
    )
    second = draw(st.one_of(st.none(), st.builds(slice, st.integers(0, cols), st.none())))
    index = first if second is None else (first, second)
    return [rng.standard_normal((rows, cols))], {"index": index}


def _torch_index(index):
    if isinstance(index, tuple):
        return tuple(_torch_index(i) for i in index)
    return torch.from_numpy(index) if isinstance(index, np.ndarray) else index


def _rows(draw, rng):
    shape = _shape(draw, 1, 3)
    return [3 * rng.standard_normal(shape)], {
        "axis": draw(st.integers(-len(shape), len(shape) - 1))
    }


def _classes(draw, rng):
    n, c = draw(st.integers(1, 6)), draw(st.integers(1, 5))
    return [3 * rng.standard_normal((n, c))], {"target": rng.integers(0, c, n)}


def _convolution(draw, rng):
    k, padding, stride = draw(st.integers(1, 3)), draw(st.integers(0, 2)), draw(st.integers(1, 3))
    n, c_in, c_out = (draw(st.integers(1, 3)) for _ in range(3))
    low = max(1, k - 2 * padding)
    h, w = draw(st.integers(low, low + 5)), draw(st.integers(low, low + 5))
    inputs = [rng.standard_normal((n, c_in, h, w)), rng.standard_normal((c_out, c_in, k, k))]
    if draw(st.booleans()):
        inputs.append(rng.standard_normal(c_out))
    return inputs, {"stride": stride, "padding": padding}


def _pooling(draw, rng):
    k = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *_shape(draw, 2, 2, low=k))
    stride = draw(st.none() | st.integers(1, 3))
    # Distinct values: a tie's gradient goes to one of the tied pixels, which one is a convention.
    return [rng.permutation(np.prod(shape)).reshape(shape) / 7.0], {"k": k, "stride": stride}


OPS = [
    Op("a + b", _binary, lambda a, b: a + b, lambda a, b: a + b),
    Op("a - b", _binary, lambda a, b: a - b, lambda a, b: a - b),
    Op("a * b", _binary, lambda a, b: a * b, lambda a, b: a * b),
    Op("a / b", _dividing, lambda a, b: a / b, lambda a, b: a / b),
    Op("reuse", _unary, lambda a: a * a + a, lambda a: a * a + a),
    Op("number + a - number", _unary, lambda a: 2.5 + a - 1.5, lambda a: 2.5 + a - 1.5),
    Op("number - a", _unary, lambda a: 2.5 - a, lambda a: 2.5 - a),
    Op("number * a * number", _unary, lambda a: -1.5 * a * 3, lambda a: -1.5 * a * 3),
    Op("a / number", _unary, lambda a: a / 4.0, lambda a: a / 4.0),
    Op("number / a", _positive, lambda a: 3.0 / a, lambda a: 3.0 / a),
    Op(
        "array + a * array",
        _with_array,
        lambda a, other: other + a * other,
        lambda a, other: torch.from_numpy(other) + a * torch.from_numpy(other),
    ),
    Op(
        "a - array, array / a",
        _with_array,
        lambda a, other: (a - other) + (other + 3) / (a * a + 1),
        lambda a, other: (
            (a - torch.from_numpy(other)) + (torch.from_numpy(other) + 3) / (a * a + 1)
        ),
    ),
    Op("-a", _unary, lambda a: -a, lambda a: -a),
    Op("a ** 2", _unary, lambda a: a**2, lambda a: a**2),
    Op("a ** 3", _unary, lambda a: a**3, lambda a: a**3),
    Op("a ** 0.5", _positive, lambda a: a**0.5, lambda a: a**0.5),
    Op("a ** -1", _positive, lambda a: a**-1, lambda a: a**-1),
    Op("a ** -2.5", _positive, lambda a: a**-2.5, lambda a: a**-2.5),
    Op("exp", _unary, lambda a: a.exp(), lambda a: a.exp()),
    Op("log", _positive, lambda a: a.log(), lambda a: a.log()),
    Op("relu", _unary, lambda a: a.relu(), lambda a: a.relu()),
    Op("sum", _reduction, lambda a, **o: a.sum(**o), _torch_sum),
    Op("mean", _reduction, lambda a, **o: a.mean(**o), _torch_mean),
    Op("reshape", _reshape, lambda a, shape: a.reshape(*shape), lambda a, shape: a.reshape(shape)),
    Op(
        "reshape(tuple)",
        _reshape,
        lambda a, shape: a.reshape(shape),
        lambda a, shape: a.reshape(shape),
    ),
    Op("T", _matrix, lambda a: a.T, lambda a: a.T),
    Op("a @ b", _matmul, lambda a, b: a @ b, lambda a, b: a @ b),
    Op("array @ a", _matrix, lambda a: a.data.T @ a, lambda a: a.detach().T @ a),
    Op("a[index]", _index, lambda a, index: a[index], lambda a, index: a[_torch_index(index)]),
    Op(
        "log_softmax",
        _rows,
        lambda a, axis: autograd.log_softmax(a, axis),
        lambda a, axis: torch.log_softmax(a, dim=axis),
    ),
    Op(
        "cross_entropy",
        _classes,
        lambda a, target: autograd.cross_entropy(a, target),
        lambda a, target: F.cross_entropy(a, torch.from_numpy(target)),
    ),
    Op("conv2d", _convolution, autograd.conv2d, F.conv2d),
    Op(
        "max_pool2d",
        _pooling,
        lambda a, k, stride: autograd.max_pool2d(a, k, stride),
        lambda a, k, stride: F.max_pool2d(a, k, stride),
    ),
]


@pytest.mark.parametrize("op", OPS, ids=[op.name for op in OPS])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_operation_matches_torch(op: Op, data, seed: int) -> None:
    rng = np.random.default_rng(seed)
    arrays, options = op.draw(data.draw, rng)
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, out_t = op.ours(*ours, **options), op.theirs(*theirs, **options)
    assert_close(out.data, out_t.detach().numpy())
    grad = rng.standard_normal(out.shape)
    out.backward(grad)
    out_t.backward(torch.from_numpy(grad))
    for tensor, tensor_t in zip(ours, theirs, strict=True):
        assert tensor.grad.dtype == np.float64
        assert_close(tensor.grad, tensor_t.grad.numpy())


# ---------------------------------------------------------------------------------------------
# What a Tensor promises besides its arithmetic.


def test_data_types() -> None:
    assert Tensor(1).data.dtype == np.float64
    assert Tensor([1, 2]).data.dtype == np.float64
    assert Tensor(np.arange(3)).data.dtype == np.int64
    assert Tensor(np.float32(1)).data.dtype == np.float32
    assert Tensor(np.ones(2, np.float32)).shape == (2,)


@pytest.mark.parametrize(
    "expression",
    [
        lambda t: t + 1,
        lambda t: 1 + t,
        lambda t: t - 0.1,
        lambda t: 0.1 - t,
        lambda t: t * 0.1,
        lambda t: 0.1 * t,
        lambda t: t / 3,
        lambda t: 3 / t,
        lambda t: t**2.5,
        lambda t: t.mean(),
        lambda t: np.float64(0.1) * t,
    ],
)
def test_a_number_keeps_the_tensors_dtype(expression) -> None:
    t = Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    out = expression(t)
    assert out.data.dtype == np.float32
    out.sum().backward()
    assert t.grad.dtype == np.float32


def test_grad_is_none_until_a_backward_pass_reaches_it() -> None:
    a, b = Tensor(2.0, requires_grad=True), Tensor(3.0, requires_grad=True)
    c = a * 2
    assert a.grad is None
    c.backward()
    assert a.grad == 2.0 and b.grad is None and c.grad is None  # b unused, c not a leaf
    constant = Tensor(1.0) * Tensor(2.0)
    assert not constant.requires_grad and constant.parents == () and constant.grad_fn is None


def test_backward_overwrites_so_a_second_call_gives_the_same_gradients() -> None:
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    w = Tensor([0.5, 0.5, 0.5], requires_grad=True)
    loss = ((x * w).relu() + x.exp() * w).sum()
    loss.backward()
    first = x.grad.copy(), w.grad.copy()
    loss.backward()
    np.testing.assert_array_equal(x.grad, first[0])
    np.testing.assert_array_equal(w.grad, first[1])
    (x * 3).sum().backward()  # another graph: x's gradient replaced, w's left as it was
    np.testing.assert_array_equal(x.grad, [3.0, 3.0, 3.0])
    np.testing.assert_array_equal(w.grad, first[1])


def test_a_tensor_used_on_several_paths_gets_their_sum() -> None:
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * x + x.exp() * x - x / 2  # x on five paths
    y.sum().backward()
    v = np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad, 2 * v + np.exp(v) * (1 + v) - 0.5, rtol=1e-15)


def test_a_deep_chain_works_without_recursion() -> None:
    x = Tensor(1.0, requires_grad=True)
    y = x
    for _ in range(30_000):
        y = y * 1.0001
    y.backward()
    np.testing.assert_allclose(x.grad, 1.0001**30_000, rtol=1e-10)
    assert len(topological_order(y)) == 30_001
    del y  # freeing the chain does not recurse either


def test_each_leaf_gets_an_array_of_its_own() -> None:
    a, b = Tensor(np.zeros(3), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)
    grad = np.ones(3)
    (a + b).backward(grad)
    assert a.grad is not b.grad and a.grad is not grad
    a.grad += 1  # writable, and shared with nothing
    np.testing.assert_array_equal(b.grad, grad)
    np.testing.assert_array_equal(grad, np.ones(3))
    c = Tensor(np.zeros((2, 3)), requires_grad=True)
    c.sum().backward()  # the gradient of a sum is a broadcast view: the leaf gets a copy
    assert c.grad.flags.writeable and c.grad.base is None


def test_the_gradient_of_the_data_is_not_computed() -> None:
    x = Tensor(np.ones((2, 3)))
    w = Tensor(np.ones((3, 4)), requires_grad=True)
    product = x @ w
    assert product.grad_fn(np.ones((2, 4)))[0] is None
    out = autograd.conv2d(np.ones((1, 1, 3, 3)), Tensor(np.ones((1, 1, 2, 2)), requires_grad=True))
    assert out.grad_fn(np.ones((1, 1, 2, 2)))[0] is None


def test_topological_order_lists_each_tensor_once_after_its_parents() -> None:
    a, b = Tensor(1.0, requires_grad=True), Tensor(2.0, requires_grad=True)
    c = a * b
    d = c + a
    e = d * c + Tensor(3.0)  # the constant needs no gradient: not listed
    order = topological_order(e)
    assert len(order) == len({id(t) for t in order}) == 6  # a, b, c, d, d * c, e
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        for parent in t.parents:
            if parent.requires_grad:
                assert position[id(parent)] < position[id(t)]


def test_unbroadcast() -> None:
    grad = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(grad, (3, 1)), grad.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(unbroadcast(grad, ()), grad.sum())
    assert unbroadcast(grad, grad.shape) is grad
    with pytest.raises(ValueError, match=r"a gradient of shape \(2, 3, 4\) is not one of \(3,\)"):
        unbroadcast(grad, (3,))


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (lambda: Tensor(np.ones(2), requires_grad=True).backward(), r"gradient of shape \(2,\)"),
        (
            lambda: Tensor(np.ones(2), requires_grad=True).backward(np.ones(3)),
            r"\(2,\) \(the tensor's\) expected, got \(3,\)",
        ),
        (lambda: Tensor(1.0).backward(), "depends on no tensor with requires_grad"),
        (lambda: Tensor(np.ones((2, 3))) + Tensor(np.ones(4)), r"add: shapes \(2, 3\) and \(4,\)"),
        (lambda: Tensor(np.ones((2, 3))) * np.ones((3, 2)), r"mul: shapes \(2, 3\) and \(3, 2\)"),
        (
            lambda: Tensor(np.ones(3)) @ Tensor(np.ones((3, 2))),
            r"2-D operands expected, got \(3,\)",
        ),
        (
            lambda: Tensor(np.ones((5, 784))) @ Tensor(np.ones((783, 10))),
            r"inner dimensions differ: \(5, 784\) @ \(783, 10\)",
        ),
        (lambda: Tensor(np.ones(3)).T, r"a 2-D tensor expected, got shape \(3,\)"),
        (lambda: Tensor(2.0) ** Tensor(2.0), "the exponent must be a number, got Tensor"),
    ],
)
def test_errors_name_what_was_wrong(action: Callable, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        action()


# ---------------------------------------------------------------------------------------------
# The package's hand-written gradients against autograd.


def pad(x: Tensor, padding: int) -> Tensor:
    """Zeros around each image, as a product with a matrix of zeros and ones: a linear map."""
    n, c, h, w = x.shape
    width = w + 2 * padding
    placement = np.zeros((h * w, (h + 2 * padding) * width))
    rows, cols = np.divmod(np.arange(h * w), w)
    placement[np.arange(h * w), (rows + padding) * width + cols + padding] = 1
    return (x.reshape(n * c, h * w) @ placement).reshape(n, c, h + 2 * padding, width)


def windows(x: Tensor, kh: int, kw: int, stride: int):
    """For each offset in the window, that pixel of every window: strided slices."""
    oh, ow = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    for ky in range(kh):
        for kx in range(kw):
            rows = slice(ky, ky + stride * (oh - 1) + 1, stride)
            yield ky, kx, x[:, :, rows, kx : kx + stride * (ow - 1) + 1 : stride]


def conv2d_composed(x, weight, bias=None, *, stride=1, padding=0) -> Tensor:
    """The convolution by its definition, with elementary operations only."""
    x = pad(x, padding) if padding else x
    c_out, c_in, kh, kw = weight.shape
    out = 0.0
    for ky, kx, pixels in windows(x, kh, kw, stride):
        n, _, oh, ow = pixels.shape
        taps = weight[:, :, ky, kx].reshape(1, c_out, c_in, 1, 1)
        out = out + (pixels.reshape(n, 1, c_in, oh, ow) * taps).sum(axis=2)
    return out if bias is None else out + bias.reshape(1, c_out, 1, 1)


def avg_pool2d_composed(x: Tensor, kernel_size: int, stride=None) -> Tensor:
    stride = kernel_size if stride is None else stride
    total = 0.0
    for _, _, pixels in windows(x, kernel_size, kernel_size, stride):
        total = total + pixels
    return total / kernel_size**2


def max_pool2d_composed(x: Tensor, kernel_size: int, stride=None) -> Tensor:
    """Pairwise maxima, ``max(a, b) = (a + b + |a - b|) / 2`` with ``|d| = (d ** 2) ** 0.5``."""
    stride = kernel_size if stride is None else stride
    largest = None
    for _, _, pixels in windows(x, kernel_size, kernel_size, stride):
        if largest is None:
            largest = pixels
        else:
            largest = (largest + pixels + ((largest - pixels) ** 2) ** 0.5) / 2
    return largest


def batch_norm_composed(x: Tensor, weight, bias, eps: float, stats=None) -> Tensor:
    """Batch normalization from means, a variance and a division; ``stats`` in evaluation mode."""
    axes = (0,) if len(x.shape) == 2 else (0, 2, 3)
    shape = (1, -1) + (1,) * (len(x.shape) - 2)
    if stats is None:
        mean = x.mean(axis=axes, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    else:
        mean, var = (s.reshape(shape) for s in stats)
    x_hat = (x - mean) / (var + eps) ** 0.5
    return weight.reshape(*shape) * x_hat + bias.reshape(*shape)


def log_softmax_composed(x: Tensor) -> Tensor:
    return x - x.exp().sum(axis=-1, keepdims=True).log()


def nll_composed(log_probs: Tensor, target: np.ndarray) -> Tensor:
    return -log_probs[np.arange(len(target)), target].mean()


def cross_entropy_composed(logits: Tensor, target: np.ndarray, smoothing: float = 0.0) -> Tensor:
    log_probs = log_softmax_composed(logits)
    return (1 - smoothing) * nll_composed(log_probs, target) - smoothing * log_probs.mean()


def twin(module, x: Tensor, params, conv: Callable = autograd.conv2d) -> Tensor:
    """``module``'s forward pass with autograd; ``params`` yields its parameters in order."""
    if isinstance(module, Sequential):
        for layer in module.layers:
            x = twin(layer, x, params, conv)
        return x
    if isinstance(module, Linear):
        return x @ next(params) + next(params)
    if isinstance(module, ReLU):
        return x.relu()
    if isinstance(module, Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(module, Conv2d):
        weight = next(params)
        bias = None if module.bias is None else next(params)
        return conv(x, weight, bias, stride=module.stride, padding=module.padding)
    if isinstance(module, MaxPool2d):
        return autograd.max_pool2d(x, module.kernel_size, module.stride)
    if isinstance(module, AvgPool2d):
        return avg_pool2d_composed(x, module.kernel_size, module.stride)
    if isinstance(module, GlobalAvgPool):
        return x.mean(axis=(2, 3))
    if isinstance(module, (BatchNorm1d, BatchNorm2d)):
        stats = None if module.training else (module.running_mean, module.running_var)
        return batch_norm_composed(x, next(params), next(params), module.eps, stats)
    if isinstance(module, ResBlock):
        hidden = twin(module.bn1, twin(module.conv1, x, params, conv), params).relu()
        main = twin(module.bn2, twin(module.conv2, hidden, params, conv), params)
        skip = x if module.shortcut is None else twin(module.shortcut, x, params, conv)
        return (main + skip).relu()
    raise TypeError(f"no autograd twin for {module!r}")


def _linear(rng, n_in=None):
    n_in = int(rng.integers(1, 6)) if n_in is None else n_in
    layer = Linear(n_in, int(rng.integers(1, 6)), rng=rng, dtype=np.float64)
    layer.bias.data = rng.standard_normal(layer.bias.data.shape)  # a wrong bias gradient shows
    return layer, (int(rng.integers(1, 5)), layer.weight.data.shape[0])


def _conv(rng, composed: bool, c_in=None, input_grad=True):
    k, stride, padding = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 3))
    c_in = int(rng.integers(1, 4)) if c_in is None else c_in
    layer = Conv2d(
        c_in,
        int(rng.integers(1, 4)),
        k,
        stride=stride,
        padding=padding,
        bias=bool(rng.integers(2)),
        rng=rng,
        dtype=np.float64,
        input_grad=input_grad,
    )
    if layer.bias is not None:
        layer.bias.data = rng.standard_normal(layer.bias.data.shape)
    size = max(k, 2) + int(rng.integers(0, 5))
    return layer, (int(rng.integers(1, 4)), c_in, size, size + 1), composed


def _batch_norm(rng, cls, image: bool, training: bool):
    c = int(rng.integers(1, 4))
    layer = cls(c, dtype=np.float64)
    layer.weight.data, layer.bias.data = rng.standard_normal(c), rng.standard_normal(c)
    layer.running_mean, layer.running_var = rng.standard_normal(c), rng.uniform(0.5, 2.0, c)
    layer.train(training)
    # At least three values per channel: with two, the normalized values are +-1 whatever the
    # input, and the input's gradient is rounding around zero.
    shape = (int(rng.integers(3, 6)), c) + (int(rng.integers(1, 4)), 3) * image
    return layer, shape


def _float64(model):
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    for m in model.modules():
        if isinstance(m, (BatchNorm1d, BatchNorm2d)):
            m.running_mean, m.running_var = (
                m.running_mean.astype(float),
                m.running_var.astype(float),
            )
    return model


def _pool(rng, cls):
    k = int(rng.integers(1, 4))
    stride = None if rng.integers(2) else int(rng.integers(1, 4))
    return cls(k, stride), (2, 2, k + int(rng.integers(0, 4)), k + int(rng.integers(0, 4)))


MODULES = {
    "Linear": _linear,
    "ReLU": lambda rng: (ReLU(), (3, 4)),
    "Flatten": lambda rng: (Flatten(), (2, 3, 2, 2)),
    "Sequential(Linear, ReLU, Linear)": lambda rng: (
        Sequential(Linear(6, 5, rng=rng, dtype=np.float64), ReLU(), _linear(rng, n_in=5)[0]),
        (3, 6),
    ),
    "Conv2d (composed)": lambda rng: _conv(rng, composed=True),
    "Conv2d, one channel (composed)": lambda rng: _conv(rng, composed=True, c_in=1),
    "Conv2d, no input gradient": lambda rng: _conv(rng, composed=False, input_grad=False),
    "MaxPool2d": lambda rng: _pool(rng, MaxPool2d),
    "AvgPool2d": lambda rng: _pool(rng, AvgPool2d),
    "GlobalAvgPool": lambda rng: (GlobalAvgPool(), (2, 3, 4, 5)),
    "BatchNorm1d": lambda rng: _batch_norm(rng, BatchNorm1d, False, True),
    "BatchNorm1d, evaluation": lambda rng: _batch_norm(rng, BatchNorm1d, False, False),
    "BatchNorm2d": lambda rng: _batch_norm(rng, BatchNorm2d, True, True),
    "BatchNorm2d, evaluation": lambda rng: _batch_norm(rng, BatchNorm2d, True, False),
    "ResBlock": lambda rng: (ResBlock(3, 3, rng=rng, dtype=np.float64), (2, 3, 5, 4)),
    "ResBlock, projection": lambda rng: (
        ResBlock(2, 4, stride=2, rng=rng, dtype=np.float64),
        (3, 2, 6, 5),
    ),
    "resnet": lambda rng: (resnet((4, 8), rng=rng, dtype=np.float64), (2, 1, 8, 8)),
    "chapter 07's CNN": lambda rng: (_float64(CNN().model(int(rng.integers(100)))), (2, 1, 12, 12)),
}


@pytest.mark.parametrize("name", MODULES)
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_module_backward_equals_autograd(name: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    module, shape, *composed = MODULES[name](rng)
    conv = conv2d_composed if composed and composed[0] else autograd.conv2d
    x = rng.standard_normal(shape)
    out = module(x)
    grad_out = rng.standard_normal(out.shape)
    grad_x = module.backward(grad_out)
    x_t = Tensor(x, requires_grad=True)
    params = [Tensor(p.data.copy(), requires_grad=True) for p in module.parameters()]
    out_t = twin(module, x_t, iter(params), conv)
    assert_close(out_t.data, out)
    out_t.backward(grad_out)
    if grad_x is not None:  # None from a first layer that skips the data's gradient
        assert_close(grad_x, x_t.grad)
    for p, p_t in zip(module.parameters(), params, strict=True):
        assert_close(p.grad, p_t.grad)


@pytest.mark.parametrize("smoothing", [None, 0.0, 0.3])
@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), c=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_cross_entropy_module_equals_autograd(smoothing, n: int, c: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    logits, target = 3 * rng.standard_normal((n, c)), rng.integers(0, c, n)
    loss_fn = CrossEntropy() if smoothing is None else CrossEntropy(label_smoothing=smoothing)
    grad_out = float(rng.standard_normal())
    loss = loss_fn(logits, target)
    grad = loss_fn.backward(grad_out)
    logits_t = Tensor(logits, requires_grad=True)
    if smoothing is None:  # the primitive on the pair
        loss_t = autograd.cross_entropy(logits_t, target)
    else:
        loss_t = cross_entropy_composed(logits_t, target, smoothing)
    assert_close(loss_t.data, loss)
    loss_t.backward(grad_out)
    assert_close(grad, logits_t.grad)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), seed=st.integers(0, 2**16))
def test_mse_module_equals_autograd(n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred, target = rng.standard_normal((n, 1)), rng.standard_normal(n)
    loss_fn, grad_out = MSE(), float(rng.standard_normal())
    loss = loss_fn(pred, target)
    grad = loss_fn.backward(grad_out)
    pred_t = Tensor(pred, requires_grad=True)
    loss_t = ((pred_t - target[:, None]) ** 2).mean()
    assert_close(loss_t.data, loss)
    loss_t.backward(grad_out)
    assert_close(grad, pred_t.grad)


@dataclass(frozen=True)
class Pair:
    """A gradient function of the package, and its function written with autograd.

    ``draw(rng)`` returns the inputs (each becomes a tensor that requires a gradient) and
    constants; ``grads(*inputs, grad_out, **constants)`` are the hand-written gradients,
    one per input; ``twin(*tensors, **constants)`` is the forward pass with autograd.
    """

    name: str
    draw: Callable
    grads: Callable
    twin: Callable


def _images(rng, low=1):
    return [rng.standard_normal((2, 3, int(rng.integers(low, low + 4)), int(rng.integers(low, 6))))]


def _window_options(rng):
    k = int(rng.integers(1, 3))
    return k, (None if rng.integers(2) else int(rng.integers(1, 3)))


def _conv_inputs(rng):
    k, c_in, c_out = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(1, 4))
    x = rng.standard_normal((2, c_in, k + int(rng.integers(0, 4)), k + int(rng.integers(0, 4))))
    inputs = [x, rng.standard_normal((c_out, c_in, k, k)), rng.standard_normal(c_out)]
    return inputs, {"stride": int(rng.integers(1, 3)), "padding": int(rng.integers(0, 3))}


def _pool_inputs(rng):
    (x,) = _images(rng, low=3)
    k, stride = _window_options(rng)
    return [rng.permutation(x.size).reshape(x.shape) / 7.0], {"kernel_size": k, "stride": stride}


def _bn_inputs(rng):
    x = rng.standard_normal((3, 2, 2, 3))
    stats = rng.standard_normal(2), rng.uniform(0.5, 2.0, 2)
    return [x, rng.standard_normal(2), rng.standard_normal(2)], {"stats": stats}


def _labelled(rng):
    n, c = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    return [3 * rng.standard_normal((n, c))], {"target": rng.integers(0, c, n)}


PAIRS = [
    Pair(
        "relu_grad",
        lambda rng: ([rng.standard_normal((3, 4))], {}),
        lambda x, g: (relu_grad(x, g),),
        Tensor.relu,
    ),
    Pair(
        "lin_grad",
        lambda rng: ([rng.standard_normal(s) for s in ((4, 3), (3, 2), (2,))], {}),
        lambda x, w, b, g: lin_grad(x, w, g),
        lambda x, w, b: x @ w + b,
    ),
    Pair(
        "mse_grad",
        lambda rng: ([rng.standard_normal((5, 1))], {"target": rng.standard_normal(5)}),
        lambda pred, g, target: (mse_grad(pred, target) * g,),
        lambda pred, target: ((pred - target[:, None]) ** 2).mean(),
    ),
    Pair(
        "flatten_grad",
        lambda rng: (_images(rng), {}),
        lambda x, g: (flatten_grad(x, g),),
        lambda x: x.reshape(x.shape[0], -1),
    ),
    Pair(
        "log_softmax_grad",
        _labelled,
        lambda x, g, target: (log_softmax_grad(x, g),),
        lambda x, target: log_softmax_composed(x),
    ),
    Pair(
        "nll_grad",
        lambda rng: ([-rng.uniform(0.1, 3, (4, 3))], {"target": rng.integers(0, 3, 4)}),
        lambda x, g, target: (nll_grad(x, target) * g,),
        nll_composed,
    ),
    Pair(
        "cross_entropy_grad",
        _labelled,
        lambda x, g, target: (cross_entropy_grad(x, target) * g,),
        cross_entropy_composed,
    ),
    Pair(
        "cross_entropy_grad, label smoothing",
        _labelled,
        lambda x, g, target: (cross_entropy_grad(x, target, label_smoothing=0.2) * g,),
        lambda x, target: cross_entropy_composed(x, target, 0.2),
    ),
    Pair(
        "conv2d_grad",
        _conv_inputs,
        lambda x, w, b, g, **o: conv2d_grad(x, w, g, **o),
        conv2d_composed,
    ),
    Pair(
        "max_pool2d_grad",
        _pool_inputs,
        lambda x, g, kernel_size, stride: (max_pool2d_grad(x, g, kernel_size, stride),),
        max_pool2d_composed,
    ),
    Pair(
        "avg_pool2d_grad",
        _pool_inputs,
        lambda x, g, kernel_size, stride: (avg_pool2d_grad(x, g, kernel_size, stride),),
        avg_pool2d_composed,
    ),
    Pair(
        "global_avg_pool_grad",
        lambda rng: (_images(rng), {}),
        lambda x, g: (global_avg_pool_grad(x, g),),
        lambda x: x.mean(axis=(2, 3)),
    ),
    Pair(
        "batch_norm_grad",
        _bn_inputs,
        lambda x, w, b, g, stats: batch_norm_grad(x, *stats, w, g, training=True),
        lambda x, w, b, stats: batch_norm_composed(x, w, b, 1e-5),
    ),
    Pair(
        "batch_norm_grad, evaluation",
        _bn_inputs,
        lambda x, w, b, g, stats: batch_norm_grad(x, *stats, w, g, training=False),
        lambda x, w, b, stats: batch_norm_composed(x, w, b, 1e-5, stats),
    ),
]


@pytest.mark.parametrize("pair", PAIRS, ids=[pair.name for pair in PAIRS])
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16))
def test_gradient_function_equals_autograd(pair: Pair, seed: int) -> None:
    rng = np.random.default_rng(seed)
    inputs, constants = pair.draw(rng)
    tensors = [Tensor(a, requires_grad=True) for a in inputs]
    out = pair.twin(*tensors, **constants)
    grad_out = rng.standard_normal(out.shape)
    out.backward(grad_out)
    expected = pair.grads(*inputs, grad_out, **constants)
    for tensor, grad in zip(tensors, expected, strict=True):
        assert_close(tensor.grad, grad)
