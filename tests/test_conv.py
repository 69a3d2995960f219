"""deepfound.conv (and deepfound.pool, deepfound.im2col): what the oracle does not check.

Values and gradients of ``conv2d``, ``max_pool2d``, ``avg_pool2d`` and of the layers
against PyTorch, finite differences and the plain pairs are entries of the oracle's
table (tests/oracle.py). Here: ties in max pooling, the loops against im2col, col2im as
the adjoint of im2col, defaults, dtypes, scratch memory, training, average pooling's
ceil_mode at the edges, and errors.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from oracle import PAIRS_BY_NAME, check_pair_gradients
from strategies import Inputs, conv_arrays, conv_cases, pool_cases

from deepfound.conv import (
    AvgPool2d,
    Conv2d,
    Flatten,
    GlobalAvgPool,
    MaxPool2d,
    avg_pool2d,
    avg_pool2d_grad,
    conv2d,
    conv2d_grad,
    conv2d_loops,
    max_pool2d,
    max_pool2d_grad,
    output_size,
)
from deepfound.im2col import col2im, im2col
from deepfound.learner import fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy
from deepfound.nn import Linear, ReLU, Sequential
from deepfound.optim import SGD
from deepfound.testing import test_near


@settings(max_examples=30, deadline=None)
@given(case=pool_cases())
def test_max_pool_gives_a_tied_maximum_gradient_to_the_first_like_torch(case: dict) -> None:
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(0, 2, (case["n"], case["c"], case["h"], case["w"])).astype(np.float64)
    options = dict(kernel_size=case["k"], stride=case["stride"])
    check_pair_gradients(
        PAIRS_BY_NAME["max_pool2d, stride"], Inputs({"x": x}, options, case["seed"])
    )


@settings(max_examples=30, deadline=None)
@given(case=conv_cases())
def test_loops_and_im2col_agree(case: dict) -> None:
    x, weight, bias = conv_arrays(case)
    options = dict(stride=case["stride"], padding=case["padding"])
    test_near(conv2d(x, weight, bias, **options), conv2d_loops(x, weight, bias, **options))


@settings(max_examples=30, deadline=None)
@given(case=conv_cases())
def test_col2im_is_the_adjoint_of_im2col(case: dict) -> None:
    """<im2col(x), c> = <x, col2im(c)> for every x and c: the scatter is the transposed gather."""
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    kh, kw = case["k"], case["kw"]
    options = dict(stride=case["stride"], padding=case["padding"])
    cols = im2col(x, (kh, kw), **options)
    c = rng.standard_normal(cols.shape)
    per_offset = c.reshape(len(c), kh * kw, -1).transpose(1, 0, 2)
    back = col2im(np.ascontiguousarray(per_offset), x.shape, (kh, kw), **options)
    test_near(float((cols * c).sum()), float((x * back).sum()), rtol=1e-10)
    size = (output_size(case["h"], kh, **options), output_size(case["w"], kw, **options))
    assert cols.shape == (case["n"] * size[0] * size[1], kh * kw * case["c_in"])


def test_conv2d_layer_defaults_and_kaiming_init() -> None:
    conv = Conv2d(16, 32, 3, rng=0)
    w = conv.weight.data
    assert w.shape == (32, 16, 3, 3) and w.dtype == np.float32
    np.testing.assert_array_equal(conv.bias.data, np.zeros(32, np.float32))
    test_near(float(w.std()), np.sqrt(2 / (16 * 3 * 3)), rtol=0.05)
    np.testing.assert_array_equal(w, Conv2d(16, 32, 3, rng=0).weight.data)
    no_bias = Conv2d(16, 32, 3, bias=False, rng=0)
    assert no_bias.bias is None and [p.data.shape for p in no_bias.parameters()] == [w.shape]
    assert repr(Conv2d(1, 8, 3, stride=2, padding=1, bias=False, input_grad=False)) == (
        "Conv2d(1, 8, 3, stride=2, padding=1, bias=False, input_grad=False)"
    )
    assert [repr(m) for m in (MaxPool2d(2), AvgPool2d(3, 1), GlobalAvgPool(), Flatten())] == [
        "MaxPool2d(2)",
        "AvgPool2d(3, stride=1)",
        "GlobalAvgPool()",
        "Flatten()",
    ]


def test_conv2d_without_input_grad_skips_only_that() -> None:
    full, skipping = (
        Conv2d(2, 3, 3, padding=1, rng=0),
        Conv2d(2, 3, 3, padding=1, rng=0, input_grad=False),
    )
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    grad_out = np.ones((2, 3, 5, 5), np.float32)
    full(x), skipping(x)
    assert full.backward(grad_out).shape == x.shape
    assert skipping.backward(grad_out) is None
    for p, q in zip(full.parameters(), skipping.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_float32_stays_float32() -> None:
    model = Sequential(
        Conv2d(1, 4, 3, stride=2, padding=1, rng=0),
        ReLU(),
        MaxPool2d(2),
        AvgPool2d(1),
        GlobalAvgPool(),
        Flatten(),
    )
    out = model(np.ones((2, 1, 12, 12), np.float32))
    assert out.dtype == np.float32
    assert model.backward(np.ones_like(out)).dtype == np.float32
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_reused_scratch_memory_never_changes_an_earlier_result() -> None:
    conv = Conv2d(2, 3, 3, stride=2, padding=1, rng=0)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, 2, 7, 7)).astype(np.float32) for n in (4, 2))
    out_a = conv(a)
    kept = out_a.copy()
    grad_a = conv.backward(np.ones_like(out_a)).copy()
    conv(b), conv(a + 1)  # another batch size, then the same size with other values
    np.testing.assert_array_equal(out_a, kept)
    w, bias = conv.weight.data, conv.bias.data
    test_near(conv(a), conv2d(a, w, bias, stride=2, padding=1), rtol=1e-6, atol=1e-6)
    test_near(conv.backward(np.ones_like(out_a)), grad_a)


def test_a_cnn_trains_with_fit_and_sgd() -> None:
    """Bright left half or bright right half: a CNN learns it with the package's loop as it is."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 256)
    x = rng.random((256, 1, 8, 8), dtype=np.float32) * 0.5
    x[y == 0, :, :, :4] += 0.5
    x[y == 1, :, :, 4:] += 0.5
    model = Sequential(
        Conv2d(1, 4, 3, padding=1, rng=0, input_grad=False),
        ReLU(),
        MaxPool2d(2),
        Conv2d(4, 4, 3, stride=2, padding=1, rng=1),
        ReLU(),
        Flatten(),
        Linear(16, 2, rng=2),
    )
    data = DataLoader(Dataset(x, y), 32, shuffle=True, rng=0)
    history = fit(
        model, CrossEntropy(), SGD(model.parameters(), lr=0.1), data, data, 5, progress=False
    )
    assert history.train_loss[-1] < history.train_loss[0] / 2
    assert history.valid_accuracy[-1] > 0.95


