"""Batch normalization, forward and backward, as ``torch.nn.BatchNorm1d`` and ``BatchNorm2d``.

For each channel, over the ``m`` values it takes in a batch (``m = n`` rows for
:class:`BatchNorm1d`, ``m = n * h * w`` for :class:`BatchNorm2d`):

``x_hat = (x - mean) / sqrt(var + eps)``, ``out = weight * x_hat + bias``,

with the batch's mean and biased variance in training mode, and with the running
averages ``running_mean`` and ``running_var`` in evaluation mode. Each training
step moves the running averages towards the batch's statistics, as PyTorch does:
``new = (1 - momentum) * old + momentum * batch``, the variance taken unbiased
(times ``m / (m - 1)``).

The backward pass in training mode is the compact form derived in the chapter,
``grad_x = weight / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat))``
for the gradient ``g`` of the output, means over the channel's ``m`` values; in
evaluation mode the layer is an affine map, and its gradient is ``g`` times the
map's slope.

:func:`batch_norm` and :func:`batch_norm_grad` are the definition, written as the
math reads. The layers compute the same through a faster path,
:mod:`deepfound.norm_fast`, on the values of a channel as a column of a matrix
(m, c), which is a view of an image whose channels are last in memory (what a
convolution outputs); they output images laid out the same way.

Layer and group normalization, which normalize each example on its own, are written
in ``deepfound.norm_groups`` and importable from here.
"""

from __future__ import annotations

import numpy as np

from deepfound import norm_fast
from deepfound.nn import Module, Parameter
from deepfound.norm_groups import (
    GroupNorm,
    LayerNorm,
    group_norm,
    group_norm_grad,
    layer_norm,
    layer_norm_grad,
    normalize,
    normalize_grad,
)

__all__ = [
    "BatchNorm1d",
    "BatchNorm2d",
    "GroupNorm",
    "LayerNorm",
    "batch_norm",
    "batch_norm_grad",
    "group_norm",
    "group_norm_grad",
    "layer_norm",
    "layer_norm_grad",
    "normalize",
    "normalize_grad",
]


