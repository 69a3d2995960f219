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

The pooling functions and the layers that end a CNN live in :mod:`deepfound.pool`
and are importable from here too.
"""

from __future__ import annotations

import numpy as np

from deepfound._checks import as_floats, as_image, check_int
from deepfound.im2col import (
    _col2im_by_phases,
    _window_rows_by_offsets,
    col2im,
    im2col,
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
    "conv2d_loops",
    "global_avg_pool",
    "global_avg_pool_grad",
    "max_pool2d",
    "max_pool2d_grad",
    "output_size",
]


def _check(name: str, x: np.ndarray, weight: np.ndarray, stride, padding) -> tuple[int, int]:
    """Output height and width of the convolution; ``ValueError`` naming the shapes if none."""
    _check_weight(name, weight)
    check_int(name, "stride", stride, 1)
    check_int(name, "padding", padding, 0)
    (_, c, h, w), (_, c_w, kh, kw) = x.shape, weight.shape
    if c != c_w:
        raise ValueError(
            f"{name}: input has {c} channels but the weight expects {c_w}: "
            f"input {x.shape}, weight {weight.shape}"
        )
    if kh > h + 2 * padding or kw > w + 2 * padding:
        raise ValueError(
            f"{name}: kernel {(kh, kw)} larger than the padded image "
            f"{(h + 2 * padding, w + 2 * padding)}: input {x.shape}, weight {weight.shape}, "
            f"padding {padding}"
        )
    return output_size(h, kh, stride, padding), output_size(w, kw, stride, padding)


def _check_weight(name: str, weight: np.ndarray) -> None:
    if np.ndim(weight) != 4:
        raise ValueError(
            f"{name}: weight of shape (c_out, c_in, kh, kw) expected, got {np.shape(weight)}"
        )
    c_out, c_in, kh, kw = weight.shape
    if kh == 0 or kw == 0:
        raise ValueError(
            f"{name}: weight has a zero-size kernel {(kh, kw)}: a kernel needs at least one "
            f"row and one column; weight {weight.shape}"
        )
    if c_out == 0 or c_in == 0:
        raise ValueError(
            f"{name}: weight {weight.shape} has no {'input' if c_in == 0 else 'output'} "
            "channels: a convolution needs at least one of each"
        )


def _check_bias(name: str, bias, weight: np.ndarray) -> None:
    if bias is not None and np.shape(bias) != weight.shape[:1]:
        raise ValueError(
            f"{name}: bias of shape ({weight.shape[0]},) expected for a weight of shape "
            f"{weight.shape}, got {np.shape(bias)}"
        )


def _kernel_matrix(weight: np.ndarray) -> np.ndarray:
    """The kernels as a matrix (kh * kw * c_in, c_out), rows in im2col's (ky, kx, c) order."""
    return weight.transpose(2, 3, 1, 0).reshape(-1, weight.shape[0])


