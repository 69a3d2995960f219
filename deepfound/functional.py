"""The pieces of a fully-connected network as plain functions, each beside its gradient.

Every ``*_grad`` function takes the forward pass's inputs and the gradient of
the loss with respect to the forward pass's output (``grad_out``), and returns
the gradient of the loss with respect to the inputs: one step of the chain rule.
"""

from __future__ import annotations

import numpy as np


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit, ``max(x, 0)`` elementwise.

    Examples
    --------
    >>> relu(np.array([-2.0, 0.0, 3.0]))
    array([0., 0., 3.])
    """
    return np.maximum(x, 0)


def relu_grad(x: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """Gradient of :func:`relu`: ``grad_out`` where ``x > 0``, zero elsewhere.

    Examples
    --------
    >>> relu_grad(np.array([-2.0, 0.0, 3.0]), np.array([5.0, 5.0, 5.0]))
    array([0., 0., 5.])
    """
    return grad_out * (x > 0)


def _check_lin_shapes(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> None:
    if x.ndim != 2 or w.ndim != 2 or x.shape[1] != w.shape[0]:
        raise ValueError(
            f"lin: input of shape (batch, {w.shape[0]}) expected for a weight of shape "
            f"{w.shape}, got {x.shape}"
        )
    if b.shape != (w.shape[1],):
        raise ValueError(f"lin: bias of shape ({w.shape[1]},) expected, got {b.shape}")


def lin(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Affine map ``x @ w + b``: ``x`` (n, n_in), ``w`` (n_in, n_out), ``b`` (n_out,).

    Examples
    --------
    >>> lin(np.ones((2, 3)), np.ones((3, 4)), np.arange(4.0))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]])
    """
    _check_lin_shapes(x, w, b)
    return x @ w + b


def lin_grad(
    x: np.ndarray, w: np.ndarray, grad_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`lin` with respect to ``x``, ``w`` and ``b``.

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
    """
    return grad_out @ w.T, x.T @ grad_out, grad_out.sum(0)


def _as_pred_shape(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """``target`` in ``pred``'s shape; an (n,) target against an (n, 1) prediction gains its axis.

    Subtracting an (n,) target from an (n, 1) prediction would broadcast to (n, n)
    and give a silently wrong loss, so shapes are made equal or rejected.
    """
    if target.shape == pred.shape:
        return target
    if pred.ndim == 2 and pred.shape[1] == 1 and target.shape == pred.shape[:1]:
        return target[:, None]
    raise ValueError(
        f"mse: target of shape {pred.shape} or {pred.shape[:1]} expected for a prediction "
        f"of shape {pred.shape}, got {target.shape}"
    )


def mse(pred: np.ndarray, target: np.ndarray) -> float:
    """Mean squared error between a prediction and a target of the same length.

    An (n, 1) prediction is compared with an (n,) target row by row, never
    broadcast to (n, n).

    Examples
    --------
    >>> print(mse(np.array([[1.0], [3.0]]), np.array([0.0, 1.0])))
    2.5
    """
    target = _as_pred_shape(pred, target)
    return float(((pred - target) ** 2).mean())


def mse_grad(pred: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient of :func:`mse` with respect to ``pred``: ``2 (pred - target) / n``.

    Examples
    --------
    >>> mse_grad(np.array([[1.0], [3.0]]), np.array([0.0, 1.0]))
    array([[1.],
           [2.]])
    """
    target = _as_pred_shape(pred, target)
    return 2 * (pred - target) / pred.size
