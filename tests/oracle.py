"""The test oracle: one table of deepfound's functions and layers beside their PyTorch twins.

Read this first. Every operation with a backward pass has a plain pair in its module,
``f`` and ``f_grad``, and most have a layer, a ``Module`` over the pair. This file holds
one table of each, and ``tests/test_oracle.py`` runs every entry through the checks.

- ``PAIRS``: a :class:`Pair` is a function, its gradient, the PyTorch function it must
  equal (through a small adapter where the two do not take the same arguments), the
  names of the arguments it has a gradient for, and a hypothesis strategy that draws
  its arguments and options (shapes, strides, paddings, modes). A few functions without
  a gradient of their own (``softmax``, ``accuracy``) are in the table with
  ``f_grad=None``: only their value is compared.
- ``LAYERS``: a :class:`Layer` is a strategy that draws a case (sizes, options, a seed
  and a sequence of training and evaluation steps), a builder that makes the layer in
  float64 and its ``torch.nn`` twin holding the same weights and running statistics
  (:func:`copy_weights`, by PyTorch's parameter names), the inputs of each step, and,
  where the layer has one, its plain pair.

The strategies live in ``tests/strategies.py``. The checks:

1. **PyTorch**, in float64. A pair's value, every argument as the call leaves it (batch
   normalization updates its running statistics in place), and its gradient with
   respect to every argument that has one, against ``torch.autograd``. A layer's
   output, the input's gradient, every parameter's gradient and every running
   statistic, step after step in the modes the case draws; and ``backward`` called a
   second time gives the same gradients, bit for bit: it overwrites, never accumulates.
2. **Finite differences**: each gradient of ours against central differences
   (:func:`deepfound.testing.numerical_grad`) of ``sum(f(...) * grad_out)``: a pair's
   every argument with a gradient; a layer's input and every parameter, in training
   mode and, for a layer with running statistics, in evaluation mode.
3. **Layer equals pair**: a layer's output, gradients and running statistics, step
   after step, equal what its plain pair computes from the same weights: the layers'
   faster forms are tested against the definition the book shows.

The functions that run one comparison (:func:`check_pair_value`,
:func:`check_pair_gradients`, :func:`check_layer_step`, :func:`check_step_equals_pair`)
take explicit inputs too: a module's own tests use them on inputs a strategy should not
draw for every check, such as ties in max pooling, ReLU at its kink, or logits of ±1e4
(where central differences lose their meaning).

The tolerance policy, one for each kind of comparison:

- **With PyTorch, and a layer with its pair**: ``|ours - theirs| <= TOL * max(1, M)``
  element by element, ``M`` the largest magnitude in ``theirs``, ``TOL = 1e-10``. The
  dtype must agree too (float64 stays float64). Relative to the largest entry, not to
  each one, because the rounding error of a sum is relative to the size of its terms,
  not to the result: where large terms cancel (a batch-norm gradient sums to zero over
  each channel) an entry cannot be held to 1e-10 of itself. Absolute below one, because
  every input drawn is of order one and so are the terms: an array whose entries all
  nearly cancel (a batch norm over two values a channel has a gradient near 1e-7) is
  held to 1e-10 absolute. Two correct float64 computations that add up in other orders
  differ by a few units of 1e-16 times the terms: over 250 draws of every entry, with
  either OpenBLAS kernel (``OPENBLAS_CORETYPE=Haswell`` or not), the largest difference
  is 1e-13, a thousandth of the tolerance, for the ResNet, whose gradients pass through
  a dozen batch normalizations; most entries stay below 1e-15. A real error (a wrong
  index, a missing term) is of order one.
- **Finite differences**: the step ``FD_EPS = 1e-6``, and ``FD_TOL = 1e-5`` in place of
  ``TOL`` above. A central difference is off by about ``eps**2`` (truncation) plus
  ``1e-16 * S / eps`` (rounding, ``S`` the sum of the magnitudes of the terms of the
  differenced sum): for a residual block's thousand outputs, 1e-7. The largest error
  seen, as above, is 6e-8, a hundredth of the tolerance. The cases are a fixed sequence
  (``derandomize``), for the reason given in ``tests/test_oracle.py``.

No entry needs looser; one that did would carry its own tolerance as a commented field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import strategies as st
from strategies import (
    Inputs,
    affine,
    away_from_clamp,
    away_from_zero,
    batch_norms,
    block_cases,
    classification,
    conv_layer_cases,
    convolutions,
    distinct,
    general_relus,
    group_norm_cases,
    group_norms,
    images,
    layer_norm_cases,
    layer_norms,
    leaks,
    logit_rows,
    logits,
    matrices,
    maxvs,
    mse_cases,
    norm_cases,
    normalizations,
    off_centre,
    one_step,
    pool_layer_cases,
    poolings,
    regression,
    resnet_cases,
    smoothings,
    subs,
)

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
    global_avg_pool,
    global_avg_pool_grad,
    max_pool2d,
    max_pool2d_grad,
)
from deepfound.functional import (
    flatten,
    flatten_grad,
    general_relu,
    general_relu_grad,
    lin,
    lin_grad,
    mse,
    mse_grad,
    relu,
    relu_grad,
)
from deepfound.losses import (
    CrossEntropy,
    accuracy,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    log_softmax_grad,
    log_softmax_naive,
    logsumexp,
    nll,
    nll_grad,
    soft_cross_entropy,
    soft_cross_entropy_grad,
    softmax,
)
from deepfound.nn import MSE, GeneralReLU, Linear, Module, Parameter, ReLU, Sequential
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
    normalize,
    normalize_grad,
)
from deepfound.resnet import ResBlock, resnet
from deepfound.testing import numerical_grad, test_near

# PyTorch on one thread: on arrays of a few hundred numbers its threads only wait for one
# another, and on a busy machine a 3×3 convolution took 20 ms instead of 20 µs.
torch.set_num_threads(1)

# The tolerance policy (see the module's docstring for the reasons).
TOL = 1e-10
FD_EPS = 1e-6
FD_TOL = 1e-5


def assert_close(ours, theirs, what: str, *, tol: float = TOL) -> None:
    """``|ours - theirs| <= tol * max(1, max|theirs|)``, ``theirs`` an array or a tensor.

    The maximum is over the finite entries. Shapes and dtypes must agree; infinities
    must be equal.
    """
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.detach().numpy()
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.dtype != theirs.dtype:
        raise AssertionError(f"{what}: dtype {ours.dtype}, expected {theirs.dtype}")
    scale = float(np.abs(theirs[np.isfinite(theirs)]).max(initial=0.0))
    try:
        test_near(ours, theirs, rtol=0.0, atol=tol * max(1.0, scale))
    except AssertionError as error:
        raise AssertionError(f"{what}: {error}") from None


def check_numerically(loss: Callable, x: np.ndarray, grad, what: str) -> None:
    """``grad`` is the gradient of ``loss`` at ``x``, by central differences."""
    expected = numerical_grad(loss, x, eps=FD_EPS)
    assert_close(grad, expected, what, tol=FD_TOL)


def grad_out_for(out, rng: np.random.Generator):
    """A gradient of the output: an array of its shape, or a number for a loss."""
    shape = tuple(np.shape(out))
    return rng.standard_normal(shape) if shape else float(rng.uniform(-3, 3))


# The plain pairs.


@dataclass(frozen=True)
class Pair:
    """A function, its gradient and its PyTorch twin, called alike on an :class:`Inputs`.

    ``f(*args, **options)`` and ``torch_f(*tensors, **options)`` compute the value;
    ``f_grad(*args, grad_out, **options)`` returns the gradients with respect to the
    arguments named in ``wrt``, in that order (``None`` for a function without one).
    """

    name: str
    f: Callable
    f_grad: Callable | None
    torch_f: Callable
    inputs: st.SearchStrategy[Inputs]
    wrt: tuple[str, ...] = ()


def _torch_general_relu(x: torch.Tensor, *, leak, sub, maxv) -> torch.Tensor:
    out = F.leaky_relu(x, leak) - sub
    return out if maxv is None else out.clamp(max=maxv)


def _torch_normalize(x: torch.Tensor, *, axes, eps) -> torch.Tensor:
    mean, var = x.mean(axes, keepdim=True), x.var(axes, correction=0, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps)


def _row_argmax_accuracy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (logits.argmax(-1) == target).double().mean()


PAIRS = [
    Pair(
        "relu",
        relu,
        lambda x, g: (relu_grad(x, g),),
        F.relu,
        matrices(),
        wrt=("x",),
    ),
    Pair(
        "general_relu",
        general_relu,
        lambda x, g, **o: (general_relu_grad(x, g, **o),),
        _torch_general_relu,
        general_relus(),
        wrt=("x",),
    ),
    Pair(
        "lin",
        lin,
        lambda x, w, b, g: lin_grad(x, w, g),
        lambda x, w, b: F.linear(x, w.T, b),  # torch keeps the weight as (n_out, n_in)
        affine(),
        wrt=("x", "w", "b"),
    ),
    Pair(
        "mse, (n, 1) prediction and (n,) target",
        mse,
        lambda pred, target, g: (g * mse_grad(pred, target),),
        lambda pred, target: F.mse_loss(pred, target[:, None]),
        regression(flat_target=True),
        wrt=("pred",),
    ),
    Pair(
        "mse, equal shapes",
        mse,
        lambda pred, target, g: (g * mse_grad(pred, target),),
        F.mse_loss,
        regression(flat_target=False),
        wrt=("pred",),
    ),
    Pair(
        "log_softmax",
        log_softmax,
        lambda x, g: (log_softmax_grad(x, g),),
        lambda x: F.log_softmax(x, dim=-1),
        logit_rows(),
        wrt=("x",),
    ),
    Pair(
        "nll",
        nll,
        lambda log_probs, target, g: (g * nll_grad(log_probs, target),),
        F.nll_loss,
        classification(log_probs=True),
        wrt=("log_probs",),
    ),
    Pair(
        "cross_entropy",
        cross_entropy,
        lambda logits, target, g: (g * cross_entropy_grad(logits, target),),
        F.cross_entropy,
        classification(),
        wrt=("logits",),
    ),
    Pair(
        "cross_entropy, label_smoothing",
        cross_entropy,
        lambda logits, target, g, **o: (g * cross_entropy_grad(logits, target, **o),),
        F.cross_entropy,
        # Among them the extreme of a uniform target.
        classification(label_smoothing=st.sampled_from([0.1, 0.5, 1.0]) | st.floats(0, 1)),
        wrt=("logits",),
    ),
    Pair(
        "soft_cross_entropy",
        soft_cross_entropy,
        lambda logits, probs, g, **o: (g * soft_cross_entropy_grad(logits, probs, **o),),
        F.cross_entropy,
        classification(label_smoothing=smoothings, soft=True).map(
            lambda i: Inputs(
                {"logits": i.args["logits"], "probs": i.args["target"]}, i.options, i.seed
            )
        ),
        wrt=("logits",),
    ),
    Pair(
        # Stride 1: the input's gradient as the convolution of grad_out with flipped kernels.
        "conv2d, stride 1",
        conv2d,
        lambda x, weight, bias, g, **o: conv2d_grad(x, weight, g, **o),
        F.conv2d,
        convolutions(stride=st.just(1)),
        wrt=("x", "weight", "bias"),
    ),
    Pair(
        # Strides 2 and 3: the input's gradient through col2im.
        "conv2d, strided",
        conv2d,
        lambda x, weight, bias, g, **o: conv2d_grad(x, weight, g, **o),
        F.conv2d,
        convolutions(stride=st.integers(2, 3)),
        wrt=("x", "weight", "bias"),
    ),
    Pair(
        "max_pool2d, default stride",
        max_pool2d,
        lambda x, g, **o: (max_pool2d_grad(x, g, **o),),
        F.max_pool2d,
        poolings(stride=st.none()),
        wrt=("x",),
    ),
    Pair(
        "max_pool2d, stride",
        max_pool2d,
        lambda x, g, **o: (max_pool2d_grad(x, g, **o),),
        F.max_pool2d,
        poolings(stride=st.integers(1, 3)),
        wrt=("x",),
    ),
    Pair(
        "avg_pool2d, default stride",
        avg_pool2d,
        lambda x, g, **o: (avg_pool2d_grad(x, g, **o),),
        F.avg_pool2d,
        poolings(stride=st.none()),
        wrt=("x",),
    ),
    Pair(
        "avg_pool2d, stride",
        avg_pool2d,
        lambda x, g, **o: (avg_pool2d_grad(x, g, **o),),
        F.avg_pool2d,
        poolings(stride=st.integers(1, 3)),
        wrt=("x",),
    ),
    Pair(
        "avg_pool2d, ceil_mode",
        avg_pool2d,
        lambda x, g, **o: (avg_pool2d_grad(x, g, **o),),
        F.avg_pool2d,
        poolings(stride=st.none() | st.integers(1, 3), ceil_mode=True),
        wrt=("x",),
    ),
    Pair(
        "global_avg_pool",
        global_avg_pool,
        lambda x, g: (global_avg_pool_grad(x, g),),
        lambda x: x.mean((2, 3)),
        images(),
        wrt=("x",),
    ),
    Pair(
        "flatten",
        flatten,
        lambda x, g: (flatten_grad(x, g),),
        lambda x: torch.flatten(x, 1),
        images(),
        wrt=("x",),
    ),
    Pair(
        "batch_norm, training",
        batch_norm,
        # Called on the running statistics before batch_norm updates them, as the forward used.
        lambda x, mean, var, w, b, g, training, momentum: batch_norm_grad(
            x, mean, var, w, g, training
        ),
        F.batch_norm,
        batch_norms(training=True),
        wrt=("x", "weight", "bias"),
    ),
    Pair(
        "batch_norm, evaluation",
        batch_norm,
        lambda x, mean, var, w, b, g, training, momentum: batch_norm_grad(
            x, mean, var, w, g, training
        ),
        F.batch_norm,
        batch_norms(training=False),
        wrt=("x", "weight", "bias"),
    ),
    Pair(
        "normalize",
        normalize,
        lambda x, g, **o: (normalize_grad(x, g, **o),),
        _torch_normalize,
        normalizations(),
        wrt=("x",),
    ),
    Pair(
        "layer_norm",
        lambda x, w, b, *, normalized_shape, eps: layer_norm(x, normalized_shape, w, b, eps),
        lambda x, w, b, g, *, normalized_shape, eps: layer_norm_grad(
            x, normalized_shape, w, g, eps
        ),
        lambda x, w, b, *, normalized_shape, eps: F.layer_norm(x, normalized_shape, w, b, eps),
        layer_norms(),
        wrt=("x", "weight", "bias"),
    ),
    Pair(
        "group_norm",
        lambda x, w, b, *, num_groups, eps: group_norm(x, num_groups, w, b, eps),
        lambda x, w, b, g, *, num_groups, eps: group_norm_grad(x, num_groups, w, g, eps),
        lambda x, w, b, *, num_groups, eps: F.group_norm(x, num_groups, w, b, eps),
        group_norms(),
        wrt=("x", "weight", "bias"),
    ),
    # Functions without a gradient of their own: their value only.
    Pair(
        "softmax",
        softmax,
        None,
        lambda x: F.softmax(x, dim=-1),
        logit_rows(),
    ),
    Pair(
        "logsumexp",
        logsumexp,
        None,
        lambda x: torch.logsumexp(x, dim=-1),
        logit_rows(),
    ),
    Pair(
        "log_softmax_naive",
        log_softmax_naive,
        None,
        lambda x: F.log_softmax(x, dim=-1),
        logit_rows(),
    ),
    Pair("accuracy", accuracy, None, _row_argmax_accuracy, classification()),
]
PAIRS_BY_NAME = {pair.name: pair for pair in PAIRS}


def _copies(args: dict) -> list:
    """Fresh copies: a pair may update an argument in place (batch_norm's running statistics)."""
    return [None if a is None else np.array(a) for a in args.values()]


def _grad_out(pair: Pair, inputs: Inputs):
    """A gradient of the pair's output, drawn from the inputs' seed."""
    out = pair.f(*_copies(inputs.args), **inputs.options)
    return grad_out_for(out, np.random.default_rng(inputs.seed))


def _gradients(pair: Pair, inputs: Inputs, grad_out) -> dict:
    grads = pair.f_grad(*_copies(inputs.args), grad_out, **inputs.options)
    assert len(grads) == len(pair.wrt), f"{pair.name}: {len(grads)} gradients for {pair.wrt}"
    return dict(zip(pair.wrt, grads, strict=True))


def check_pair_value(pair: Pair, inputs: Inputs) -> None:
    """The value equals PyTorch's, and so does every argument after the call."""
    ours = _copies(inputs.args)
    tensors = [None if a is None else torch.tensor(a) for a in inputs.args.values()]
    out = pair.f(*ours, **inputs.options)
    assert_close(out, pair.torch_f(*tensors, **inputs.options), f"{pair.name}: value")
    for name, a, t in zip(inputs.args, ours, tensors, strict=True):
        if a is not None:
            assert_close(a, t, f"{pair.name}: {name} after the call")


def check_pair_gradients(pair: Pair, inputs: Inputs) -> None:
    """Every gradient equals ``torch.autograd``'s for a drawn gradient of the output."""
    grad_out = _grad_out(pair, inputs)
    grads = _gradients(pair, inputs, grad_out)
    tensors = {
        name: None if a is None else torch.tensor(a, requires_grad=name in pair.wrt)
        for name, a in inputs.args.items()
    }
    out_t = pair.torch_f(*tensors.values(), **inputs.options)
    out_t.backward(torch.tensor(grad_out, dtype=out_t.dtype))
    for name in pair.wrt:
        if tensors[name] is not None:
            assert_close(grads[name], tensors[name].grad, f"{pair.name}: gradient of {name}")


def check_pair_finite_differences(pair: Pair, inputs: Inputs) -> None:
    """Every gradient equals the central differences of ``sum(f(...) * grad_out)``."""
    grad_out = _grad_out(pair, inputs)
    grads = _gradients(pair, inputs, grad_out)
    for name in pair.wrt:
        if inputs.args[name] is None:
            continue

        def loss(a: np.ndarray, name: str = name) -> float:
            args = _copies({**inputs.args, name: a})
            return float(np.sum(pair.f(*args, **inputs.options) * grad_out))

        what = f"{pair.name}: gradient of {name}"
        check_numerically(loss, inputs.args[name], grads[name], what)


# The PyTorch twins of deepfound's layers, and the copying of weights into them.


class TorchResBlock(torch.nn.Module):
    """The basic block of ResNet in PyTorch, attribute for attribute as ``ResBlock``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        stride: int = 1,
        dtype=torch.float64,
        *,
        pool_shortcut: bool = False,
    ) -> None:
        super().__init__()
        nn = torch.nn
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(c_out, dtype=dtype)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False, dtype=dtype)
        self.bn2 = nn.BatchNorm2d(c_out, dtype=dtype)
        self.shortcut = None
        if (c_in != c_out or stride != 1) and pool_shortcut:  # ResNet-D
            pool = [nn.AvgPool2d(stride, ceil_mode=True)] if stride > 1 else []
            self.shortcut = nn.Sequential(
                *pool,
                nn.Conv2d(c_in, c_out, 1, bias=False, dtype=dtype),
                nn.BatchNorm2d(c_out, dtype=dtype),
            )
        elif c_in != c_out or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False, dtype=dtype),
                nn.BatchNorm2d(c_out, dtype=dtype),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class TorchGeneralReLU(torch.nn.Module):
    def __init__(self, **options) -> None:
        super().__init__()
        self.options = options

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _torch_general_relu(x, **self.options)


class TorchGlobalAvgPool(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean((2, 3))


class TorchMSE(torch.nn.Module):
    """``MSE``: an (n, 1) prediction against an (n,) target row by row, as ours does."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(pred, target.reshape(pred.shape))


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


def _named(module: Module, prefix: str = "") -> Iterator[tuple[str, object]]:
    """Every parameter and running statistic of ``module`` under the name torch gives it.

    ``conv1.weight``, ``shortcut.1.running_var``, ``0.bias``: attributes by name, and the
    layers of a ``Sequential`` by position, as in ``torch.nn.Sequential``.
    """
    for attr, value in vars(module).items():
        if isinstance(value, Parameter) or attr in ("running_mean", "running_var"):
            yield prefix + attr, value
        elif isinstance(value, Module):
            yield from _named(value, f"{prefix}{attr}.")
        elif isinstance(module, Sequential) and attr == "layers":
            for i, layer in enumerate(value):
                yield from _named(layer, f"{prefix}{i}.")


def named_parameters(module: Module) -> dict[str, Parameter]:
    return {name: p for name, p in _named(module) if isinstance(p, Parameter)}


def named_buffers(module: Module) -> dict[str, np.ndarray]:
    return {name: b for name, b in _named(module) if not isinstance(b, Parameter)}


def torch_buffers(theirs: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {
        name: b for name, b in theirs.named_buffers() if not name.endswith("num_batches_tracked")
    }


def transposed(module: Module) -> set[int]:
    """The parameters torch holds transposed: the weights of ``Linear`` layers, by ``id``."""
    return {id(m.weight) for m in module.modules() if isinstance(m, Linear)}


def torch_layout(array: np.ndarray, transpose: bool) -> np.ndarray:
    """A parameter as torch holds it: a ``Linear`` weight (n_in, n_out) is transposed."""
    return array.T if transpose else array


def copy_weights(ours: Module, theirs: torch.nn.Module, rng: np.random.Generator) -> None:
    """Random biases and batch-norm statistics in ours (not zeros and ones), then all into theirs.

    Weights keep their Kaiming initialization. Values are written in place, so that a
    float32 network stays float32.
    """
    for module in ours.modules():
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            c = len(module.running_mean)
            module.weight.data[...] = rng.uniform(0.5, 1.5, c)
            module.bias.data[...] = rng.normal(0, 0.5, c)
            module.running_mean[...] = rng.normal(0, 0.5, c)
            module.running_var[...] = rng.uniform(0.5, 2.0, c)
        elif isinstance(module, (LayerNorm, GroupNorm)):
            shape = module.weight.data.shape
            module.weight.data[...] = rng.uniform(0.5, 1.5, shape)
            module.bias.data[...] = rng.normal(0, 0.5, shape)
        elif isinstance(module, (Linear, Conv2d)) and module.bias is not None:
            module.bias.data[...] = rng.standard_normal(module.bias.data.shape)
    ours_named, transpose = dict(_named(ours)), transposed(ours)
    theirs_named = {**dict(theirs.named_parameters()), **torch_buffers(theirs)}
    assert ours_named.keys() == theirs_named.keys(), (ours_named.keys(), theirs_named.keys())
    with torch.no_grad():
        for name, tensor in theirs_named.items():
            value = ours_named[name]
            array = value.data if isinstance(value, Parameter) else value
            array = torch_layout(array, id(value) in transpose)
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(array)))