def _conv_call(**kwargs):
    args = dict(x=np.ones((2, 3, 5, 5)), weight=np.ones((4, 3, 3, 3)))
    args.update(kwargs)
    x, weight = args.pop("x"), args.pop("weight")
    return lambda: conv2d(x, weight, **args)


BAD_CALLS = [
    (_conv_call(x=np.ones((3, 5, 5))), r"\(n, c, h, w\) expected, got \(3, 5, 5\)"),
    (_conv_call(weight=np.ones((4, 3, 3))), r"\(c_out, c_in, kh, kw\) expected, got \(4, 3, 3\)"),
    (_conv_call(weight=np.ones((4, 2, 3, 3))), r"3 channels .* expects 2.*\(2, 3, 5, 5\).*\(4, 2"),
    (_conv_call(weight=np.ones((4, 3, 7, 7))), r"kernel \(7, 7\) larger .* \(5, 5\).*\(2, 3, 5"),
    (_conv_call(weight=np.ones((4, 3, 8, 3)), padding=1), r"kernel \(8, 3\) .* image \(7, 7\)"),
    (_conv_call(stride=0), "stride must be an integer of at least 1, got 0"),
    (_conv_call(stride=1.5), "stride must be an integer of at least 1, got 1.5"),
    (_conv_call(stride=True), "stride must be an integer of at least 1, got True"),
    (_conv_call(padding=-1), "padding must be an integer of at least 0, got -1"),
    (_conv_call(bias=np.ones(3)), r"bias of shape \(4,\) expected .* got \(3,\)"),
    (lambda: conv2d_grad(np.ones((2, 3, 5, 5)), np.ones((4, 3, 3, 3)), np.ones((2, 4, 5, 5))),
     r"grad_out of shape \(2, 4, 3, 3\) .* got \(2, 4, 5, 5\)"),
    (lambda: conv2d_loops(np.ones((5, 5)), np.ones((1, 1, 3, 3))), r"got \(5, 5\)"),
    (lambda: Conv2d(3, 4, 3)(np.ones((2, 4, 5, 5), np.float32)), r"Conv2d: input has 4 channels"),
    (lambda: Conv2d(3, 4, 3)(np.ones((3, 5, 5), np.float32)), r"Conv2d: .* got \(3, 5, 5\)"),
    (lambda: Conv2d(3, 4, 0), "Conv2d: kernel_size must be an integer of at least 1, got 0"),
    (lambda: Conv2d(3, 4, 3, padding=-2), "Conv2d: padding must be .* at least 0, got -2"),
    (lambda: max_pool2d(np.ones((2, 5, 5)), 2), r"max_pool2d: .* got \(2, 5, 5\)"),
    (lambda: max_pool2d(np.ones((1, 1, 5, 3)), 4), r"kernel \(4, 4\) larger .* \(5, 3\)"),
    (lambda: avg_pool2d(np.ones((1, 1, 5, 5)), 2, 0), "avg_pool2d: stride .* got 0"),
    (lambda: avg_pool2d(np.ones((1, 1, 5, 5)), 0), "avg_pool2d: kernel_size .* got 0"),
    (lambda: max_pool2d_grad(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)), 2),
     r"grad_out of shape \(1, 1, 2, 2\) .* got \(1, 1, 3, 3\)"),
    (lambda: avg_pool2d_grad(np.ones((1, 1, 4, 4)), np.ones((1, 2, 2)), 2),
     r"grad_out of shape \(1, 1, 2, 2\) .* got \(1, 2, 2\)"),
    (lambda: GlobalAvgPool()(np.ones((2, 3))), r"global_avg_pool: .* got \(2, 3\)"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_shapes_that_cannot_work_raise_value_error_naming_them(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_module_backward_checks_grad_out() -> None:
    rng = np.random.default_rng(0)
    for module, x, bad in [
        (Conv2d(1, 2, 3, rng=0), np.ones((2, 1, 5, 5), np.float32), np.ones((2, 2, 5, 5))),
        (GlobalAvgPool(), np.ones((2, 3, 4, 4)), np.ones((2, 4))),
        (Flatten(), np.ones((2, 3, 4, 4)), np.ones((2, 47))),
        (MaxPool2d(2), rng.standard_normal((1, 1, 4, 4)), np.ones((1, 1, 4, 4))),
    ]:
        module(x)
        with pytest.raises(ValueError, match=r"grad_out of shape .* got"):
            module.backward(bad)


INTEGER_ARGUMENTS = [
    (lambda: conv2d(np.full((1, 1, 2, 2), 200, np.uint8), np.ones((1, 1, 2, 2), np.uint8)),
     "conv2d: input has dtype uint8"),
    (lambda: conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2), np.int64)),
     "conv2d: weight has dtype int64"),
    (lambda: conv2d_loops(np.ones((1, 1, 2, 2), np.int32), np.ones((1, 1, 1, 1))),
     "conv2d_loops: input has dtype int32"),
    (lambda: conv2d_grad(np.ones((1, 1, 2, 2), bool), np.ones((1, 1, 1, 1)), np.ones((1, 1, 2, 2))),
     "conv2d_grad: input has dtype bool"),
    (lambda: conv2d_grad(np.ones((1, 1, 2, 2)), np.ones((1, 1, 1, 1)), np.ones((1, 1, 2, 2), int)),
     "conv2d_grad: grad_out has dtype int64"),
    (lambda: Conv2d(1, 1, 1)(np.ones((1, 1, 2, 2), np.uint8)), "Conv2d: input has dtype uint8"),
    (lambda: avg_pool2d(np.ones((1, 1, 4, 4), np.int64), 2), "avg_pool2d: input has dtype int64"),
    (lambda: AvgPool2d(2)(np.ones((1, 1, 4, 4), np.uint8)), "avg_pool2d: input has dtype uint8"),
    (lambda: avg_pool2d_grad(np.ones((1, 1, 4, 4)), np.ones((1, 1, 2, 2), np.int8), 2),
     "avg_pool2d_grad: grad_out has dtype int8"),
    (lambda: max_pool2d(np.ones((1, 1, 4, 4), np.uint8), 2), "max_pool2d: input has dtype uint8"),
    (lambda: max_pool2d_grad(np.ones((1, 1, 4, 4), np.int16), np.ones((1, 1, 2, 2)), 2),
     "max_pool2d_grad: input has dtype int16"),
]  # fmt: skip


