"""Softmax and its logarithm along the last axis, computed without overflow, with the gradient.

A network's raw outputs (logits) become probabilities by the softmax; their
logarithm, :func:`log_softmax`, is what cross-entropy reads. Everything here is
importable from :mod:`deepfound.losses`, where the book teaches it.
"""

from __future__ import annotations

import numpy as np


def log_softmax_naive(x: np.ndarray) -> np.ndarray:
    """``log(exp(x) / sum(exp(x)))`` along the last axis, straight from the definition.

    Overflows for large logits: ``exp(1000)`` is ``inf`` and ``inf / inf`` is ``nan``.
    Use :func:`log_softmax`.

    Examples
    --------
    >>> print(np.round(log_softmax_naive(np.array([0.0, np.log(3.0)])), 6))
    [-1.386294 -0.287682]
    """
    e = np.exp(x)
    return np.log(e / e.sum(-1, keepdims=True))


def _row_max(x: np.ndarray) -> np.ndarray:
    """Largest entry of each row, as an axis of length one; 0 for a row without a finite one.

    A row of -inf has no finite maximum to shift by; shifting it by 0 keeps it -inf.
    """
    m = x.max(-1, keepdims=True)
    if not np.isfinite(m).all():
        m = np.where(np.isfinite(m), m, 0)
    return m


def logsumexp(x: np.ndarray) -> np.ndarray:
    """``log(sum(exp(x)))`` along the last axis, without overflow.

    With ``m = max(x)``, ``log(sum(exp(x))) = m + log(sum(exp(x - m)))``: the
    largest term of the shifted sum is ``exp(0) = 1``, so nothing overflows and
    the logarithm never sees zero.

    Examples
    --------
    >>> print(logsumexp(np.array([1000.0, 1000.0])) - 1000)
    0.6931471805599453
    """
    x = np.asarray(x)
    m = _row_max(x)
    return (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[..., 0]


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Logarithm of the softmax along the last axis: ``x - logsumexp(x)``.

    Computed as ``(x - m) - log(sum(exp(x - m)))`` with ``m = max(x)``, the same
    expression with the shift by ``m`` done once.

    Examples
    --------
    >>> print(np.round(log_softmax(np.array([1e4, 1e4 + np.log(3.0)])), 6))
    [-1.386294 -0.287682]
    """
    x = np.asarray(x)
    shifted = x - _row_max(x)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax along the last axis: non-negative, each row sums to one.

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)]))
    array([0.25, 0.75])
    """
    return np.exp(log_softmax(x))


def log_softmax_grad(x: np.ndarray, grad_out: np.ndarray) -> np.ndarray:
    """Gradient of :func:`log_softmax`: ``grad_out - softmax(x) * sum(grad_out)`` per row.

    Examples
    --------
    >>> log_softmax_grad(np.array([0.0, np.log(3.0)]), np.array([1.0, 0.0]))
    array([ 0.75, -0.75])
    """
    grad_out = np.asarray(grad_out)
    return grad_out - softmax(x) * grad_out.sum(-1, keepdims=True)
