"""Cross-entropy for classification: log-softmax, negative log-likelihood, and accuracy.

Each function sits beside its gradient. ``logits`` are a network's raw outputs,
shape (n, n_classes); ``target`` holds the true class of each row as integers in
``[0, n_classes)``, shape (n,). Nested lists are accepted wherever arrays are; no
rows at all is an error, as the mean over them is undefined.

``label_smoothing`` (Szegedy et al. 2016), as PyTorch defines it: with smoothing
``eps`` over ``C`` classes the target of a row is the distribution
``(1 - eps) * one_hot(target) + eps / C`` instead of the one-hot vector.
"""

from __future__ import annotations

import numbers

import numpy as np

from deepfound.nn import Module


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
    logits, target = _checked("cross_entropy", logits, target)
    label_smoothing = _checked_smoothing("cross_entropy", label_smoothing)
    log_probs = log_softmax(logits)
    loss = nll(log_probs, target)
    if label_smoothing:
        # The eps / C that every class gets adds eps times the mean of -log_probs, over the
        # classes of a row and then over the rows: the mean of the whole array.
        loss = (1 - label_smoothing) * loss + label_smoothing * float(-log_probs.mean())
    return loss


def cross_entropy_grad(
    logits: np.ndarray, target: np.ndarray, *, label_smoothing: float = 0.0
) -> np.ndarray:
    """Gradient of :func:`cross_entropy`: ``(softmax(logits) - one_hot(target)) / n``.

    With ``label_smoothing=eps`` the smoothed target takes the one-hot's place:
    ``(softmax(logits) - (1 - eps) * one_hot(target) - eps / C) / n``.

    Examples
    --------
    >>> cross_entropy_grad(np.array([[0.0, np.log(3.0)]]), np.array([1]))
    array([[ 0.25, -0.25]])
    >>> cross_entropy_grad(np.array([[0.0, np.log(3.0)]]), np.array([1]), label_smoothing=0.2)
    array([[ 0.15, -0.15]])
    """
    logits, target = _checked("cross_entropy_grad", logits, target)
    label_smoothing = _checked_smoothing("cross_entropy_grad", label_smoothing)
    return _softmax_minus_target(softmax(logits), target, label_smoothing)


def _softmax_minus_target(
    probs: np.ndarray, target: np.ndarray, label_smoothing: float
) -> np.ndarray:
    """``(probs - smoothed one_hot(target)) / n``, computed in place on ``probs``."""
    n, n_classes = probs.shape
    if label_smoothing:
        probs -= label_smoothing / n_classes
    probs[np.arange(n), target] -= 1 - label_smoothing
    probs /= n
    return probs


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
    """Cross-entropy as a loss module: ``loss(logits, target)``, then ``loss.backward()``.

    The same values as :func:`cross_entropy` and :func:`cross_entropy_grad`, in
    fewer array operations, since a training step runs it once per batch: the
    forward pass keeps the softmax probabilities, the loss needs the log-softmax
    only at each row's true class, and the backward pass only subtracts the
    one-hot target (smoothed, with ``label_smoothing``) from the kept probabilities
    and divides by ``n``.

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
        logits, target = _checked("CrossEntropy", logits, target)
        n, n_classes = logits.shape
        # Flat offsets of the rows: with them, one integer array indexes a flat view, in a
        # fraction of the time a pair of arrays takes to index rows and columns.
        rows = np.arange(0, n * n_classes, n_classes)
        # Each row's maximum, picked at its argmax: numpy finds the argmax of many short rows
        # several times faster than it reduces them with max. A row holding inf or nan gives
        # nan either way, so the check of _row_max for such rows is not needed here.
        row_max = logits.ravel()[rows + logits.argmax(-1)]
        # In C order whatever the layout of the logits, so that the flat views below are views.
        shifted = np.subtract(logits, row_max[:, None], order="C")
        probs = np.exp(shifted)
        # A product with a vector of ones sums short rows faster than ndarray.sum does.
        sums = probs @ np.ones(n_classes, probs.dtype)
        probs /= sums[:, None]
        self.probs = probs
        self.true_class = rows + target  # flat positions, kept for backward
        # -log softmax(x)_y = log(sum(exp(x - m))) - (x_y - m), with m the row's maximum.
        # (A sum divided by n: ndarray.mean adds a few microseconds of Python around the same sum.)
        log_sums = np.log(sums)
        loss = (log_sums - shifted.ravel()[self.true_class]).sum() / n
        if self.label_smoothing:
            # The mean of -log softmax(x) over a row's classes: log(sum(exp(x - m))) - mean(x - m).
            row_means = (shifted @ np.ones(n_classes, shifted.dtype)) / n_classes
            smooth = (log_sums - row_means).sum() / n
            loss = (1 - self.label_smoothing) * loss + self.label_smoothing * smooth
        return float(loss)

    def backward(self, grad_out: float = 1.0) -> np.ndarray:
        """``d loss / d logits`` times ``grad_out``, a number (the loss is one number)."""
        if isinstance(grad_out, np.ndarray) and grad_out.ndim:  # np.ndim of a number costs a µs
            raise ValueError(
                f"CrossEntropy.backward: grad_out must be a number, as the loss is one, "
                f"got shape {np.shape(grad_out)}"
            )
        n = len(self.saved_inputs()[1])
        grad = self.probs / n
        if self.label_smoothing:
            grad -= self.label_smoothing / (n * self.probs.shape[1])
        grad.ravel()[self.true_class] -= (1 - self.label_smoothing) / n
        if grad_out != 1:
            grad *= grad_out  # in place, so that a float32 gradient stays float32
        return grad

    def __repr__(self) -> str:
        if self.label_smoothing:
            return f"CrossEntropy(label_smoothing={self.label_smoothing})"
        return "CrossEntropy()"