# The layers.


@dataclass(frozen=True)
class Layer:
    """A layer, its PyTorch twin, the inputs of its steps and, if it has one, its plain pair.

    ``cases`` draws a dict of sizes and options with a ``seed`` and ``modes`` (the
    steps); ``build(case, rng)`` returns the layer in float64 and its torch twin holding
    the same weights and running statistics; ``inputs(case, rng, training)`` returns
    the arguments of one call, the first being the one with a gradient.
    ``pair(layer, inputs, grad_out, before)`` computes by the plain pair what one step of
    the layer must give, from its running statistics ``before`` the step: a dict of the
    ``output``, the gradient of the ``input``, and each parameter's gradient and each
    running statistic after the step, under the names of :func:`named_parameters`.
    """

    name: str
    cases: st.SearchStrategy[dict]
    build: Callable
    inputs: Callable
    pair: Callable | None = None


def _twins(ours: Module, theirs: torch.nn.Module, rng) -> tuple[Module, torch.nn.Module]:
    copy_weights(ours, theirs, rng)
    return ours, theirs


def _rows(case, rng, training):
    return (rng.standard_normal((case["n"], case["n_in"])),)


def _images(case, rng, training):
    return (rng.standard_normal((case["n"], case["c"], case["h"], case["w"])),)


