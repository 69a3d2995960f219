"""Batch normalization's fast path, which the layers of :mod:`deepfound.norm` run.

It computes what :func:`~deepfound.norm.batch_norm` and
:func:`~deepfound.norm.batch_norm_grad` define, on a matrix ``rows`` (m, c) holding
each channel's m values in a column, and is tested equal to them. One trick makes
it fast: numpy runs an elementwise operation as a loop over rows and a fast loop
along each row, and with a few channels rows of ``c`` numbers leave the fast loop
nearly nothing to do. So the matrix is viewed as (m / k, k * c), wide rows that
hold ``k`` pixels, and every channel vector is tiled ``k`` times to match. Through
the plain pair instead, chapter 09's and chapter 10's training steps are
measurably slower (``tests/compare_revisions.py``).
"""

from __future__ import annotations

import numpy as np


def _wide(rows: np.ndarray) -> tuple[np.ndarray, int]:
    """``rows`` (m, c) as (m / k, k * c) and ``k``: a channel vector tiled ``k`` times fits a row.

    numpy runs an elementwise operation as a loop over rows and a fast loop along
    each row; with a few channels, rows of ``c`` numbers leave the fast loop
    nearly nothing to do. Rows of about 512 numbers make it three times faster.
    """
    m, c = rows.shape
    k = max(d for d in range(1, max(1, 512 // c) + 1) if m % d == 0)
    return np.ascontiguousarray(rows).reshape(m // k, k * c), k


def _channel_sums(wide: np.ndarray, k: int) -> np.ndarray:
    """Sum over the m values of each channel of a wide matrix: a matrix-vector product."""
    return (np.ones(len(wide), wide.dtype) @ wide).reshape(k, -1).sum(0)


def _channel_dots(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """Sum over the m values of each channel of ``a * b``, without the product as an array."""
    return np.einsum("ij,ij->j", a, b).reshape(k, -1).sum(0)


def forward(
    rows: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    *,
    training: bool,
    momentum: float,
    eps: float,
) -> tuple[np.ndarray, dict]:
    """The normalized ``rows`` as a wide matrix, and what :func:`backward` needs.

    In training mode the running statistics are updated in place, as PyTorch does.
    """
    wide, k = _wide(rows)
    m = len(wide) * k
    if training:
        mean = _channel_sums(wide, k) / m
        centred = wide - np.tile(mean, k)
        var = _channel_dots(centred, centred, k) / m
        inv_std = 1 / np.sqrt(var + eps)
        for running, batch in ((running_mean, mean), (running_var, var * (m / (m - 1)))):
            running *= 1 - momentum
            running += momentum * batch
    else:
        mean = running_mean.copy()
        centred = None  # evaluation mode computes it only if backward needs it
        inv_std = 1 / np.sqrt(running_var + eps)
    scale = weight * inv_std
    if centred is None:
        out = wide * np.tile(scale, k)
        out += np.tile(bias - mean * scale, k)
    else:
        out = centred * np.tile(scale, k)
        out += np.tile(bias, k)
    return out, {"k": k, "centred": centred, "mean": mean, "inv_std": inv_std}


def backward(
    rows: np.ndarray, grad_rows: np.ndarray, weight: np.ndarray, state: dict
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients with respect to ``rows`` (a wide matrix), the weight and the bias.

    ``grad_rows`` is the output's gradient as a matrix (m, c); ``state`` is what
    :func:`forward` returned with the output.
    """
    k, centred, mean, inv_std = (state[key] for key in ("k", "centred", "mean", "inv_std"))
    batch_statistics = centred is not None
    g = np.ascontiguousarray(grad_rows).reshape(-1, k * len(mean))
    m = len(g) * k
    if not batch_statistics:  # evaluation mode: an affine map
        centred = _wide(rows)[0] - np.tile(mean, k)
    sum_g, sum_g_centred = _channel_sums(g, k), _channel_dots(g, centred, k)
    slope = weight * inv_std
    grad_x = g * np.tile(slope, k)
    if batch_statistics:
        # Through the mean and the variance too, the compact form
        # slope * (g - mean(g) - x_hat * mean(g * x_hat)), x_hat = centred * inv_std:
        grad_x -= centred * np.tile(slope * inv_std**2 * sum_g_centred / m, k)
        grad_x -= np.tile(slope * sum_g / m, k)
    return grad_x, sum_g_centred * inv_std, sum_g
