"""The pieces of a fully-connected network as plain functions, each beside its gradient.

Every ``*_grad`` function takes the forward pass's inputs and the gradient of
the loss with respect to the forward pass's output (``grad_out``), and returns
the gradient of the loss with respect to the inputs: one step of the chain rule.
The checks are on shapes only (a few attribute reads), so that they cost
nothing next to the arithmetic. Nested lists are accepted wherever arrays are.
"""

from __future__ import annotations

import math

import numpy as np

from deepfound._checks import check_number


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` elementwise; keeps the dtype of ``x``.

    Examples
    --------
    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return np.maximum(x, 0)


def relu_grad(x: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """Gradient of :func:`relu`: ``grad_out`` where ``x > 0``, zero elsewhere.

    At ``x = 0``, where ReLU has no derivative, the gradient is taken to be
    zero, as PyTorch does.

    Examples
    --------
    >>> relu_grad(np.array([-2.0, 0.0, 3.0]), np.array([5.0, 5.0, 5.0]))
    array([0., 0., 5.])
    """
    x, grad_out = np.asarray(x), np.asarray(grad_out)
    if grad_out.shape != x.shape:
        raise ValueError(
            f"relu_grad: grad_out of shape {x.shape} (the input's) expected, got {grad_out.shape}"
        )
    return grad_out * (x > 0)


def _check_general_relu(name: str, leak, sub, maxv) -> None:
    """``ValueError`` naming the argument unless each is a finite number (``leak`` at least 0)."""
    named = [("leak", leak), ("sub", sub)] + ([("maxv", maxv)] if maxv is not None else [])
    for label, value in named:
        check_number(name, label, value)
        if not math.isfinite(value):
            raise ValueError(f"{name}: {label} must be finite, got {value}")
    if leak < 0:
        raise ValueError(f"{name}: leak must be at least 0, got {leak}")


def general_relu(
    x: np.ndarray, *, leak: float = 0.0, sub: float = 0.0, maxv: float | None = None
) -> np.ndarray:
    """Leaky ReLU shifted down by ``sub``, clamped above at ``maxv``: ``min(leaky(x) - sub, maxv)``.

    ``leaky(x)`` is ``x`` where ``x > 0`` and ``leak * x`` elsewhere. Shifting the output
    down brings its mean back towards zero, which a plain ReLU's never is; the clamp,
    when ``maxv`` is given, bounds it. ``leak=0, sub=0, maxv=None`` is :func:`relu`.

    Raises
    ------
    ValueError
        If ``leak``, ``sub`` or ``maxv`` is not a finite number, or ``leak`` is negative.

    Examples
    --------
    >>> general_relu(np.array([-2.0, 0.5, 3.0]), leak=0.1, sub=0.5, maxv=2.0)
    array([-0.7,  0. ,  2. ])
    >>> general_relu(np.ones(2), leak=-0.1)
    Traceback (most recent call last):
    ValueError: general_relu: leak must be at least 0, got -0.1
    """
    _check_general_relu("general_relu", leak, sub, maxv)
    x = np.asarray(x)
    out = np.where(x > 0, x, leak * x) - sub
    return out if maxv is None else np.minimum(out, maxv)


def general_relu_grad(
    x: np.ndarray,
    grad_out: np.ndarray,
    *,
    leak: float = 0.0,
    sub: float = 0.0,
    maxv: float | None = None,
) -> np.ndarray:
    """Gradient of :func:`general_relu`: ``grad_out`` times the slope, 1 or ``leak``, 0 if clamped.

    The slope is 1 where ``x > 0`` and ``leak`` elsewhere (at ``x = 0`` too, as
    PyTorch's ``leaky_relu``); where the output lies above ``maxv`` the clamp
    holds it constant and the gradient is 0 (at ``maxv`` itself it passes, as
    PyTorch's ``clamp``).

    Examples
    --------
    >>> general_relu_grad(np.array([-2.0, 0.5, 3.0]), np.ones(3), leak=0.1, sub=0.5, maxv=2.0)
    array([0.1, 1. , 0. ])
    """
    _check_general_relu("general_relu_grad", leak, sub, maxv)
    x, grad_out = np.asarray(x), np.asarray(grad_out)
    if grad_out.shape != x.shape:
        raise ValueError(
            f"general_relu_grad: grad_out of shape {x.shape} (the input's) expected, "
            f"got {grad_out.shape}"
        )
    grad = np.where(x > 0, grad_out, leak * grad_out)
    if maxv is not None:
        grad[np.where(x > 0, x, leak * x) - sub > maxv] = 0
    return grad


def _check_lin_shapes(name: str, x_shape: tuple, w_shape: tuple) -> None:
    if len(w_shape) != 2:
        raise ValueError(f"{name}: weight of shape (n_in, n_out) expected, got {w_shape}")
    if len(x_shape) != 2 or x_shape[1] != w_shape[0]:
        raise ValueError(
            f"{name}: input of shape (batch, {w_shape[0]}) expected for a weight of shape "
            f"{w_shape}, got {x_shape}"
        )


def lin(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine map ``x @ w + b``: ``x`` (n, n_in), ``w`` (n_in, n_out), ``b`` (n_out,).

    Raises
    ------
    ValueError
        If the shapes do not fit together; the message names them.

    Examples
    --------
    >>> lin(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    >>> lin(np.ones((2, 5)), np.ones((3, 4)), np.zeros(4))
    Traceback (most recent call last):
    ValueError: lin: input of shape (batch, 3) expected for a weight of shape (3, 4), got (2, 5)
    """
    x, w, b = np.asarray(x), np.asarray(w), np.asarray(b)
    _check_lin_shapes("lin", x.shape, w.shape)
    if b.shape != w.shape[1:]:
        raise ValueError(f"lin: bias of shape ({w.shape[1]},) expected, got {b.shape}")
    out = x @ w
    out += b  # in place: the product is a fresh array, and this saves an (n, n_out) temporary
    return out


def lin_grad(
    x: np.ndarray, w: np.ndarray, grad_out: np.ndarray, *, input_grad: bool = True
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of :func:`lin` with respect to ``x``, ``w`` and ``b``.

    Parameters
    ----------
    x, w : ndarray
        The input (n, n_in) and weight (n_in, n_out) of the forward pass.
    grad_out : ndarray
        Gradient of the loss with respect to the output, shape (n, n_out).
    input_grad : bool, optional
        If false, skip ``grad_x`` (returned as ``None``): the gradient with
        respect to the data is never needed, and costs as much as the forward
        product.

    Returns
    -------
    tuple of ndarray
        ``grad_x = grad_out @ w.T`` (n, n_in), ``grad_w = x.T @ grad_out``
        (n_in, n_out) and ``grad_b = grad_out.sum(0)`` (n_out,): the bias is
        added to every row, so its gradient sums over the batch.

    Examples
    --------
    >>> grad_x, grad_w, grad_b = lin_grad(np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 4)))
    >>> grad_x.shape, grad_w.shape, grad_b.shape
    ((2, 3), (3, 4), (4,))
    >>> print(grad_b)
    [2. 2. 2. 2.]
    """
    x, w, grad_out = np.asarray(x), np.asarray(w), np.asarray(grad_out)
    _check_lin_shapes("lin_grad", x.shape, w.shape)
    if grad_out.shape != (x.shape[0], w.shape[1]):
        raise ValueError(
            f"lin_grad: grad_out of shape {(x.shape[0], w.shape[1])} (the output's) expected, "
            f"got {grad_out.shape}"
        )
    grad_x = grad_out @ w.T if input_grad else None
    return grad_x, x.T @ grad_out, grad_out.sum(0)


def _as_pred_shape(name: str, pred: np.ndarray, target) -> np.ndarray:
    """``target`` in ``pred``'s shape and dtype; an (n,) target for an (n, 1) pred gains an axis.

    Subtracting an (n,) target from an (n, 1) prediction would broadcast to (n, n)
    and give a silently wrong loss, so shapes are made equal or rejected. Integer
    targets (digit labels) take the prediction's dtype, so that the loss and its
    gradient stay in float32 when the network is.
    """
    if pred.size == 0:
        raise ValueError(
            f"{name}: empty prediction of shape {pred.shape}; a mean over no elements is undefined"
        )
    dtype = pred.dtype if pred.dtype.kind == "f" else np.float64
    target = np.asarray(target, dtype=dtype)
    if target.shape == pred.shape:
        return target
    if pred.ndim == 2 and pred.shape[1] == 1 and target.shape == pred.shape[:1]:
        return target[:, None]
    raise ValueError(
        f"{name}: target of shape {pred.shape} or {pred.shape[:1]} expected for a prediction "
        f"of shape {pred.shape}, got {target.shape}"
    )


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error between a prediction and a target with one value per prediction.

    An (n, 1) prediction is compared with an (n,) target row by row, never
    broadcast to (n, n); any other mismatch of shapes raises :class:`ValueError`.

    Examples
    --------
    >>> print(mse(np.array([[1.0], [3.0]]), np.array([0.0, 1.0])))
    2.5
    >>> mse(np.zeros((3, 1)), np.zeros(4))
    Traceback (most recent call last):
    ValueError: mse: target of shape (3, 1) or (3,) expected ... got (4,)
    """
    pred = np.asarray(pred)
    diff = pred - _as_pred_shape("mse", pred, target)
    return float((diff * diff).mean())


def mse_grad(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient of :func:`mse` with respect to ``pred``: ``2 (pred - target) / n``.

    ``n`` is the number of elements of ``pred``, over which :func:`mse` averages.

    Examples
    --------
    >>> mse_grad(np.array([[1.0], [3.0]]), np.array([0.0, 1.0]))
    array([[1.],
           [2.]])
    """
    pred = np.asarray(pred)
    diff = pred - _as_pred_shape("mse_grad", pred, target)
    diff *= 2 / pred.size
    return diff


def flatten(x: np.ndarray) -> np.ndarray:
    """Each example as one row: ``x`` (n, ...) reshaped to (n, -1).

    Examples
    --------
    >>> flatten(np.zeros((2, 3, 4))).shape
    (2, 12)
    """
    if np.ndim(x) < 1:
        raise ValueError(f"flatten: input with a batch axis expected, got shape {np.shape(x)}")
    return np.reshape(x, (len(x), -1))


def flatten_grad(x: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """Gradient of :func:`flatten`: each row of ``grad_out`` back in the shape of ``x``'s example.

    A reshape moves no number, so the gradient moves back unchanged.

    Examples
    --------
    >>> flatten_grad(np.zeros((2, 3, 4)), np.ones((2, 12))).shape
    (2, 3, 4)
    """
    expected = (len(x), int(np.prod(np.shape(x)[1:])))
    if np.shape(grad_out) != expected:
        raise ValueError(
            f"flatten_grad: grad_out of shape {expected} expected, got {np.shape(grad_out)}"
        )
    return np.reshape(grad_out, np.shape(x))