def _images_any_batch_in_eval(case, rng, training):
    n = case["n"] if training else case["n_eval"]
    return (rng.normal(0.5, 2, (n, case["c"], case["h"], case["w"])),)


def _linear_pair(layer, inputs, g, before):
    (x,) = inputs
    grad_x, grad_w, grad_b = lin_grad(x, layer.weight.data, g)
    out = lin(x, layer.weight.data, layer.bias.data)
    return {"output": out, "input": grad_x, "weight": grad_w, "bias": grad_b}


def _relu_pair(layer, inputs, g, before):
    (x,) = inputs
    return {"output": relu(x), "input": relu_grad(x, g)}


def _mse_inputs(case, rng, training):
    n, width = case["n"], case["width"]
    target = rng.standard_normal(n if case["flat_target"] else (n, width))
    return rng.standard_normal((n, width)), target


def _mse_pair(layer, inputs, g, before):
    return {"output": mse(*inputs), "input": g * mse_grad(*inputs)}


def _cross_entropy_inputs(case, rng, training):
    n, c = case["n"], case["c"]
    return logits(rng, n, c), rng.integers(0, c, n)


def _cross_entropy_pair(layer, inputs, g, before):
    options = dict(label_smoothing=layer.label_smoothing)
    grad = g * cross_entropy_grad(*inputs, **options)
    return {"output": cross_entropy(*inputs, **options), "input": grad}