@pytest.mark.parametrize(("call", "message"), INTEGER_ARGUMENTS)
def test_integer_arrays_are_refused_naming_the_dtype(call, message: str) -> None:
    # uint8 200 * 1, four times over, would be 800 mod 256 = 32, silently: refused, as torch does.
    with pytest.raises(
        TypeError, match=rf"{message}, not a floating-point one.*astype\(np.float32\)"
    ):
        call()


@pytest.mark.parametrize("call", [conv2d, conv2d_loops])
def test_a_zero_size_kernel_is_a_value_error(call) -> None:
    name = call.__name__
    with pytest.raises(ValueError, match=rf"{name}: weight has a zero-size kernel \(0, 2\)"):
        call(np.ones((1, 1, 3, 3)), np.ones((1, 1, 0, 2)))
    with pytest.raises(ValueError, match=r"conv2d_grad: weight has a zero-size kernel \(2, 0\)"):
        conv2d_grad(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 0)), np.ones((1, 1, 2, 4)))


@pytest.mark.parametrize(
    ("x_shape", "w_shape", "message"),
    [
        ((1, 0, 3, 3), (2, 0, 2, 2), r"conv2d: weight \(2, 0, 2, 2\) has no input channels"),
        ((1, 1, 3, 3), (0, 1, 2, 2), r"conv2d: weight \(0, 1, 2, 2\) has no output channels"),
    ],
)
def test_zero_channels_are_a_value_error(x_shape, w_shape, message) -> None:
    with pytest.raises(ValueError, match=message):
        conv2d(np.ones(x_shape), np.ones(w_shape))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_an_empty_batch_gives_an_empty_output_as_torch(dtype) -> None:
    x, w, b = np.ones((0, 2, 5, 5), dtype), np.ones((3, 2, 3, 3), dtype), np.ones(3, dtype)
    theirs = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2)
    out = conv2d(x, w, b, stride=2)
    assert out.shape == tuple(theirs.shape) == (0, 3, 2, 2) and out.dtype == dtype
    layer = Conv2d(2, 3, 3, padding=1, dtype=dtype)
    out = layer(x)
    assert out.shape == (0, 3, 5, 5) and out.dtype == dtype
    assert layer.backward(out).shape == x.shape
    np.testing.assert_array_equal(layer.weight.grad, np.zeros((3, 2, 3, 3)))


