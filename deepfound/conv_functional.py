"""2-D convolution and its gradient, as PyTorch computes them: the pair under the conv layer.

Every function here is importable from :mod:`deepfound.conv`, which holds the layer
and where the book teaches both.
"""

from __future__ import annotations

import numpy as np

from deepfound._checks import as_floats, as_image, check_int
from deepfound.im2col import col2im, im2col, output_size, pad_channels_last, window_rows


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

    ``scatter`` adds the windows' gradients back onto the image: :func:`~deepfound.im2col.col2im`
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