def _mlp_build(case, rng):
    n_in, n_out, f64 = case["n_in"], case["n_out"], torch.float64
    ours = Sequential(
        Linear(n_in, 7, rng=rng, dtype=np.float64),
        ReLU(),
        Linear(7, n_out, rng=rng, dtype=np.float64),
    )
    nn = torch.nn
    theirs = nn.Sequential(nn.Linear(n_in, 7, dtype=f64), nn.ReLU(), nn.Linear(7, n_out, dtype=f64))
    return _twins(ours, theirs, rng)


def _conv_build(case, rng):
    sizes = case["c_in"], case["c_out"], case["k"]
    options = dict(stride=case["stride"], padding=case["padding"], bias=case["bias"])
    ours = Conv2d(*sizes, **options, rng=rng, dtype=np.float64)
    return _twins(ours, torch.nn.Conv2d(*sizes, **options, dtype=torch.float64), rng)


def _conv_inputs(case, rng, training):
    return (rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"])),)


def _conv_pair(layer, inputs, g, before):
    (x,) = inputs
    options = dict(stride=layer.stride, padding=layer.padding)
    bias = None if layer.bias is None else layer.bias.data
    grad_x, grad_w, grad_b = conv2d_grad(x, layer.weight.data, g, **options)
    expected = {"output": conv2d(x, layer.weight.data, bias, **options), "input": grad_x}
    return expected | {"weight": grad_w} | ({} if bias is None else {"bias": grad_b})


def _pool_build(ours_cls, torch_cls):
    def build(case, rng):
        options = {"ceil_mode": True} if case.get("ceil_mode") else {}
        ours = ours_cls(case["k"], case["stride"], **options)
        return ours, torch_cls(case["k"], case["stride"], **options)

    return build


def _distinct_images(case, rng, training):
    return (distinct(rng, (case["n"], case["c"], case["h"], case["w"])),)


def _pool_pair(f, f_grad):
    def pair(layer, inputs, g, before):
        (x,) = inputs
        k, stride, options = layer.kernel_size, layer.stride, layer._options()
        return {"output": f(x, k, stride, **options), "input": f_grad(x, g, k, stride, **options)}

    return pair


def _plain_pair(f, f_grad):
    """The plain pair of a layer without options or parameters."""

    def pair(layer, inputs, g, before):
        (x,) = inputs
        return {"output": f(x), "input": f_grad(x, g)}

    return pair


def _norm_build(ours_cls, torch_cls):
    def build(case, rng):
        c, momentum = case["shape"][1], case["momentum"]
        ours = ours_cls(c, momentum=momentum, dtype=np.float64)
        return _twins(ours, torch_cls(c, momentum=momentum, dtype=torch.float64), rng)

    return build


def _norm_inputs(case, rng, training):
    shape = case["shape"] if training else (case["n_eval"], *case["shape"][1:])
    return (off_centre(rng, shape),)


def _norm_pair(layer, inputs, g, before):
    (x,) = inputs
    mean, var = before["running_mean"].copy(), before["running_var"].copy()
    w, b = layer.weight.data, layer.bias.data
    grad_x, grad_w, grad_b = batch_norm_grad(x, mean, var, w, g, layer.training, layer.eps)
    out = batch_norm(x, mean, var, w, b, layer.training, layer.momentum, layer.eps)
    gradients = {"input": grad_x, "weight": grad_w, "bias": grad_b}
    return {"output": out, **gradients, "running_mean": mean, "running_var": var}


def _block_build(case, rng):
    c_in, c_out, stride = case["c"], case["c_out"], case["stride"]
    pool_shortcut = case["pool_shortcut"]
    ours = ResBlock(
        c_in, c_out, stride=stride, rng=rng, pool_shortcut=pool_shortcut, dtype=np.float64
    )
    return _twins(ours, TorchResBlock(c_in, c_out, stride, pool_shortcut=pool_shortcut), rng)


def _general_relu_options(case: dict) -> dict:
    return {key: case[key] for key in ("leak", "sub", "maxv")}


def _general_relu_inputs(case, rng, training):
    x = away_from_zero(*_rows(case, rng, training))
    return (away_from_clamp(x, **_general_relu_options(case)),)


def _general_relu_pair(layer, inputs, g, before):
    (x,) = inputs
    options = _general_relu_options(vars(layer))
    return {"output": general_relu(x, **options), "input": general_relu_grad(x, g, **options)}


def _layer_norm_build(case, rng):
    shape, eps = case["normalized_shape"], case["eps"]
    ours = LayerNorm(shape, eps=eps, dtype=np.float64)
    return _twins(ours, torch.nn.LayerNorm(shape, eps=eps, dtype=torch.float64), rng)


def _group_norm_build(case, rng):
    sizes, eps = (case["num_groups"], case["shape"][1]), case["eps"]
    ours = GroupNorm(*sizes, eps=eps, dtype=np.float64)
    return _twins(ours, torch.nn.GroupNorm(*sizes, eps=eps, dtype=torch.float64), rng)


def _off_centre_inputs(case, rng, training):
    return (off_centre(rng, case["shape"]),)


def _layer_norm_pair(layer, inputs, g, before):
    (x,) = inputs
    shape, w, eps = layer.normalized_shape, layer.weight.data, layer.eps
    grad_x, grad_w, grad_b = layer_norm_grad(x, shape, w, g, eps)
    out = layer_norm(x, shape, w, layer.bias.data, eps)
    return {"output": out, "input": grad_x, "weight": grad_w, "bias": grad_b}


def _group_norm_pair(layer, inputs, g, before):
    (x,) = inputs
    groups, w, eps = layer.num_groups, layer.weight.data, layer.eps
    grad_x, grad_w, grad_b = group_norm_grad(x, groups, w, g, eps)
    out = group_norm(x, groups, w, layer.bias.data, eps)
    return {"output": out, "input": grad_x, "weight": grad_w, "bias": grad_b}


def _cnn_build(case, rng):
    ours = Sequential(
        Conv2d(3, 4, 3, padding=1, rng=rng, dtype=np.float64),
        ReLU(),
        MaxPool2d(2, 1),
        Conv2d(4, 5, 2, stride=2, bias=False, rng=rng, dtype=np.float64),
        ReLU(),
        GlobalAvgPool(),
    )
    nn = torch.nn
    theirs = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1, dtype=torch.float64),
        nn.ReLU(),
        nn.MaxPool2d(2, 1),
        nn.Conv2d(4, 5, 2, stride=2, bias=False, dtype=torch.float64),
        nn.ReLU(),
        TorchGlobalAvgPool(),
    )
    return _twins(ours, theirs, rng)