def _nested(shape) -> list:
    return np.arange(np.prod(shape), dtype=np.float64).reshape(shape).tolist()


ARRAY_LIKE_CALLS = [
    lambda a: conv2d(a((2, 1, 4, 4)), a((3, 1, 2, 2)), a((3,)), stride=2),
    lambda a: conv2d_loops(a((1, 2, 3, 3)), a((1, 2, 2, 2))),
    lambda a: conv2d_grad(a((2, 1, 4, 4)), a((3, 1, 2, 2)), a((2, 3, 3, 3))),
    lambda a: max_pool2d(a((1, 2, 4, 4)), 2),
    lambda a: max_pool2d_grad(a((1, 2, 4, 4)), a((1, 2, 2, 2)), 2),
    lambda a: avg_pool2d(a((1, 2, 4, 4)), 2, 1),
    lambda a: avg_pool2d_grad(a((1, 2, 4, 4)), a((1, 2, 3, 3)), 2, 1),
    lambda a: GlobalAvgPool()(a((2, 3, 2, 2))),
]


@pytest.mark.parametrize("call", ARRAY_LIKE_CALLS)
def test_nested_lists_are_accepted_as_arrays_are(call) -> None:
    ours, expected = call(_nested), call(lambda shape: np.array(_nested(shape)))
    np.testing.assert_equal(ours, expected)  # arrays, or tuples of arrays for the gradients


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MaxPool2d(0), "MaxPool2d: kernel_size must be an integer of at least 1, got 0"),
        (lambda: MaxPool2d(2, stride=-1), "MaxPool2d: stride must be .* at least 1, got -1"),
        (lambda: MaxPool2d(2.0), "MaxPool2d: kernel_size must be .* got 2.0"),
        (lambda: AvgPool2d(True), "AvgPool2d: kernel_size must be .* got True"),
        (lambda: AvgPool2d(2, 0), "AvgPool2d: stride must be .* got 0"),
        (lambda: Conv2d(0, 4, 3), "Conv2d: c_in must be an integer of at least 1, got 0"),
        (lambda: Conv2d(2.5, 4, 3), "Conv2d: c_in must be an integer of at least 1, got 2.5"),
        (lambda: Conv2d(3, True, 3), "Conv2d: c_out must be an integer of at least 1, got True"),
    ],
)
def test_layer_constructors_check_their_sizes(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize(
    ("size", "k", "stride", "out"),
    [(7, 2, 2, 4), (5, 3, 2, 2), (6, 3, 2, 3), (7, 3, 3, 3), (6, 2, 2, 3), (5, 1, 3, 2)],
)
def test_ceil_mode_averages_what_a_partial_edge_window_holds_as_torch(size, k, stride, out):
    rng = np.random.default_rng(size + k)
    x = rng.standard_normal((2, 3, size, size))
    options = dict(kernel_size=k, stride=stride, ceil_mode=True)
    check_pair_gradients(PAIRS_BY_NAME["avg_pool2d, ceil_mode"], Inputs({"x": x}, options, 0))
    pooled = avg_pool2d(x, **options)
    assert pooled.shape == (2, 3, out, out)
    corner = x[:, :, stride * (out - 1) :, stride * (out - 1) :]
    corner = corner[:, :, :k, :k]
    test_near(pooled[:, :, -1, -1], corner.mean((2, 3)))
    test_near(pooled, F.avg_pool2d(torch.tensor(x), k, stride, ceil_mode=True).numpy())


def test_ceil_mode_changes_nothing_where_the_windows_fit() -> None:
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    grad_out = np.random.default_rng(1).standard_normal((2, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(avg_pool2d(x, 2, ceil_mode=True), avg_pool2d(x, 2))
    np.testing.assert_array_equal(
        avg_pool2d_grad(x, grad_out, 2, ceil_mode=True), avg_pool2d_grad(x, grad_out, 2)
    )
    # Floor mode drops the edge that ceil mode averages; a float32 input stays float32.
    assert avg_pool2d(x[:, :, :7, :7], 2).shape == (2, 3, 3, 3)
    assert avg_pool2d(x[:, :, :7, :7], 2, ceil_mode=True).dtype == np.float32
    pool = AvgPool2d(2, ceil_mode=True)
    assert (
        repr(pool) == "AvgPool2d(2, ceil_mode=True)"
        and repr(AvgPool2d(3, 2)) == "AvgPool2d(3, stride=2)"
    )
    assert pool.backward(np.ones_like(pool(x[:, :, :7, :7]))).shape == (2, 3, 7, 7)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: avg_pool2d(np.ones((1, 1, 4, 4)), 2, ceil_mode=1), "avg_pool2d: ceil_mode .* 1"),
        (lambda: AvgPool2d(2, ceil_mode="yes"), "AvgPool2d: ceil_mode must be True or False"),
        # A window must start inside the image, as in PyTorch: kernel 4, stride 1 on 2 pixels.
        (lambda: avg_pool2d(np.ones((1, 1, 2, 2)), 4, 1, ceil_mode=True),
         r"kernel \(4, 4\) larger than the image \(2, 2\)"),
    ],
)  # fmt: skip
def test_ceil_mode_rejects_what_cannot_work(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
