"""Pooling: the maximum or the mean of each window, and the layers that end a CNN.

``max_pool2d`` and ``avg_pool2d`` follow ``torch.nn.functional.max_pool2d``
and ``avg_pool2d`` without padding: windows of
``kernel_size × kernel_size`` every ``stride`` pixels (the kernel size unless
given). Each function and its gradient loop over the ``k * k`` offsets in the
window, one strided slice of the whole batch at a time, never over pixels.
:func:`global_avg_pool` averages the whole image. Each layer is a thin module
over its pair. Everything here is importable from :mod:`deepfound.conv` too. As
there, images are floating point: nested lists become float64, integer arrays are refused.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from deepfound._checks import as_floats, as_image, check_int
from deepfound.im2col import output_size
from deepfound.nn import Module


def _geometry(
    name: str, x: np.ndarray, kernel_size, stride, ceil_mode: bool = False
) -> tuple[int, int, int]:
    """(stride, oh, ow) after checking the arguments; ``ValueError`` naming the shapes."""
    check_int(name, "kernel_size", kernel_size, 1)
    stride = kernel_size if stride is None else stride
    check_int(name, "stride", stride, 1)
    if not isinstance(ceil_mode, (bool, np.bool_)):
        raise ValueError(f"{name}: ceil_mode must be True or False, got {ceil_mode!r}")
    h, w = x.shape[2:]
    size = _ceil_size if ceil_mode else output_size
    oh, ow = size(h, kernel_size, stride), size(w, kernel_size, stride)
    # Not one window: the kernel is larger than the image (with ceil_mode, by a stride or more).
    if min(oh, ow) < 1:
        raise ValueError(
            f"{name}: kernel {(kernel_size, kernel_size)} larger than the image {(h, w)} "
            f"of the input {x.shape}"
        )
    return stride, oh, ow


def _ceil_size(size: int, kernel_size: int, stride: int) -> int:
    """Windows along an axis when a last, partial one counts: ``ceil((size - k) / stride) + 1``.

    As in PyTorch, a last window that would start past the input's end is dropped.
    """
    n = -(-(size - kernel_size) // stride) + 1
    return n - 1 if (n - 1) * stride >= size else n


def _edge_windows(x: np.ndarray, kernel_size: int, stride: int, oh: int, ow: int):
    """``x`` padded with zeros under partial windows, and each window's count of its pixels.

    The count is ``kernel_size * kernel_size``, a number, when every window lies inside
    ``x``, and ``x`` is returned as it is: the arithmetic of whole windows is unchanged.
    """
    h, w = x.shape[2:]
    held = [
        np.minimum(starts + kernel_size, size) - starts
        for size, starts in ((h, stride * np.arange(oh)), (w, stride * np.arange(ow)))
    ]
    if min(held[0].min(), held[1].min()) == kernel_size:
        return x, kernel_size * kernel_size
    ph, pw = max(h, stride * (oh - 1) + kernel_size), max(w, stride * (ow - 1) + kernel_size)
    padded = np.zeros((*x.shape[:2], ph, pw), x.dtype)
    padded[:, :, :h, :w] = x
    return padded, np.outer(*held).astype(x.dtype)


def _offsets(kernel_size: int, stride: int, oh: int, ow: int):
    """For each offset in the window, in reading order, the index of that pixel of every window."""
    for ky in range(kernel_size):
        for kx in range(kernel_size):
            rows, cols = slice(ky, ky + stride * oh, stride), slice(kx, kx + stride * ow, stride)
            yield slice(None), slice(None), rows, cols


def _check_grad_out(name: str, x: np.ndarray, grad_out, oh: int, ow: int) -> None:
    if np.shape(grad_out) != (*x.shape[:2], oh, ow):
        raise ValueError(
            f"{name}: grad_out of shape {(*x.shape[:2], oh, ow)} (the output's) expected, "
            f"got {np.shape(grad_out)}"
        )


def max_pool2d(x: np.ndarray, kernel_size: int, stride: int | None = None) -> np.ndarray:
    """Largest value of each ``kernel_size × kernel_size`` window of ``x`` (n, c, h, w).

    Examples
    --------
    >>> max_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 5.,  7.],
             [13., 15.]]]])
    """
    x = as_image("max_pool2d", x)
    stride, oh, ow = _geometry("max_pool2d", x, kernel_size, stride)
    out = None
    for window_pixel in _offsets(kernel_size, stride, oh, ow):
        out = x[window_pixel].copy() if out is None else np.maximum(out, x[window_pixel], out=out)
    return out


def max_pool2d_grad(
    x: np.ndarray, grad_out: np.ndarray, kernel_size: int, stride: int | None = None
) -> np.ndarray:
    """Gradient of :func:`max_pool2d`: each window's ``grad_out`` goes to its largest pixel.

    Where a window holds its maximum twice, the first in reading order gets the
    gradient, as in PyTorch. Overlapping windows add up.

    Examples
    --------
    >>> x = np.array([[[[1.0, 3.0], [3.0, 0.0]]]])
    >>> max_pool2d_grad(x, np.array([[[[10.0]]]]), 2)
    array([[[[ 0., 10.],
             [ 0.,  0.]]]])
    """
    x, grad_out = as_image("max_pool2d_grad", x), as_floats("max_pool2d_grad", "grad_out", grad_out)
    stride, oh, ow = _geometry("max_pool2d_grad", x, kernel_size, stride)
    _check_grad_out("max_pool2d_grad", x, grad_out, oh, ow)
    out = max_pool2d(x, kernel_size, stride)
    grad = np.zeros_like(x, dtype=np.result_type(x, grad_out))
    unclaimed = np.ones(out.shape, bool)  # windows whose maximum has not been found yet
    for window_pixel in _offsets(kernel_size, stride, oh, ow):
        is_max = (x[window_pixel] == out) & unclaimed
        grad[window_pixel] += np.where(is_max, grad_out, 0)
        unclaimed &= ~is_max
    return grad


def avg_pool2d(
    x: np.ndarray, kernel_size: int, stride: int | None = None, *, ceil_mode: bool = False
) -> np.ndarray:
    """Mean of each ``kernel_size × kernel_size`` window of ``x`` (n, c, h, w).

    With ``ceil_mode``, pixels at the right and bottom edges too few for a whole window
    make a partial one, which averages only the pixels it holds (PyTorch's
    ``ceil_mode=True`` without padding; a window must start inside the image).

    Examples
    --------
    >>> avg_pool2d(np.arange(16.0).reshape(1, 1, 4, 4), 2)
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]])
    >>> avg_pool2d(np.arange(9.0).reshape(1, 1, 3, 3), 2, ceil_mode=True)
    array([[[[2. , 3.5],
             [6.5, 8. ]]]])
    """
    x = as_image("avg_pool2d", x)
    stride, oh, ow = _geometry("avg_pool2d", x, kernel_size, stride, ceil_mode)
    x, count = _edge_windows(x, kernel_size, stride, oh, ow)
    out = np.zeros((*x.shape[:2], oh, ow), x.dtype)
    for window_pixel in _offsets(kernel_size, stride, oh, ow):
        out += x[window_pixel]
    out /= count
    return out


def avg_pool2d_grad(
    x: np.ndarray,
    grad_out: np.ndarray,
    kernel_size: int,
    stride: int | None = None,
    *,
    ceil_mode: bool = False,
) -> np.ndarray:
    """Gradient of :func:`avg_pool2d`: each pixel gets ``grad_out / k²`` from each window it is in.

    A partial window of ``ceil_mode`` shares its ``grad_out`` among the pixels it holds.

    Examples
    --------
    >>> avg_pool2d_grad(np.zeros((1, 1, 2, 2)), np.array([[[[4.0]]]]), 2)
    array([[[[1., 1.],
             [1., 1.]]]])
    >>> avg_pool2d_grad(np.zeros((1, 1, 1, 3)), np.array([[[[2.0, 4.0]]]]), 1, 2, ceil_mode=True)
    array([[[[2., 0., 4.]]]])
    """
    x, grad_out = as_image("avg_pool2d_grad", x), as_floats("avg_pool2d_grad", "grad_out", grad_out)
    stride, oh, ow = _geometry("avg_pool2d_grad", x, kernel_size, stride, ceil_mode)
    _check_grad_out("avg_pool2d_grad", x, grad_out, oh, ow)
    padded, count = _edge_windows(x, kernel_size, stride, oh, ow)
    share = grad_out / count
    grad = np.zeros_like(padded, dtype=share.dtype)
    for window_pixel in _offsets(kernel_size, stride, oh, ow):
        grad[window_pixel] += share
    return grad if padded is x else grad[:, :, : x.shape[2], : x.shape[3]]


class _Pool(Module):
    """A pooling layer: window size, stride, pooling function and its gradient, and ``repr``."""

    _pool: Callable[..., np.ndarray]
    _pool_grad: Callable[..., np.ndarray]

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        check_int(type(self).__name__, "kernel_size", kernel_size, 1)
        if stride is not None:
            check_int(type(self).__name__, "stride", stride, 1)
        self.kernel_size, self.stride = kernel_size, stride

    def _options(self) -> dict:
        """Keyword arguments of the pooling function beyond the window's size and stride."""
        return {}

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self._pool(x, self.kernel_size, self.stride, **self._options())

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        return self._pool_grad(x, grad_out, self.kernel_size, self.stride, **self._options())

    def __repr__(self) -> str:
        stride = "" if self.stride is None else f", stride={self.stride}"
        options = "".join(f", {key}={value}" for key, value in self._options().items() if value)
        return f"{type(self).__name__}({self.kernel_size}{stride}{options})"