def _resnet_build(case, rng):
    options = dict(stem_stride=case["stem_stride"], residual=case["residual"])
    ours = resnet(case["widths"], case["blocks"], **options, rng=rng, dtype=np.float64)
    ours.layers[0].input_grad = True  # the stem skips it; compared here as every gradient is
    return _twins(ours, torch_resnet(case["widths"], case["blocks"], **options), rng)


LAYERS = [
    Layer(
        "Linear",
        one_step(n=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 4)),
        lambda case, rng: _twins(
            Linear(case["n_in"], case["n_out"], rng=rng, dtype=np.float64),
            torch.nn.Linear(case["n_in"], case["n_out"], dtype=torch.float64),
            rng,
        ),
        _rows,
        _linear_pair,
    ),
    Layer(
        "ReLU",
        one_step(n=st.integers(1, 6), n_in=st.integers(1, 6)),
        lambda case, rng: (ReLU(), torch.nn.ReLU()),
        lambda case, rng, training: (away_from_zero(*_rows(case, rng, training)),),
        _relu_pair,
    ),
    Layer(
        "GeneralReLU",
        one_step(n=st.integers(1, 6), n_in=st.integers(1, 6), leak=leaks, sub=subs, maxv=maxvs),
        lambda case, rng: (
            GeneralReLU(**_general_relu_options(case)),
            TorchGeneralReLU(**_general_relu_options(case)),
        ),
        _general_relu_inputs,
        _general_relu_pair,
    ),
    Layer("MSE", mse_cases(), lambda case, rng: (MSE(), TorchMSE()), _mse_inputs, _mse_pair),
    Layer(
        "CrossEntropy",
        one_step(n=st.integers(1, 8), c=st.integers(1, 10), label_smoothing=smoothings),
        lambda case, rng: (
            CrossEntropy(label_smoothing=case["label_smoothing"]),
            torch.nn.CrossEntropyLoss(label_smoothing=case["label_smoothing"]),
        ),
        _cross_entropy_inputs,
        _cross_entropy_pair,
    ),
    Layer(
        "Sequential(Linear, ReLU, Linear)",
        one_step(n=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 4)),
        _mlp_build,
        _rows,
    ),
    Layer("Conv2d", conv_layer_cases(), _conv_build, _conv_inputs, _conv_pair),
    Layer(
        "MaxPool2d",
        pool_layer_cases(),
        _pool_build(MaxPool2d, torch.nn.MaxPool2d),
        _distinct_images,
        _pool_pair(max_pool2d, max_pool2d_grad),
    ),
    Layer(
        "AvgPool2d",
        pool_layer_cases(),
        _pool_build(AvgPool2d, torch.nn.AvgPool2d),
        _images,
        _pool_pair(avg_pool2d, avg_pool2d_grad),
    ),
    Layer(
        "AvgPool2d, ceil_mode",
        pool_layer_cases(ceil_mode=True),
        _pool_build(AvgPool2d, torch.nn.AvgPool2d),
        _images,
        _pool_pair(avg_pool2d, avg_pool2d_grad),
    ),
    Layer(
        "GlobalAvgPool",
        one_step(
            n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5)
        ),
        lambda case, rng: (GlobalAvgPool(), TorchGlobalAvgPool()),
        _images,
        _plain_pair(global_avg_pool, global_avg_pool_grad),
    ),
    Layer(
        "Flatten",
        one_step(
            n=st.integers(1, 3), c=st.integers(1, 4), h=st.integers(1, 5), w=st.integers(1, 5)
        ),
        lambda case, rng: (Flatten(), torch.nn.Flatten()),
        _images,
        _plain_pair(flatten, flatten_grad),
    ),
    Layer(
        "BatchNorm1d",
        norm_cases(images=False),
        _norm_build(BatchNorm1d, torch.nn.BatchNorm1d),
        _norm_inputs,
        _norm_pair,
    ),
    Layer(
        "BatchNorm2d",
        norm_cases(images=True),
        _norm_build(BatchNorm2d, torch.nn.BatchNorm2d),
        _norm_inputs,
        _norm_pair,
    ),
    Layer(
        "LayerNorm",
        layer_norm_cases(),
        _layer_norm_build,
        _off_centre_inputs,
        _layer_norm_pair,
    ),
    Layer(
        "GroupNorm",
        group_norm_cases(),
        _group_norm_build,
        _off_centre_inputs,
        _group_norm_pair,
    ),
    Layer(
        "ResBlock, identity shortcut",
        block_cases(projection=False),
        _block_build,
        _images_any_batch_in_eval,
    ),
    Layer(
        "ResBlock, projection shortcut",
        block_cases(projection=True),
        _block_build,
        _images_any_batch_in_eval,
    ),
    Layer(
        "ResBlock, pooled shortcut (ResNet-D)",
        block_cases(projection=True, pool_shortcut=True),
        _block_build,
        _images_any_batch_in_eval,
    ),
    Layer(
        "Sequential CNN",
        one_step(n=st.integers(1, 3), c=st.just(3), h=st.integers(6, 9), w=st.integers(6, 9)),
        _cnn_build,
        _images,
    ),
    Layer("resnet", resnet_cases(), _resnet_build, _images_any_batch_in_eval),
]
LAYERS_BY_NAME = {layer.name: layer for layer in LAYERS}


