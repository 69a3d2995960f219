"""Cross-entropy for classification: log-softmax, negative log-likelihood, and accuracy.

Each function sits beside its gradient. ``logits`` are a network's raw outputs,
shape (n, n_classes); ``target`` holds the true class of each row as integers in
``[0, n_classes)``, shape (n,). Nested lists are accepted wherever arrays are; no
rows at all is an error, as the mean over them is undefined.

``label_smoothing`` (Szegedy et al. 2016), as PyTorch defines it: with smoothing
``eps`` over ``C`` classes the target of a row is the distribution
``(1 - eps) * one_hot(target) + eps / C`` instead of the one-hot vector.

A target may also be a distribution over the classes for each row, a float array
(n, n_classes) whose rows sum to one, as ``torch.nn.functional.cross_entropy``
takes it: :func:`soft_cross_entropy` and its gradient, which :func:`cross_entropy`
and :class:`CrossEntropy` use for such a target. Mixup
(:func:`deepfound.augment.mixup`) makes them.
"""

from __future__ import annotations

import numbers

import numpy as np

from deepfound.nn import Module
from deepfound.softmax import (
    _row_max,
    log_softmax,
    log_softmax_grad,
    log_softmax_naive,
    logsumexp,
    softmax,
)

__all__ = [
    "CrossEntropy",
    "accuracy",
    "cross_entropy",
    "cross_entropy_grad",
    "log_softmax",
    "log_softmax_grad",
    "log_softmax_naive",
    "logsumexp",
    "nll",
    "nll_grad",
    "soft_cross_entropy",
    "soft_cross_entropy_grad",
    "softmax",
]