def _channel_axes(x: np.ndarray, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The axes a channel's statistics run over (all but axis 1), and a channel vector's shape."""
    if np.ndim(x) not in (2, 4):
        raise ValueError(
            f"{name}: input of shape (n, c) or (n, c, h, w) expected, got {np.shape(x)}"
        )
    ndim = np.ndim(x)
    return (0, *range(2, ndim)), (1, -1) + (1,) * (ndim - 2)


def batch_norm(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> np.ndarray:
    """Batch normalization as the math reads, arguments as ``torch.nn.functional.batch_norm``'s.

    Channel ``j`` of ``x`` (axis 1 of an (n, c) or (n, c, h, w) array) is normalized over
    its m values, ``x_hat = (x - mean) / sqrt(var + eps)``, then scaled and shifted:
    ``weight * x_hat + bias``. In training mode the mean and the biased variance are the
    batch's, and the running averages are updated in place, the variance unbiased; in
    evaluation mode the running averages are used. This is the definition the layers'
    faster forms are tested against.

    Examples
    --------
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> mean, var = np.zeros(2), np.ones(2)
    >>> batch_norm(x, mean, var, np.ones(2), np.zeros(2), training=True, eps=0.0)
    array([[-1., -1.],
           [ 1.,  1.]])
    >>> mean, var
    (array([0.2, 2. ]), array([ 1.1, 20.9]))
    """
    axes, shape = _channel_axes(x, "batch_norm")
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        m = x.size // x.shape[1]
        if m < 2:
            raise ValueError(f"batch_norm: one value per channel (input {x.shape}) has no variance")
        running_mean += momentum * (mean - running_mean)
        running_var += momentum * (var * m / (m - 1) - running_var)
    else:
        mean, var = running_mean, running_var
    x_hat = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape) + eps)
    return weight.reshape(shape) * x_hat + bias.reshape(shape)


def batch_norm_grad(
    x: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray,
    grad_out: np.ndarray,
    training: bool = False,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batch_norm` with respect to ``x``, ``weight`` and ``bias``.

    With ``g`` the output's gradient and means over each channel's m values:
    ``grad_bias = sum(g)``, ``grad_weight = sum(g * x_hat)``, and in training mode, where
    the mean and the variance depend on ``x`` too,
    ``grad_x = weight / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g * x_hat))``;
    in evaluation mode ``grad_x = g * weight / sqrt(var + eps)``. The running averages are
    read (in evaluation mode), never updated.

    Examples
    --------
    >>> x, g = np.array([[1.0], [3.0]]), np.array([[1.0], [0.0]])
    >>> stats, weight = (np.zeros(1), np.ones(1)), np.ones(1)
    >>> batch_norm_grad(x, *stats, weight, g, training=True, eps=0.0)
    (array([[0.],
           [0.]]), array([-1.]), array([1.]))
    """
    axes, shape = _channel_axes(x, "batch_norm_grad")
    if np.shape(grad_out) != np.shape(x):
        raise ValueError(
            f"batch_norm_grad: grad_out of shape {np.shape(x)} (the output's) expected, "
            f"got {np.shape(grad_out)}"
        )
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
    else:
        mean, var = running_mean, running_var
    inv_std = 1 / np.sqrt(var.reshape(shape) + eps)
    x_hat = (x - mean.reshape(shape)) * inv_std
    grad_bias = grad_out.sum(axis=axes)
    grad_weight = (grad_out * x_hat).sum(axis=axes)
    slope = weight.reshape(shape) * inv_std
    if not training:
        return grad_out * slope, grad_weight, grad_bias
    g_mean = grad_out.mean(axis=axes, keepdims=True)
    gx_mean = (grad_out * x_hat).mean(axis=axes, keepdims=True)
    return slope * (grad_out - g_mean - x_hat * gx_mean), grad_weight, grad_bias


class _BatchNorm(Module):
    _shape = ""  # the input's shape, for error messages

    def __init__(
        self, n_features: int, *, eps: float = 1e-5, momentum: float = 0.1, dtype=np.float32
    ) -> None:
        name = type(self).__name__
        if isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer)):
            raise ValueError(f"{name}: n_features must be an integer, got {n_features!r}")
        if n_features < 1:
            raise ValueError(f"{name}: n_features must be at least 1, got {n_features}")
        if not 0 <= momentum <= 1:
            raise ValueError(f"{name}: momentum must lie in [0, 1], got {momentum}")
        if not eps >= 0:
            raise ValueError(f"{name}: eps must be at least 0, got {eps}")
        self.weight = Parameter(np.ones(n_features, dtype))
        self.bias = Parameter(np.zeros(n_features, dtype))
        self.running_mean = np.zeros(n_features, dtype)
        self.running_var = np.ones(n_features, dtype)
        self.eps, self.momentum = eps, momentum

    def _rows(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a matrix (m, c), one column per channel, after checking its shape."""
        c = len(self.running_mean)
        ndim = self._shape.count(",") + 1
        if np.ndim(x) != ndim or x.shape[1] != c:
            raise ValueError(
                f"{type(self).__name__}: input of shape {self._shape.format(c=c)} expected, "
                f"got {np.shape(x)}"
            )
        return x if ndim == 2 else x.transpose(0, 2, 3, 1).reshape(-1, c)

    def _image(self, wide: np.ndarray, shape: tuple) -> np.ndarray:
        """A wide matrix back in the input's shape (for images, NCHW with channels last)."""
        if len(shape) == 2:
            return wide.reshape(shape)
        n, c, h, w = shape
        return wide.reshape(n, h, w, c).transpose(0, 3, 1, 2)

    def forward(self, x: np.ndarray) -> np.ndarray:
        rows = self._rows(x)
        if self.training and len(rows) < 2:
            raise ValueError(
                f"{type(self).__name__}: one value per channel (input {x.shape}) has no "
                "variance: training mode needs at least 2; for a single example, "
                "call .eval() to normalize with the running statistics"
            )
        out, state = norm_fast.forward(
            rows,
            self.weight.data,
            self.bias.data,
            self.running_mean,
            self.running_var,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )
        self.save(**state)
        return self._image(out, x.shape)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        if np.shape(grad_out) != x.shape:
            raise ValueError(
                f"{type(self).__name__}: grad_out of shape {x.shape} (the output's) expected, "
                f"got {np.shape(grad_out)}"
            )
        grad_x, self.weight.grad, self.bias.grad = norm_fast.backward(
            self._rows(x), self._rows(grad_out), self.weight.data, self.saved
        )
        return self._image(grad_x, x.shape)

    def __repr__(self) -> str:
        options = [f"eps={self.eps}"] * (self.eps != 1e-5)
        options += [f"momentum={self.momentum}"] * (self.momentum != 0.1)
        return f"{type(self).__name__}({', '.join([str(len(self.running_mean)), *options])})"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of the c features of rows (n, c), as ``torch.nn.BatchNorm1d``.

    Parameters
    ----------
    n_features : int
        The number of features ``c``.
    eps : float
        Added to the variance before its square root.
    momentum : float
        Weight of the batch's statistics in each update of the running averages.
    dtype : dtype, optional
        Of the parameters and the running statistics; float32 unless given.

    Attributes
    ----------
    weight, bias : deepfound.nn.Parameter
        The scale (ones) and shift (zeros) applied after normalizing, shape (c,).
    running_mean, running_var : ndarray
        Running averages of the batch statistics (zeros and ones at first), shape (c,).

    Examples
    --------
    >>> bn = BatchNorm1d(2)
    >>> out = bn(np.array([[1.0, 10.0], [3.0, 30.0]], np.float32))
    >>> out
    array([[-0.999995, -1.      ],
           [ 0.999995,  1.      ]], dtype=float32)
    >>> bn.running_mean, bn.running_var
    (array([0.2, 2. ], dtype=float32), array([ 1.1, 20.9], dtype=float32))
    >>> bn(np.ones((1, 2), np.float32))
    Traceback (most recent call last):
    ValueError: BatchNorm1d: one value per channel (input (1, 2)) has no variance: ...
    """

    _shape = "(n, {c})"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of each channel of images (n, c, h, w), as ``torch.nn.BatchNorm2d``.

    A channel's statistics are taken over the batch and every pixel: the same
    feature at every position is normalized alike, as the same kernel made it.
    Parameters and attributes as for :class:`BatchNorm1d`, ``n_features`` being the
    number of channels ``c``.

    Examples
    --------
    >>> bn = BatchNorm2d(3)
    >>> x = np.random.default_rng(0).normal(5.0, 2.0, (8, 3, 4, 4)).astype(np.float32)
    >>> out = bn(x)
    >>> out.shape, bool(abs(out.mean()) < 1e-5), bool(abs(out.std() - 1) < 1e-3)
    ((8, 3, 4, 4), True, True)
    >>> bn.eval()(x[:1]).shape  # evaluation mode: any batch size, even one image
    (1, 3, 4, 4)
    >>> bn(np.zeros((8, 4, 4, 4), np.float32))
    Traceback (most recent call last):
    ValueError: BatchNorm2d: input of shape (n, 3, h, w) expected, got (8, 4, 4, 4)
    """

    _shape = "(n, {c}, h, w)"
