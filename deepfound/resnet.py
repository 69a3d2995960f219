"""The residual block of ResNet, and the small ResNet the book trains on MNIST.

A :class:`ResBlock` computes ``relu(main(x) + shortcut(x))``: the main path is two
3×3 convolutions with batch normalization, the shortcut the identity (or, when the
block changes the number of channels or the image size, a 1×1 convolution with
batch normalization). Its backward pass sends the output's gradient down both
paths and adds what comes back: through the identity, the gradient reaches the
input unchanged, whatever the main path does to it.

The layer names are PyTorch's (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``shortcut``),
so weights copy to and from an equivalent ``torch.nn.Module`` attribute by attribute.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from deepfound._checks import check_image, check_int
from deepfound.conv import AvgPool2d, Conv2d, GlobalAvgPool
from deepfound.functional import relu_grad
from deepfound.nn import Linear, Module, ReLU, Sequential
from deepfound.norm import BatchNorm2d

__all__ = ["ResBlock", "conv_bn", "resnet"]


def _relu_(x: np.ndarray) -> np.ndarray:
    """ReLU in place, on an array the block has just made: a copy would cost as much again."""
    return np.maximum(x, 0, out=x)


class ResBlock(Module):
    """Basic residual block: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``.

    Parameters
    ----------
    c_in, c_out : int
        Channels of the input and of the output.
    stride : int
        Stride of ``conv1`` (and of the shortcut's convolution): 2 halves the image.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the convolutions' weights.
    zero_init : bool
        Start ``bn2``'s scale at zero, so that the main path adds nothing at first and
        the block passes ``relu(shortcut(x))`` on: a deep network starts as a shallow one.
    pool_shortcut : bool
        A non-identity shortcut that averages each ``stride × stride`` window
        (:class:`~deepfound.pool.AvgPool2d` with ``ceil_mode``) before its 1×1
        convolution of stride 1, as ResNet-D: a strided 1×1 convolution reads one pixel
        in ``stride²`` and ignores the others.
    dtype : dtype, optional
        Of every parameter; float32 unless given.

    Attributes
    ----------
    conv1, bn1, conv2, bn2 : deepfound.conv.Conv2d and deepfound.norm.BatchNorm2d
        The main path; the convolutions are 3×3 with padding 1 and no bias (the
        batch normalization after each has a shift of its own).
    shortcut : deepfound.nn.Sequential or None
        ``None`` (the identity) when ``c_in == c_out`` and ``stride == 1``, else
        ``Sequential(Conv2d(c_in, c_out, 1, stride=stride, bias=False), BatchNorm2d(c_out))``,
        which brings the input to the output's shape; with ``pool_shortcut``,
        ``Sequential(AvgPool2d(stride, ceil_mode=True), Conv2d(c_in, c_out, 1, bias=False),
        BatchNorm2d(c_out))``, the pooling only when ``stride > 1``.

    Examples
    --------
    >>> block = ResBlock(16, 32, stride=2, rng=0)
    >>> block
    ResBlock(16, 32, stride=2)
    >>> block.shortcut
    Sequential(Conv2d(16, 32, 1, stride=2, bias=False), BatchNorm2d(32))
    >>> x = np.random.default_rng(0).standard_normal((4, 16, 14, 14)).astype(np.float32)
    >>> out = block(x)
    >>> out.shape, bool((out >= 0).all())
    ((4, 32, 7, 7), True)
    >>> block.backward(np.ones_like(out)).shape
    (4, 16, 14, 14)
    >>> ResBlock(8, 8, rng=0).shortcut is None
    True
    >>> ResBlock(16, 32, stride=2, rng=0, pool_shortcut=True).shortcut
    Sequential(AvgPool2d(2, ceil_mode=True), Conv2d(16, 32, 1, bias=False), BatchNorm2d(32))
    >>> ResBlock(8, 8, rng=0, zero_init=True).bn2.weight.data[:3]
    array([0., 0., 0.], dtype=float32)
    >>> block(np.zeros((4, 8, 14, 14), np.float32))
    Traceback (most recent call last):
    ValueError: ResBlock: input of shape (n, 16, h, w) expected ... got (4, 8, 14, 14)
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        stride: int = 1,
        rng=None,
        zero_init: bool = False,
        pool_shortcut: bool = False,
        dtype=np.float32,
    ):
        for label, value in (("c_in", c_in), ("c_out", c_out), ("stride", stride)):
            check_int("ResBlock", label, value, 1)
        for label, value in (("zero_init", zero_init), ("pool_shortcut", pool_shortcut)):
            if not isinstance(value, (bool, np.bool_)):
                raise ValueError(f"ResBlock: {label} must be True or False, got {value!r}")
        rng = np.random.default_rng(rng)
        self.conv1 = Conv2d(
            c_in, c_out, 3, stride=stride, padding=1, bias=False, rng=rng, dtype=dtype
        )
        self.bn1 = BatchNorm2d(c_out, dtype=dtype)
        self.conv2 = Conv2d(c_out, c_out, 3, padding=1, bias=False, rng=rng, dtype=dtype)
        self.bn2 = BatchNorm2d(c_out, dtype=dtype)
        if zero_init:
            self.bn2.weight.data[...] = 0
        self.shortcut = None
        if (c_in != c_out or stride != 1) and pool_shortcut:
            pool = [AvgPool2d(stride, ceil_mode=True)] if stride > 1 else []
            self.shortcut = Sequential(
                *pool,
                Conv2d(c_in, c_out, 1, bias=False, rng=rng, dtype=dtype),
                BatchNorm2d(c_out, dtype=dtype),
            )
        elif c_in != c_out or stride != 1:
            self.shortcut = Sequential(
                Conv2d(c_in, c_out, 1, stride=stride, bias=False, rng=rng, dtype=dtype),
                BatchNorm2d(c_out, dtype=dtype),
            )
        self.c_in, self.c_out, self.stride = c_in, c_out, stride
        self.zero_init, self.pool_shortcut = zero_init, pool_shortcut

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_image("ResBlock", x)
        if x.shape[1] != self.c_in:
            raise ValueError(
                f"ResBlock: input of shape (n, {self.c_in}, h, w) expected for {self!r}, "
                f"got {x.shape}"
            )
        # bn1's backward needs its input, not its output: the ReLU may overwrite the output.
        hidden = _relu_(self.bn1(self.conv1(x)))
        self.save(hidden=hidden)
        main = self.bn2(self.conv2(hidden))
        skip = x if self.shortcut is None else self.shortcut(x)
        return _relu_(main + skip)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        if np.shape(grad_out) != self.out.shape:
            raise ValueError(
                f"ResBlock: grad_out of shape {self.out.shape} (the output's) expected, "
                f"got {np.shape(grad_out)}"
            )
        # ReLU's gradient from its output: out > 0 exactly where the input was positive.
        grad = relu_grad(self.out, grad_out)
        # The sum sends the same gradient down both paths; the input's gradient adds them.
        grad_main = self.conv2.backward(self.bn2.backward(grad))
        grad_main = self.conv1.backward(
            self.bn1.backward(relu_grad(self.saved["hidden"], grad_main))
        )
        grad_skip = grad if self.shortcut is None else self.shortcut.backward(grad)
        grad_main += grad_skip
        return grad_main

    def __repr__(self) -> str:
        options = f", stride={self.stride}" if self.stride != 1 else ""
        options += ", zero_init=True" if self.zero_init else ""
        options += ", pool_shortcut=True" if self.pool_shortcut else ""
        return f"ResBlock({self.c_in}, {self.c_out}{options})"