def _steps(layer: Layer, case: dict):
    """The layer and its twin set to each mode of the case in turn, with that step's inputs."""
    rng = np.random.default_rng(case["seed"])
    ours, theirs = layer.build(case, rng)
    for mode in case["modes"]:
        training = mode == "train"
        ours.train(training), theirs.train(training)
        yield f"{layer.name}, {mode}", ours, theirs, layer.inputs(case, rng, training), rng


def check_layer_step(name: str, ours: Module, theirs: torch.nn.Module, inputs: tuple, rng) -> None:
    """One forward and backward pass of each: output, gradients and running statistics agree.

    The output's gradient is drawn from ``rng``. ``backward`` called again must give the
    same gradients, bit for bit.
    """
    x_t = torch.tensor(inputs[0], requires_grad=True)
    theirs.zero_grad()
    out_t = theirs(x_t, *map(torch.tensor, inputs[1:]))
    grad_out = grad_out_for(out_t, rng)
    out_t.backward(torch.tensor(grad_out, dtype=out_t.dtype))
    assert_close(ours(*inputs), out_t, f"{name}: output")
    grad_x = ours.backward(grad_out)
    assert_close(grad_x, x_t.grad, f"{name}: gradient of the input")
    params, torch_params = named_parameters(ours), dict(theirs.named_parameters())
    assert params.keys() == torch_params.keys(), (params.keys(), torch_params.keys())
    transpose = transposed(ours)
    for p_name, p in torch_params.items():
        grad = torch_layout(params[p_name].grad, id(params[p_name]) in transpose)
        assert_close(grad, p.grad, f"{name}: gradient of {p_name}")
    buffers, torch_buffers_ = named_buffers(ours), torch_buffers(theirs)
    assert buffers.keys() == torch_buffers_.keys(), (buffers.keys(), torch_buffers_.keys())
    for b_name, buffer in torch_buffers_.items():
        assert_close(buffers[b_name], buffer, f"{name}: {b_name}")
    first = [grad_x.copy(), *(p.grad.copy() for p in params.values())]
    again = [ours.backward(grad_out), *(p.grad for p in params.values())]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=f"{name}: backward called twice")


