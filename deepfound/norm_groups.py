"""Layer and group normalization: batch normalization's step over other axes, one example at a time.

Batch normalization standardizes each channel over the batch; these standardize each
example on its own, so that they behave the same in training and evaluation and for
a batch of one:

- :func:`layer_norm` over the example's last dimensions (``normalized_shape``), as
  ``torch.nn.functional.layer_norm``;
- :func:`group_norm` over each group of ``c / num_groups`` channels of an example
  (and all their pixels), as ``torch.nn.functional.group_norm``. With one channel a
  group it is *instance normalization*; with one group, layer normalization of the
  whole example.

Both are :func:`normalize` over their axes, ``x_hat = (x - mean) / sqrt(var + eps)``
with the biased variance, followed by a scale and a shift: the formula of
:func:`~deepfound.norm.batch_norm` in training mode, whose own code is left as it is
so that its rounding, which the chapters' results depend on, does not change. The
gradient of the step, :func:`normalize_grad`, is the compact form of batch
normalization's too, ``(g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps)``.
"""

from __future__ import annotations

import numpy as np

from deepfound._checks import check_int
from deepfound.module import Module, Parameter


def normalize(x: np.ndarray, axes: tuple[int, ...], eps: float = 1e-5) -> np.ndarray:
    """``(x - mean) / sqrt(var + eps)``, mean and biased variance over ``axes``.

    Examples
    --------
    >>> normalize(np.array([[1.0, 3.0], [10.0, 30.0]]), (1,), eps=0.0)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    mean = x.mean(axis=axes, keepdims=True)
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    return (x - mean) / std


def normalize_grad(
    x: np.ndarray, grad_out: np.ndarray, axes: tuple[int, ...], eps: float = 1e-5
) -> np.ndarray:
    """Gradient of :func:`normalize`: ``(g - mean(g) - x_hat * mean(g * x_hat)) / std``.

    ``g`` is ``grad_out``, the means are over ``axes``, and ``std = sqrt(var + eps)``.
    The two means are what the mean and the variance, which depend on every value of
    ``x`` in the group, take back from each one.

    Examples
    --------
    >>> normalize_grad(np.array([[1.0, 3.0]]), np.array([[1.0, 1.0]]), (1,))
    array([[0., 0.]])
    """
    if np.shape(grad_out) != np.shape(x):
        raise ValueError(
            f"normalize_grad: grad_out of shape {np.shape(x)} (the input's) expected, "
            f"got {np.shape(grad_out)}"
        )
    std = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / std
    g_mean = grad_out.mean(axis=axes, keepdims=True)
    gx_mean = (grad_out * x_hat).mean(axis=axes, keepdims=True)
    return (grad_out - g_mean - x_hat * gx_mean) / std


def _layer_axes(name: str, x: np.ndarray, normalized_shape) -> tuple[int, ...]:
    """The last ``len(normalized_shape)`` axes, after checking they have that shape.

    An integer ``normalized_shape`` means ``(normalized_shape,)``, as for the layer.
    """
    is_int = isinstance(normalized_shape, (int, np.integer)) and not isinstance(
        normalized_shape, bool
    )
    shape = (normalized_shape,) if is_int else tuple(normalized_shape)
    if not shape or np.shape(x)[np.ndim(x) - len(shape) :] != shape or np.ndim(x) < len(shape):
        raise ValueError(
            f"{name}: input ending in normalized_shape {shape} expected, got {np.shape(x)}"
        )
    return tuple(range(np.ndim(x) - len(shape), np.ndim(x)))


def layer_norm(
    x: np.ndarray, normalized_shape, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """``weight * normalize(x) + bias`` over the last axes, as ``F.layer_norm``'s arguments.

    ``x`` ends in ``normalized_shape``; ``weight`` and ``bias`` have that shape, one
    scale and shift per value of an example (elementwise affine).

    Examples
    --------
    >>> x = np.array([[1.0, 3.0], [10.0, 30.0]])
    >>> layer_norm(x, 2, np.array([1.0, 2.0]), np.zeros(2), eps=0.0)  # 2 means (2,)
    array([[-1.,  2.],
           [-1.,  2.]])
    """
    axes = _layer_axes("layer_norm", x, normalized_shape)
    shape = np.shape(x)[axes[0] :]
    _check_arrays("layer_norm", x, {"weight": weight, "bias": bias}, shape)
    return weight * normalize(x, axes, eps) + bias


def layer_norm_grad(
    x: np.ndarray, normalized_shape, weight: np.ndarray, grad_out: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`layer_norm` with respect to ``x``, ``weight`` and ``bias``.

    ``grad_x = normalize_grad(x, weight * g)``; the weight's and the bias's sum
    ``g * x_hat`` and ``g`` over the batch (every leading axis).

    Examples
    --------
    >>> x, g = np.array([[1.0, 3.0]]), np.array([[1.0, 0.0]])
    >>> layer_norm_grad(x, (2,), np.ones(2), g, eps=0.0)
    (array([[0., 0.]]), array([-1.,  0.]), array([1., 0.]))
    """
    axes = _layer_axes("layer_norm_grad", x, normalized_shape)
    shape = np.shape(x)[axes[0] :]
    _check_arrays("layer_norm_grad", x, {"weight": weight}, shape, grad_out)
    batch = tuple(range(axes[0]))
    x_hat = normalize(x, axes, eps)
    grad_x = normalize_grad(x, weight * grad_out, axes, eps)
    return grad_x, (grad_out * x_hat).sum(axis=batch), grad_out.sum(axis=batch)