def conv_bn(c_in: int, c_out: int, *, stride: int = 1, rng=None, dtype=np.float32) -> list[Module]:
    """3×3 convolution (padding 1, no bias), batch normalization, ReLU: a plain CNN's layer.

    Examples
    --------
    >>> conv_bn(1, 8, stride=2, rng=0)
    [Conv2d(1, 8, 3, stride=2, padding=1, bias=False), BatchNorm2d(8), ReLU()]
    """
    conv = Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, rng=rng, dtype=dtype)
    return [conv, BatchNorm2d(c_out, dtype=dtype), ReLU()]


def resnet(
    widths: Sequence[int] = (16, 32, 64),
    blocks: int = 1,
    n_classes: int = 10,
    *,
    c_in: int = 1,
    stem_stride: int = 1,
    residual: bool = True,
    rng=None,
    zero_init: bool = False,
    pool_shortcut: bool = False,
    dtype=np.float32,
) -> Sequential:
    """A small ResNet: a stem, a stage of blocks per width, global average pooling, a linear head.

    The stem is :func:`conv_bn` from ``c_in`` to ``widths[0]`` channels. Stage ``i``
    holds ``blocks`` :class:`ResBlock`\\ s of ``widths[i]`` channels; the first block of
    every stage after the first has stride 2, halving the image as it widens it.
    With ``residual=False`` each block is replaced by its main path alone, two
    :func:`conv_bn` layers: a *plain* network of the same depth and the same
    convolutions, without the shortcuts.

    Parameters
    ----------
    widths : tuple of int
        Channels of each stage.
    blocks : int
        Blocks per stage.
    n_classes : int
        Outputs of the linear head.
    c_in : int
        Channels of the input images.
    stem_stride : int
        Stride of the stem: 2 halves the image before the first stage.
    residual : bool
        Residual blocks (the default), or the plain network of the same depth.
    rng : int or numpy.random.Generator, optional
        Seed or generator for every weight.
    zero_init, pool_shortcut : bool
        Passed to every :class:`ResBlock`; a plain network (``residual=False``) has
        neither, and refuses them.
    dtype : dtype, optional
        Of every parameter; float32 unless given.

    Returns
    -------
    deepfound.nn.Sequential
        The network: stem, blocks, :class:`~deepfound.pool.GlobalAvgPool`, linear head.

    Examples
    --------
    >>> model = resnet((8, 16), blocks=1, rng=0)
    >>> model.layers[3:]
    [ResBlock(8, 8), ResBlock(8, 16, stride=2), GlobalAvgPool(), Linear(16, 10)]
    >>> model(np.zeros((2, 1, 28, 28), np.float32)).shape
    (2, 10)
    >>> len(resnet((8, 16), residual=False, rng=0).layers)  # stem, 2 x 2 conv_bn, pool, head
    17
    """
    check_int("resnet", "blocks", blocks, 1)
    if len(widths) < 1:
        raise ValueError(f"resnet: at least one width needed, got {widths!r}")
    if not residual and (zero_init or pool_shortcut):
        raise ValueError(
            "resnet: zero_init and pool_shortcut change residual blocks; "
            "a plain network (residual=False) has none"
        )
    rng = np.random.default_rng(rng)
    # The stem's input is the data: it needs no gradient with respect to it.
    layers = conv_bn(c_in, widths[0], stride=stem_stride, rng=rng, dtype=dtype)
    layers[0].input_grad = False
    width = widths[0]
    for i, c_out in enumerate(widths):
        for b in range(blocks):
            stride = 2 if i > 0 and b == 0 else 1
            if residual:
                options = dict(zero_init=zero_init, pool_shortcut=pool_shortcut)
                layers.append(
                    ResBlock(width, c_out, stride=stride, rng=rng, **options, dtype=dtype)
                )
            else:
                layers += conv_bn(width, c_out, stride=stride, rng=rng, dtype=dtype)
                layers += conv_bn(c_out, c_out, rng=rng, dtype=dtype)
            width = c_out
    return Sequential(*layers, GlobalAvgPool(), Linear(width, n_classes, rng=rng, dtype=dtype))