def check_step_equals_pair(layer: Layer, name: str, ours: Module, inputs: tuple, rng) -> None:
    """One forward and backward pass of the layer gives what its plain pair computes."""
    before = {b_name: b.copy() for b_name, b in named_buffers(ours).items()}
    out = ours(*inputs)
    grad_out = grad_out_for(out, rng)
    expected = layer.pair(ours, inputs, grad_out, before)
    got = {"output": out, "input": ours.backward(grad_out)}
    got |= {p_name: p.grad for p_name, p in named_parameters(ours).items()}
    got |= named_buffers(ours)
    assert got.keys() == expected.keys(), (got.keys(), expected.keys())
    for key, value in expected.items():
        assert_close(got[key], value, f"{name}: {key} against the plain pair")


def check_step_finite_differences(name: str, ours: Module, inputs: tuple, rng) -> None:
    """The input's and every parameter's gradient equal central differences."""
    grad_out = grad_out_for(ours(*inputs), rng)
    grad_x = ours.backward(grad_out).copy()
    params = named_parameters(ours)
    grads = {p_name: p.grad.copy() for p_name, p in params.items()}

    def loss_at_input(a: np.ndarray) -> float:
        return float(np.sum(ours(a, *inputs[1:]) * grad_out))

    check_numerically(loss_at_input, inputs[0], grad_x, f"{name}: gradient of the input")
    for p_name, p in params.items():
        saved = p.data

        def loss_at(a: np.ndarray, p: Parameter = p) -> float:
            p.data = a
            return float(np.sum(ours(*inputs) * grad_out))

        try:
            check_numerically(loss_at, saved, grads[p_name], f"{name}: gradient of {p_name}")
        finally:
            p.data = saved


def check_layer_against_torch(layer: Layer, case: dict) -> None:
    for name, ours, theirs, inputs, rng in _steps(layer, case):
        check_layer_step(name, ours, theirs, inputs, rng)


def check_layer_equals_pair(layer: Layer, case: dict) -> None:
    for name, ours, _, inputs, rng in _steps(layer, case):
        check_step_equals_pair(layer, name, ours, inputs, rng)


def check_layer_finite_differences(layer: Layer, case: dict) -> None:
    """In training mode, and in evaluation mode too for a layer with running statistics."""
    rng = np.random.default_rng(case["seed"])
    ours, _ = layer.build(case, rng)
    for mode in ["train", "eval"] if named_buffers(ours) else ["train"]:
        training = mode == "train"
        ours.train(training)
        inputs = layer.inputs(case, rng, training)
        check_step_finite_differences(f"{layer.name}, {mode}", ours, inputs, rng)