class MaxPool2d(_Pool):
    """:func:`max_pool2d` as a layer, windows of ``kernel_size`` every ``stride`` pixels.

    Examples
    --------
    >>> pool = MaxPool2d(2)
    >>> pool(np.zeros((3, 8, 28, 28))).shape, pool.backward(np.ones((3, 8, 14, 14))).shape
    ((3, 8, 14, 14), (3, 8, 28, 28))
    """

    _pool, _pool_grad = staticmethod(max_pool2d), staticmethod(max_pool2d_grad)


class AvgPool2d(_Pool):
    """:func:`avg_pool2d` as a layer, windows of ``kernel_size`` every ``stride`` pixels.

    With ``ceil_mode``, a partial window at the right and bottom edges averages the
    pixels it holds.

    Examples
    --------
    >>> pool = AvgPool2d(2)
    >>> pool(np.ones((1, 1, 4, 4)))
    array([[[[1., 1.],
             [1., 1.]]]])
    >>> AvgPool2d(2, ceil_mode=True)(np.ones((1, 1, 5, 5))).shape
    (1, 1, 3, 3)
    """

    _pool, _pool_grad = staticmethod(avg_pool2d), staticmethod(avg_pool2d_grad)

    def __init__(
        self, kernel_size: int, stride: int | None = None, *, ceil_mode: bool = False
    ) -> None:
        super().__init__(kernel_size, stride)
        if not isinstance(ceil_mode, (bool, np.bool_)):
            raise ValueError(f"AvgPool2d: ceil_mode must be True or False, got {ceil_mode!r}")
        self.ceil_mode = ceil_mode

    def _options(self) -> dict:
        return {"ceil_mode": self.ceil_mode}