def _checked(name: str, scores, target) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` and ``target`` as arrays, once their shapes, labels and row count are right."""
    scores, target = np.asarray(scores), np.asarray(target)
    if scores.ndim != 2 or target.shape != scores.shape[:1]:
        raise ValueError(
            f"{name}: scores of shape (n, n_classes) and a target of shape (n,) expected, "
            f"got {scores.shape} and {target.shape}"
        )
    if len(target) == 0:
        raise ValueError(
            f"{name}: no rows (scores of shape {scores.shape}); a mean over no rows is undefined"
        )
    if target.dtype.kind not in "iu":  # (np.issubdtype costs as much as the rest of the checks)
        raise TypeError(f"{name}: target must hold integer class labels, got dtype {target.dtype}")
    # Negative labels would index from the end without an error, so they are checked here. Read
    # as unsigned integers they are larger than any class, so one reduction checks both ends.
    unsigned = target.view(f"u{target.dtype.itemsize}")
    if unsigned.max() >= scores.shape[1]:
        raise ValueError(
            f"{name}: labels must lie in [0, {scores.shape[1]}), "
            f"got labels from {target.min()} to {target.max()}"
        )
    return scores, target


def nll(log_probs: np.ndarray, target: np.ndarray) -> float:
    """Negative log-likelihood: minus the mean log-probability of each row's true class.

    ``log_probs[np.arange(n), target]`` picks one entry per row (integer-array indexing).

    Examples
    --------
    >>> print(nll(np.log(np.array([[0.5, 0.5], [0.1, 0.9]])), np.array([0, 1])))
    0.3992538481088858
    """
    log_probs, target = _checked("nll", log_probs, target)
    return float(-log_probs[np.arange(len(target)), target].mean())


def nll_grad(log_probs: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient of :func:`nll` with respect to ``log_probs``: ``-1/n`` at each true class.

    Examples
    --------
    >>> nll_grad(np.zeros((2, 3)), np.array([2, 0]))
    array([[ 0. ,  0. , -0.5],
           [-0.5,  0. ,  0. ]])
    """
    log_probs, target = _checked("nll_grad", log_probs, target)
    grad = np.zeros_like(log_probs)
    grad[np.arange(len(target)), target] = -1 / len(target)
    return grad


def _checked_smoothing(name: str, label_smoothing) -> float:
    """``label_smoothing`` as a float, once it is a real number in [0, 1]."""
    # bool is an int to Python, but True is far likelier a misplaced flag than a smoothing of 1.
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, numbers.Real):
        raise TypeError(
            f"{name}: label_smoothing must be a real number in [0, 1], "
            f"got {label_smoothing!r} of type {type(label_smoothing).__name__}"
        )
    if not 0 <= label_smoothing <= 1:  # also false for nan
        raise ValueError(f"{name}: label_smoothing must be in [0, 1], got {label_smoothing}")
    return float(label_smoothing)


def cross_entropy(logits: np.ndarray, target: np.ndarray, *, label_smoothing: float = 0.0) -> float:
    """Cross-entropy of raw scores against class labels: ``nll(log_softmax(logits), target)``.

    Row ``i``'s term is ``-log_softmax(x_i)[y_i] = log(sum_j exp(x_ij - m_i)) - (x_iy - m_i)``
    with ``m_i`` the row's largest score (see :func:`log_softmax`); only the true
    class's log-probability is needed, so only it is computed. The sums over a
    row's classes are written as the product with a vector of ones, ``exp(x - m) @ 1``.

    With ``label_smoothing=eps``, the cross-entropy against the smoothed target
    ``(1 - eps) * one_hot(target) + eps / C``: ``(1 - eps)`` times the loss above plus
    ``eps`` times the mean of ``-log_softmax(logits)`` over the classes, averaged
    over the rows; ``torch.nn.functional.cross_entropy(..., label_smoothing=eps)``.

    Examples
    --------
    >>> print(cross_entropy(np.array([[0.0, np.log(3.0)]]), np.array([1])))
    0.2876820724517809
    >>> print(cross_entropy(np.array([[0.0, np.log(3.0)]]), np.array([1]), label_smoothing=0.2))
    0.39754330131859184
    """
    smoothing = _checked_smoothing("cross_entropy", label_smoothing)
    if np.ndim(target) == 2:
        return _soft_cross_entropy(*_checked_probs("cross_entropy", logits, target), smoothing)
    logits, target = _checked("cross_entropy", logits, target)
    return _cross_entropy(logits, target, smoothing)


def _cross_entropy(logits: np.ndarray, target: np.ndarray, label_smoothing: float) -> float:
    n, n_classes = logits.shape
    ones = np.ones(n_classes, logits.dtype)
    shifted = logits - _row_max(logits)
    log_sums = np.log(np.exp(shifted) @ ones)
    loss = (log_sums - shifted[np.arange(n), target]).sum() / n
    if label_smoothing:
        # The mean of -log_softmax over a row's classes: log(sum(exp(x - m))) - mean(x - m).
        smooth = (log_sums - (shifted @ ones) / n_classes).sum() / n
        loss = (1 - label_smoothing) * loss + label_smoothing * smooth
    return float(loss)


def cross_entropy_grad(
    logits: np.ndarray, target: np.ndarray, *, label_smoothing: float = 0.0
) -> np.ndarray:
    """Gradient of :func:`cross_entropy`: ``(softmax(logits) - one_hot(target)) / n``.

    With ``label_smoothing=eps`` the smoothed target takes the one-hot's place:
    ``(softmax(logits) - (1 - eps) * one_hot(target) - eps / C) / n``. The softmax
    is ``exp(x - m)`` divided by its row sums, as in :func:`cross_entropy`.

    Examples
    --------
    >>> cross_entropy_grad(np.array([[0.0, np.log(3.0)]]), np.array([1]))
    array([[ 0.25, -0.25]])
    >>> cross_entropy_grad(np.array([[0.0, np.log(3.0)]]), np.array([1]), label_smoothing=0.2)
    array([[ 0.15, -0.15]])
    """
    smoothing = _checked_smoothing("cross_entropy_grad", label_smoothing)
    if np.ndim(target) == 2:
        probs = _checked_probs("cross_entropy_grad", logits, target)
        return _soft_cross_entropy_grad(*probs, smoothing)
    logits, target = _checked("cross_entropy_grad", logits, target)
    return _cross_entropy_grad(logits, target, smoothing)


def _cross_entropy_grad(logits: np.ndarray, target: np.ndarray, label_smoothing: float):
    n, n_classes = logits.shape
    probs = np.exp(logits - _row_max(logits))
    probs /= (probs @ np.ones(n_classes, probs.dtype))[:, None]
    grad = probs / n
    if label_smoothing:
        grad -= label_smoothing / (n * n_classes)
    grad[np.arange(n), target] -= (1 - label_smoothing) / n
    return grad


def _checked_probs(name: str, scores, target) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` and a target of class probabilities, once their shapes and values are right."""
    scores, target = np.asarray(scores), np.asarray(target)
    if scores.ndim != 2 or target.shape != scores.shape:
        raise ValueError(
            f"{name}: scores of shape (n, n_classes) and a target of class probabilities of "
            f"the same shape expected, got {scores.shape} and {target.shape}"
        )
    if len(target) == 0:
        raise ValueError(
            f"{name}: no rows (scores of shape {scores.shape}); a mean over no rows is undefined"
        )
    if target.dtype.kind != "f":
        raise TypeError(
            f"{name}: a target of shape (n, n_classes) must hold probabilities as floats, "
            f"got dtype {target.dtype}"
        )
    sums = target.sum(axis=1)
    # float32 rows of ten probabilities sum to one within a few 1e-7.
    if not (target >= 0).all() or not np.allclose(sums, 1, rtol=0, atol=1e-4):
        raise ValueError(
            f"{name}: each row of the target must be a distribution (probabilities >= 0 "
            f"summing to 1), got entries from {target.min()} to {target.max()} and row sums "
            f"from {sums.min()} to {sums.max()}"
        )
    return scores, target.astype(scores.dtype, copy=False)


def _smoothed(probs: np.ndarray, label_smoothing: float) -> np.ndarray:
    if not label_smoothing:
        return probs
    return (1 - label_smoothing) * probs + label_smoothing / probs.shape[1]


def soft_cross_entropy(
    logits: np.ndarray, probs: np.ndarray, *, label_smoothing: float = 0.0
) -> float:
    """Cross-entropy against a distribution over the classes for each row.

    ``-sum(t * log_softmax(logits)) / n`` with ``t`` the target ``probs`` (n, n_classes),
    each row summing to one; smoothed first, ``t = (1 - eps) * probs + eps / C``, with
    ``label_smoothing=eps``. A one-hot ``probs`` gives :func:`cross_entropy` of the labels.
    It is linear in ``t``: the loss against ``lam * a + (1 - lam) * b`` is ``lam`` times
    the loss against ``a`` plus ``1 - lam`` times the loss against ``b``, which is what
    mixup needs. ``torch.nn.functional.cross_entropy`` with a float target.

    Examples
    --------
    >>> logits = np.array([[0.0, np.log(3.0)]])
    >>> print(soft_cross_entropy(logits, np.array([[0.0, 1.0]])))
    0.2876820724517809
    >>> print(soft_cross_entropy(logits, np.array([[0.5, 0.5]])))
    0.8369882167858358
    """
    logits, probs = _checked_probs("soft_cross_entropy", logits, probs)
    smoothing = _checked_smoothing("soft_cross_entropy", label_smoothing)
    return _soft_cross_entropy(logits, probs, smoothing)


def _soft_cross_entropy(logits: np.ndarray, probs: np.ndarray, label_smoothing: float) -> float:
    target = _smoothed(probs, label_smoothing)
    return float(-(target * log_softmax(logits)).sum() / len(logits))


def soft_cross_entropy_grad(
    logits: np.ndarray, probs: np.ndarray, *, label_smoothing: float = 0.0
) -> np.ndarray:
    """Gradient of :func:`soft_cross_entropy`: ``(softmax(logits) - t) / n``.

    Each row of ``t`` sums to one, so the row's ``sum(t) * softmax(logits)`` that the
    derivative of ``log_softmax`` brings is ``softmax(logits)``.

    Examples
    --------
    >>> soft_cross_entropy_grad(np.array([[0.0, np.log(3.0)]]), np.array([[0.5, 0.5]]))
    array([[-0.25,  0.25]])
    """
    logits, probs = _checked_probs("soft_cross_entropy_grad", logits, probs)
    smoothing = _checked_smoothing("soft_cross_entropy_grad", label_smoothing)
    return _soft_cross_entropy_grad(logits, probs, smoothing)


def _soft_cross_entropy_grad(logits: np.ndarray, probs: np.ndarray, label_smoothing: float):
    return (softmax(logits) - _smoothed(probs, label_smoothing)) / len(logits)


def accuracy(logits: np.ndarray, target: np.ndarray) -> float:
    """Fraction of rows whose highest score is at the true class.

    Examples
    --------
    >>> print(accuracy(np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]), np.array([1, 1, 1])))
    0.6666666666666666
    """
    logits, target = _checked("accuracy", logits, target)
    return float((logits.argmax(-1) == target).mean())


class CrossEntropy(Module):
    """Cross-entropy as a loss module over :func:`cross_entropy` and :func:`cross_entropy_grad`.

    ``loss(logits, target)`` is the loss; ``loss.backward(grad_out=1.0)`` its gradient
    with respect to the logits, times ``grad_out``.

    Parameters
    ----------
    label_smoothing : float, optional
        Smoothing ``eps`` in [0, 1] of the one-hot target, as in :func:`cross_entropy`.

    Examples
    --------
    >>> loss = CrossEntropy()
    >>> print(loss(np.array([[0.0, np.log(3.0)]]), np.array([1])))
    0.2876820724517809
    >>> loss.backward()
    array([[ 0.25, -0.25]])
    >>> smoothed = CrossEntropy(label_smoothing=0.5)
    >>> print(smoothed(np.array([[0.0, np.log(3.0)]]), np.array([0])))
    1.111641288952863
    >>> smoothed.backward(2.0)
    array([[-1.,  1.]])
    """

    def __init__(self, *, label_smoothing: float = 0.0) -> None:
        self.label_smoothing = _checked_smoothing("CrossEntropy", label_smoothing)

    def forward(self, logits: np.ndarray, target: np.ndarray) -> float:
        # Checked once, here, naming the layer: the pair's bodies then skip their checks.
        if np.ndim(target) == 2:
            logits, probs = _checked_probs("CrossEntropy", logits, target)
            self.save(probs=probs)
            return _soft_cross_entropy(logits, probs, self.label_smoothing)
        logits, target = _checked("CrossEntropy", logits, target)
        return _cross_entropy(logits, target, self.label_smoothing)

    def backward(self, grad_out: float = 1.0) -> np.ndarray:
        """``d loss / d logits`` times ``grad_out``, a number (the loss is one number)."""
        if isinstance(grad_out, np.ndarray) and grad_out.ndim:  # np.ndim of a number costs a µs
            raise ValueError(
                f"CrossEntropy.backward: grad_out must be a number, as the loss is one, "
                f"got shape {np.shape(grad_out)}"
            )
        logits, target = map(np.asarray, self.saved_inputs())
        if "probs" in self.saved:
            grad = _soft_cross_entropy_grad(logits, self.saved["probs"], self.label_smoothing)
        else:
            grad = _cross_entropy_grad(logits, target, self.label_smoothing)
        if grad_out != 1:
            grad *= grad_out  # in place, so that a float32 gradient stays float32
        return grad

    def __repr__(self) -> str:
        if self.label_smoothing:
            return f"CrossEntropy(label_smoothing={self.label_smoothing})"
        return "CrossEntropy()"
