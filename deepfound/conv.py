"""2-D convolution, forward and backward, as PyTorch computes it, and the layers of a CNN.

Images are NCHW arrays of floating-point numbers (a nested list becomes float64; an
integer array is refused, as its arithmetic would overflow); a weight is
(c_out, c_in, kh, kw); "convolution" is the cross-correlation of
``torch.nn.functional.conv2d``:

``out[i, o, y, x] = bias[o] + sum over (c, ky, kx) of
weight[o, c, ky, kx] * padded[i, c, y * stride + ky, x * stride + kx]``.

:func:`conv2d_loops` computes it by the definition; :func:`conv2d` computes it as
one matrix product of the windows (:func:`~deepfound.im2col.im2col`) with the
kernels, and :func:`conv2d_grad` runs the product backwards and scatters the
windows' gradients back onto the image (:func:`~deepfound.im2col.col2im`). The
outputs and the input gradients are NCHW arrays whose memory is laid out
channels last, which is what the matrix products give without a copy.

The functions are written in ``deepfound.conv_functional``, the layer
:class:`Conv2d` here; the pooling functions and the layers that end a CNN live in
:mod:`deepfound.pool`. All are importable from here.
"""

from __future__ import annotations

import numpy as np

from deepfound._checks import as_image, check_int
from deepfound.conv_functional import (
    _check,
    conv2d,
    conv2d_grad,
    conv2d_grad_of_windows,
    conv2d_loops,
    conv2d_of_windows,
)
from deepfound.im2col import (
    _col2im_by_phases,
    _window_rows_by_offsets,
    output_size,
    pad_channels_last,
    window_rows,
)
from deepfound.init import kaiming_normal
from deepfound.nn import Flatten, Module, Parameter, is_grad_enabled, shared_scratch
from deepfound.pool import (
    AvgPool2d,
    GlobalAvgPool,
    MaxPool2d,
    avg_pool2d,
    avg_pool2d_grad,
    global_avg_pool,
    global_avg_pool_grad,
    max_pool2d,
    max_pool2d_grad,
)

__all__ = [
    "AvgPool2d",
    "Conv2d",
    "Flatten",
    "GlobalAvgPool",
    "MaxPool2d",
    "avg_pool2d",
    "avg_pool2d_grad",
    "conv2d",
    "conv2d_grad",
    "conv2d_grad_of_windows",
    "conv2d_loops",
    "conv2d_of_windows",
    "global_avg_pool",
    "global_avg_pool_grad",
    "max_pool2d",
    "max_pool2d_grad",
    "output_size",
]