def conv2d_loops(
    x: np.ndarray, weight: np.ndarray, bias=None, *, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """:func:`conv2d` by its definition: one dot product per output number, in Python loops.

    Slow, and meant to be: it is the reference the fast version is checked against.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d_loops(x, np.ones((1, 1, 2, 2)))
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """
    x, weight = as_image("conv2d_loops", x), as_floats("conv2d_loops", "weight", weight)
    oh, ow = _check("conv2d_loops", x, weight, stride, padding)
    _check_bias("conv2d_loops", bias, weight)
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    (n, _, _, _), (c_out, _, kh, kw) = x.shape, weight.shape
    out = np.zeros((n, c_out, oh, ow), np.result_type(x, weight))
    for i in range(n):
        for o in range(c_out):
            for oy in range(oh):
                for ox in range(ow):
                    top, left = oy * stride, ox * stride
                    window = padded[i, :, top : top + kh, left : left + kw]
                    out[i, o, oy, ox] = (window * weight[o]).sum()
    if bias is not None:
        out += np.reshape(bias, (1, c_out, 1, 1))
    return out


def conv2d(
    x: np.ndarray, weight: np.ndarray, bias=None, *, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """Convolution of ``x`` (n, c_in, h, w) with ``weight`` (c_out, c_in, kh, kw), plus ``bias``.

    One matrix product: the windows of ``x`` as rows (n * oh * ow, kh * kw * c_in)
    times the kernels as columns (kh * kw * c_in, c_out).

    Returns
    -------
    ndarray
        (n, c_out, oh, ow), ``oh = output_size(h, kh, stride, padding)`` and so for
        ``ow``; channels last in memory.

    Raises
    ------
    ValueError
        For a non-4-D input or weight, a channel mismatch, a kernel larger than
        the padded image or of zero size, no channels, or a stride below 1 or
        padding below 0; the message names the shapes.
    TypeError
        For an input or weight of integers (uint8 pixels, say): convert it first.

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> conv2d(x, np.ones((1, 1, 2, 2)), np.array([0.5]))
    array([[[[ 8.5, 12.5],
             [20.5, 24.5]]]])
    >>> conv2d(x, np.ones((4, 2, 3, 3)))
    Traceback (most recent call last):
    ValueError: conv2d: input has 1 channels but the weight expects 2: input (1, 1, 3, 3), ...
    """
    x, weight = as_image("conv2d", x), as_floats("conv2d", "weight", weight)
    oh, ow = _check("conv2d", x, weight, stride, padding)
    _check_bias("conv2d", bias, weight)
    cols = im2col(x, weight.shape[2:], stride=stride, padding=padding)
    return conv2d_of_windows(cols, weight, bias, (len(x), oh, ow))


def conv2d_of_windows(
    cols: np.ndarray, weight: np.ndarray, bias, size: tuple[int, int, int]
) -> np.ndarray:
    """:func:`conv2d` from the windows ``cols = im2col(x)``: ``cols @ K + bias``, as NCHW.

    ``size`` is (n, oh, ow). :class:`Conv2d` calls it on the windows it keeps.
    """
    out = cols @ _kernel_matrix(weight)
    if bias is not None:
        out += bias
    # c_out given, not -1: an empty batch (n = 0) leaves nothing to infer it from.
    return out.reshape(*size, weight.shape[0]).transpose(0, 3, 1, 2)


def conv2d_grad(
    x: np.ndarray,
    weight: np.ndarray,
    grad_out: np.ndarray,
    *,
    stride: int = 1,
    padding: int = 0,
    input_grad: bool = True,
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`conv2d` with respect to ``x``, ``weight`` and the bias.

    With ``cols = im2col(x)``, ``K`` the kernel matrix and ``G`` the rows of
    ``grad_out`` (n * oh * ow, c_out), the forward pass is ``cols @ K + bias``, so
    ``grad_K = cols.T @ G``, ``grad_bias = G.sum(0)``, and ``grad_cols = G @ K.T``,
    which :func:`~deepfound.im2col.col2im` adds back onto the image: a
    *transposed convolution*. (``grad_cols`` is computed offset by offset, in the
    layout col2im takes.) With stride 1 that sum is computed as the convolution of
    ``grad_out``, padded by ``k - 1 - padding``, with the kernels flipped and their
    input and output channels swapped: one product, and no col2im.

    Parameters
    ----------
    x, weight : ndarray
        The input (n, c_in, h, w) and weight (c_out, c_in, kh, kw) of the forward pass.
    grad_out : ndarray
        Gradient of the loss with respect to the output, (n, c_out, oh, ow).
    stride, padding : int
        As in the forward pass.
    input_grad : bool, optional
        If false, skip ``grad_x`` (``None``), as for a first layer whose input is the data.

    Returns
    -------
    tuple of ndarray
        ``grad_x`` (n, c_in, h, w), ``grad_weight`` (c_out, c_in, kh, kw), ``grad_bias`` (c_out,).

    Examples
    --------
    >>> x = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> grad_x, grad_w, grad_b = conv2d_grad(x, np.ones((1, 1, 2, 2)), np.ones((1, 1, 2, 2)))
    >>> grad_x[0, 0]
    array([[1., 2., 1.],
           [2., 4., 2.],
           [1., 2., 1.]])
    >>> grad_w[0, 0], grad_b
    (array([[ 8., 12.],
           [20., 24.]]), array([4.]))
    """
    x, weight = as_image("conv2d_grad", x), as_floats("conv2d_grad", "weight", weight)
    grad_out = as_floats("conv2d_grad", "grad_out", grad_out)
    oh, ow = _check("conv2d_grad", x, weight, stride, padding)
    expected = (len(x), len(weight), oh, ow)
    if np.shape(grad_out) != expected:
        raise ValueError(
            f"conv2d_grad: grad_out of shape {expected} (the output's) expected, "
            f"got {np.shape(grad_out)}"
        )
    cols = im2col(x, weight.shape[2:], stride=stride, padding=padding)
    return conv2d_grad_of_windows(cols, x.shape, weight, grad_out, stride, padding, input_grad)


def conv2d_grad_of_windows(
    cols, x_shape, weight, grad_out, stride, padding, input_grad, scatter=None
):
    """:func:`conv2d_grad` from the windows ``cols = im2col(x)`` of the forward pass.

    ``scatter`` adds the windows' gradients back onto the image: :func:`col2im`
    unless given (:class:`Conv2d` gives its faster equal, ``_col2im_by_phases``).
    """
    scatter = col2im if scatter is None else scatter
    c_out, c_in, kh, kw = weight.shape
    # Rows of grad_out in im2col's row order; free when grad_out is channels last in memory.
    g = grad_out.transpose(0, 2, 3, 1).reshape(-1, c_out)
    grad_k = g.T @ cols  # (c_out, kh * kw * c_in)
    grad_w = np.ascontiguousarray(grad_k.reshape(c_out, kh, kw, c_in).transpose(0, 3, 1, 2))
    grad_x = None
    if input_grad and stride == 1 and kh == kw and padding <= kh - 1:
        # With stride 1 the scatter is the convolution of grad_out, padded by k - 1 - p, with the
        # kernels flipped and in and out channels swapped: the windows of grad_out and one
        # product, which move less memory than nine products and col2im's nine additions.
        flipped = weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * c_out, c_in)
        rows = window_rows(pad_channels_last(grad_out, kh - 1 - padding), (kh, kw), 1)
        n, _, h, w = x_shape
        grad_x = (rows @ flipped).reshape(n, h, w, c_in).transpose(0, 3, 1, 2)
    elif input_grad:
        # One (c_out, c_in) matrix per offset: each offset's block of grad_cols comes out
        # contiguous, as col2im wants it.
        per_offset = weight.transpose(2, 3, 0, 1).reshape(kh * kw, c_out, c_in)
        grad_x = scatter(g @ per_offset, x_shape, (kh, kw), stride=stride, padding=padding)
    # The bias gradient sums the rows; a matrix-vector product does it faster than g.sum(0),
    # whose loops run over only c_out numbers at a time.
    return grad_x, grad_w, np.ones(len(g), g.dtype) @ g


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