def global_avg_pool(x: np.ndarray) -> np.ndarray:
    """Mean of each channel over the whole image: (n, c, h, w) → (n, c), for any h and w.

    Examples
    --------
    >>> global_avg_pool(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[1.5, 5.5]])
    """
    x = as_image("global_avg_pool", x)
    return x.mean((2, 3))


def global_avg_pool_grad(x: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """Gradient of :func:`global_avg_pool`: each pixel gets ``grad_out / (h * w)`` of its channel.

    The result is channels last in memory, as a convolution's output is, so that
    the backward pass of a convolution before it needs no copy.

    Examples
    --------
    >>> global_avg_pool_grad(np.zeros((1, 2, 2, 2)), np.array([[4.0, 8.0]]))[0, 1]
    array([[2., 2.],
           [2., 2.]])
    """
    x = as_image("global_avg_pool_grad", x)
    grad_out = as_floats("global_avg_pool_grad", "grad_out", grad_out)
    n, c, h, w = x.shape
    if np.shape(grad_out) != (n, c):
        raise ValueError(
            f"global_avg_pool_grad: grad_out of shape {(n, c)} expected, got {np.shape(grad_out)}"
        )
    grad = np.empty((n, h, w, c), np.result_type(grad_out.dtype, x.dtype))
    grad[...] = (grad_out / (h * w))[:, None, None, :]
    return grad.transpose(0, 3, 1, 2)


class GlobalAvgPool(Module):
    """:func:`global_avg_pool` as a layer: (n, c, h, w) → (n, c), for any h and w.

    Examples
    --------
    >>> gap = GlobalAvgPool()
    >>> gap(np.arange(8.0).reshape(1, 2, 2, 2))
    array([[1.5, 5.5]])
    >>> gap.backward(np.array([[4.0, 8.0]]))[0, 1]
    array([[2., 2.],
           [2., 2.]])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return global_avg_pool(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        return global_avg_pool_grad(x, grad_out)

    def __repr__(self) -> str:
        return "GlobalAvgPool()"