class Conv2d(Module):
    """Convolution layer, weight (c_out, c_in, k, k) Kaiming-initialized, bias zero.

    Parameters
    ----------
    c_in, c_out : int
        Input and output channels.
    kernel_size : int
        Height and width of the kernels.
    stride, padding : int
        As in :func:`conv2d`.
    bias : bool
        Whether the layer has a bias (a layer followed by batch normalization needs none).
    rng : int or numpy.random.Generator, optional
        Seed or generator for the weight.
    dtype : dtype
        Of the weight and the bias; float32 unless given.
    input_grad : bool, optional
        If false, :meth:`backward` skips the gradient with respect to the input and
        returns ``None``, as :class:`~deepfound.nn.Linear` does for a first layer.

    Notes
    -----
    The weight is drawn by :func:`~deepfound.init.kaiming_normal` with
    ``fan_in = c_in * k * k``: each output sums that many products.

    The layer computes :func:`conv2d` and :func:`conv2d_grad`, with two differences
    in how, none in what. It makes its windows (the im2col matrix) once per call
    and keeps them in ``.saved`` for the backward pass, instead of making them again
    there; their memory, and the padded input's, is the layer's ``.scratch``, reused
    from call to call. And its backward pass adds the windows' gradients back with
    ``_col2im_by_phases``, whose sums equal :func:`~deepfound.im2col.col2im`'s; a
    one-channel input's windows are copied by ``_window_rows_by_offsets``.
    All three were measured to pay, on the training steps of chapters 07 and 10
    (``tests/compare_revisions.py``). Under :func:`~deepfound.nn.no_grad` the layer
    keeps nothing: layers of the same geometry share one pair of buffers
    (:func:`~deepfound.nn.shared_scratch`) until the block ends.

    Examples
    --------
    >>> conv = Conv2d(1, 8, 3, stride=2, padding=1, rng=0)
    >>> conv.weight.data.shape, conv.bias.data.shape
    ((8, 1, 3, 3), (8,))
    >>> out = conv(np.zeros((5, 1, 28, 28), np.float32))
    >>> out.shape, conv.backward(np.ones_like(out)).shape
    ((5, 8, 14, 14), (5, 1, 28, 28))
    >>> conv
    Conv2d(1, 8, 3, stride=2, padding=1)
    """

    def __init__(
        self,
        c_in: int,
        c_out: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
        rng=None,
        dtype=np.float32,
        input_grad: bool = True,
    ) -> None:
        for label, value in (("c_in", c_in), ("c_out", c_out), ("kernel_size", kernel_size)):
            check_int("Conv2d", label, value, 1)
        check_int("Conv2d", "stride", stride, 1)
        check_int("Conv2d", "padding", padding, 0)
        k = kernel_size
        w = kaiming_normal(c_in * k * k, c_out, rng=rng, dtype=dtype)
        self.weight = Parameter(np.ascontiguousarray(w.T).reshape(c_out, c_in, k, k))
        self.bias = Parameter(np.zeros(c_out, dtype)) if bias else None
        self.stride, self.padding, self.input_grad = stride, padding, input_grad
        self.scratch = {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        x, w = as_image("Conv2d", x), self.weight.data
        oh, ow = _check("Conv2d", x, w, self.stride, self.padding)
        # The padded input and the windows are scratch memory, reused from call to call: the
        # layer's own while backward may read them, else shared with every layer of the same
        # geometry until no_grad ends, so that a deep network holds one copy, not one per layer.
        if is_grad_enabled():
            store, key = self.scratch, "windows"
        else:
            self.scratch.clear()
            store = shared_scratch()
            key = ("Conv2d", x.shape, x.dtype, w.shape[2:], self.stride, self.padding)
        padded, cols = self._windows(x, *store.get(key, (None, None)))
        # Without padding the "padded" image is the input itself, not scratch to keep.
        store[key] = (padded if self.padding else None), cols
        self.save(cols=cols)
        bias = None if self.bias is None else self.bias.data
        return conv2d_of_windows(cols, w, bias, (len(x), oh, ow))

    def _windows(self, x: np.ndarray, padded, cols) -> tuple[np.ndarray, np.ndarray]:
        """The padded input and its windows, written into ``padded`` and ``cols`` if they fit."""
        padded = pad_channels_last(x, self.padding, padded)
        rows = _window_rows_by_offsets if x.shape[1] == 1 else window_rows
        return padded, rows(padded, self.weight.data.shape[2:], self.stride, cols)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        x, w = as_image("Conv2d", self.saved_inputs()[0]), self.weight.data
        oh, ow = _check("Conv2d", x, w, self.stride, self.padding)
        if np.shape(grad_out) != (len(x), len(w), oh, ow):
            raise ValueError(
                f"Conv2d: grad_out of shape {(len(x), len(w), oh, ow)} (the output's) expected, "
                f"got {np.shape(grad_out)}"
            )
        grad_x, self.weight.grad, grad_b = conv2d_grad_of_windows(
            self.saved["cols"],
            x.shape,
            w,
            grad_out,
            self.stride,
            self.padding,
            self.input_grad,
            scatter=_col2im_by_phases,
        )
        if self.bias is not None:
            self.bias.grad = grad_b
        return grad_x

    def __repr__(self) -> str:
        c_out, c_in, k, _ = self.weight.data.shape
        options = [f"stride={self.stride}"] * (self.stride != 1)
        options += [f"padding={self.padding}"] * (self.padding != 0)
        options += ["bias=False"] * (self.bias is None)
        options += ["input_grad=False"] * (not self.input_grad)
        return f"Conv2d({', '.join([str(c_in), str(c_out), str(k), *options])})"