def _groups(name: str, x: np.ndarray, num_groups: int) -> tuple[int, ...]:
    """``x``'s shape with the channels split into groups: (n, num_groups, c // num_groups, ...)."""
    check_int(name, "num_groups", num_groups, 1)
    if np.ndim(x) < 2 or x.shape[1] % num_groups:
        raise ValueError(
            f"{name}: input of shape (n, c, ...) with c divisible by num_groups {num_groups} "
            f"expected, got {np.shape(x)}"
        )
    n, c, *pixels = x.shape
    return (n, num_groups, c // num_groups, *pixels)


def _check_arrays(name: str, x: np.ndarray, params: dict, shape: tuple, grad_out=None) -> None:
    """``ValueError`` naming the array whose shape is not the one expected."""
    for label, value in params.items():
        if np.shape(value) != shape:
            raise ValueError(f"{name}: {label} of shape {shape} expected, got {np.shape(value)}")
    if grad_out is not None and np.shape(grad_out) != np.shape(x):
        raise ValueError(
            f"{name}: grad_out of shape {np.shape(x)} (the output's) expected, "
            f"got {np.shape(grad_out)}"
        )


def _channel(vector: np.ndarray, ndim: int) -> np.ndarray:
    """A vector (c,) shaped to multiply axis 1 of an array of ``ndim`` axes."""
    return vector.reshape(-1, *(1,) * (ndim - 2))


def group_norm(
    x: np.ndarray, num_groups: int, weight: np.ndarray, bias: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """Each example's groups of channels normalized, then a scale and a shift per channel.

    ``x`` is (n, c, ...), ``c`` a multiple of ``num_groups``; ``weight`` and ``bias`` are
    (c,). Arguments as ``torch.nn.functional.group_norm``'s.

    Examples
    --------
    >>> x = np.array([[1.0, 3.0, 10.0, 30.0]])
    >>> group_norm(x, 2, np.ones(4), np.zeros(4), eps=0.0)
    array([[-1.,  1., -1.,  1.]])
    """
    grouped = _groups("group_norm", x, num_groups)
    _check_arrays("group_norm", x, {"weight": weight, "bias": bias}, x.shape[1:2])
    axes = tuple(range(2, len(grouped)))
    x_hat = normalize(x.reshape(grouped), axes, eps).reshape(x.shape)
    return _channel(weight, x.ndim) * x_hat + _channel(bias, x.ndim)


def group_norm_grad(
    x: np.ndarray, num_groups: int, weight: np.ndarray, grad_out: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`group_norm` with respect to ``x``, ``weight`` and ``bias``.

    Examples
    --------
    >>> x, g = np.array([[1.0, 3.0]]), np.array([[1.0, 0.0]])
    >>> group_norm_grad(x, 1, np.ones(2), g, eps=0.0)
    (array([[0., 0.]]), array([-1.,  0.]), array([1., 0.]))
    """
    grouped = _groups("group_norm_grad", x, num_groups)
    _check_arrays("group_norm_grad", x, {"weight": weight}, x.shape[1:2], grad_out)
    axes, others = tuple(range(2, len(grouped))), (0, *range(2, x.ndim))
    x_hat = normalize(x.reshape(grouped), axes, eps).reshape(x.shape)
    scaled = (_channel(weight, x.ndim) * grad_out).reshape(grouped)
    grad_x = normalize_grad(x.reshape(grouped), scaled, axes, eps).reshape(x.shape)
    return grad_x, (grad_out * x_hat).sum(axis=others), grad_out.sum(axis=others)


def _check_eps(name: str, eps) -> None:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"{name}: eps must be a number of at least 0, got {eps!r}")


class LayerNorm(Module):
    """:func:`layer_norm` as a layer, as ``torch.nn.LayerNorm`` (elementwise affine).

    Parameters
    ----------
    normalized_shape : int or tuple of int
        The last dimensions of the input, over which each example is normalized.
    eps : float
        Added to the variance before its square root.
    dtype : dtype, optional
        Of the parameters; float32 unless given.

    Attributes
    ----------
    weight, bias : deepfound.nn.Parameter
        Scale (ones) and shift (zeros), of shape ``normalized_shape``.

    Examples
    --------
    >>> norm = LayerNorm(3)
    >>> out = norm(np.array([[1.0, 2.0, 3.0]], np.float32))
    >>> out.round(4), norm.weight.data.shape
    (array([[-1.2247,  0.    ,  1.2247]], dtype=float32), (3,))
    >>> norm.backward(np.ones((1, 3), np.float32)).shape
    (1, 3)
    """

    def __init__(self, normalized_shape, *, eps: float = 1e-5, dtype=np.float32) -> None:
        shape = (normalized_shape,) if np.ndim(normalized_shape) == 0 else tuple(normalized_shape)
        if not shape:
            raise ValueError("LayerNorm: normalized_shape must hold at least one size, got ()")
        for size in shape:
            check_int("LayerNorm", "normalized_shape", size, 1)
        _check_eps("LayerNorm", eps)
        self.normalized_shape, self.eps = shape, eps
        self.weight = Parameter(np.ones(shape, dtype))
        self.bias = Parameter(np.zeros(shape, dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return layer_norm(x, self.normalized_shape, self.weight.data, self.bias.data, self.eps)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        grad_x, self.weight.grad, self.bias.grad = layer_norm_grad(
            x, self.normalized_shape, self.weight.data, grad_out, self.eps
        )
        return grad_x

    def __repr__(self) -> str:
        eps = f", eps={self.eps}" if self.eps != 1e-5 else ""
        return f"LayerNorm({self.normalized_shape}{eps})"


class GroupNorm(Module):
    """:func:`group_norm` as a layer, as ``torch.nn.GroupNorm`` (affine per channel).

    ``GroupNorm(c, c)`` is instance normalization (``torch.nn.InstanceNorm2d(c,
    affine=True)``), ``GroupNorm(1, c)`` layer normalization of each whole example with
    a scale and a shift per channel.

    Parameters
    ----------
    num_groups : int
        Groups the channels are split into; must divide ``num_channels``.
    num_channels : int
        Channels of the input (n, num_channels, ...).
    eps : float
        Added to the variance before its square root.
    dtype : dtype, optional
        Of the parameters; float32 unless given.

    Attributes
    ----------
    weight, bias : deepfound.nn.Parameter
        Scale (ones) and shift (zeros), shape (num_channels,).

    Examples
    --------
    >>> norm = GroupNorm(2, 4)
    >>> x = np.random.default_rng(0).normal(3.0, 2.0, (1, 4, 5, 5)).astype(np.float32)
    >>> out = norm(x)
    >>> bool(abs(out[0, :2].mean()) < 1e-6), bool(abs(out[0, :2].std() - 1) < 1e-4)
    (True, True)
    >>> GroupNorm(3, 4)
    Traceback (most recent call last):
    ValueError: GroupNorm: num_groups 3 does not divide num_channels 4
    """

    def __init__(
        self, num_groups: int, num_channels: int, *, eps: float = 1e-5, dtype=np.float32
    ) -> None:
        check_int("GroupNorm", "num_groups", num_groups, 1)
        check_int("GroupNorm", "num_channels", num_channels, 1)
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_groups {num_groups} does not divide num_channels {num_channels}"
            )
        _check_eps("GroupNorm", eps)
        self.num_groups, self.eps = num_groups, eps
        self.weight = Parameter(np.ones(num_channels, dtype))
        self.bias = Parameter(np.zeros(num_channels, dtype))

    def _check(self, x: np.ndarray) -> None:
        c = len(self.weight.data)
        if np.ndim(x) < 2 or np.shape(x)[1] != c:
            raise ValueError(f"GroupNorm: input of shape (n, {c}, ...) expected, got {np.shape(x)}")

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        return group_norm(x, self.num_groups, self.weight.data, self.bias.data, self.eps)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        grad_x, self.weight.grad, self.bias.grad = group_norm_grad(
            x, self.num_groups, self.weight.data, grad_out, self.eps
        )
        return grad_x

    def __repr__(self) -> str:
        eps = f", eps={self.eps}" if self.eps != 1e-5 else ""
        return f"GroupNorm({self.num_groups}, {len(self.weight.data)}{eps})"
