"""Automatic differentiation: the recorded Tensor, and the package's own pairs as its primitives.

A framework does not differentiate a convolution through its millions of scalar
products: it calls a kernel forward and the kernel's gradient backward. So does this
module. Each function here is a *primitive*: its forward pass is one of the book's
functions and its ``grad_fn`` calls that function's hand-written gradient, registered
once, here, and never derived again: :func:`log_softmax` and :func:`cross_entropy` (on
the pairs of :mod:`deepfound.losses`), :func:`conv2d` and :func:`max_pool2d` (on those
of :mod:`deepfound.conv`). :meth:`Tensor.relu <deepfound.tensor.Tensor.relu>` is the
pair ``relu`` / ``relu_grad``. Everything else a network computes is written with the
elementary operations of :class:`~deepfound.tensor.Tensor`.

The :class:`~deepfound.tensor.Tensor` itself is written in :mod:`deepfound.tensor`
and its backward pass in :mod:`deepfound.backprop`; both are importable from here.
"""

from __future__ import annotations

import numpy as np

from deepfound import conv, losses
from deepfound.backprop import backward, topological_order, unbroadcast
from deepfound.tensor import Tensor, record

__all__ = [
    "Tensor",
    "backward",
    "conv2d",
    "cross_entropy",
    "log_softmax",
    "max_pool2d",
    "record",
    "topological_order",
    "unbroadcast",
]


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def log_softmax(x, axis: int = -1) -> Tensor:
    """Log-softmax along ``axis``: the pair ``log_softmax`` / ``log_softmax_grad`` as a primitive.

    Parameters
    ----------
    x : deepfound.tensor.Tensor or array_like
        The scores.
    axis : int
        The axis whose entries become log-probabilities (the pair works on the last;
        another is moved there and back).

    Examples
    --------
    >>> x = Tensor([[0.0, np.log(3.0)]], requires_grad=True)
    >>> log_softmax(x)
    Tensor([[-1.38629436, -0.28768207]], op='log_softmax')
    >>> log_softmax(x)[0, 0].backward()
    >>> x.grad
    array([[ 0.75, -0.75]])
    """
    x = _tensor(x)

    def along_axis(f, *arrays):
        return np.moveaxis(f(*(np.moveaxis(a, axis, -1) for a in arrays)), -1, axis)

    def grad_fn(g):
        return (along_axis(losses.log_softmax_grad, x.data, g),)

    return record(along_axis(losses.log_softmax, x.data), (x,), "log_softmax", grad_fn)


def cross_entropy(logits, target) -> Tensor:
    """Mean cross-entropy of ``logits`` (n, n_classes) against integer labels ``target`` (n,).

    The pair ``cross_entropy`` / ``cross_entropy_grad`` of :mod:`deepfound.losses` as a
    primitive; the loss is a one-element tensor of the logits' dtype.

    Examples
    --------
    >>> logits = Tensor([[0.0, np.log(3.0)]], requires_grad=True)
    >>> loss = cross_entropy(logits, np.array([1]))
    >>> print(float(loss.data))
    0.2876820724517809
    >>> loss.backward()
    >>> logits.grad
    array([[ 0.25, -0.25]])
    """
    logits = _tensor(logits)
    target = np.asarray(target.data if isinstance(target, Tensor) else target)

    def grad_fn(g):
        grad = losses.cross_entropy_grad(logits.data, target)
        grad *= g  # in place: a float32 gradient stays float32
        return (grad,)

    loss = np.asarray(losses.cross_entropy(logits.data, target), logits.data.dtype)
    return record(loss, (logits,), "cross_entropy", grad_fn)


def conv2d(x, weight, bias=None, *, stride: int = 1, padding: int = 0) -> Tensor:
    """The convolution of :func:`deepfound.conv.conv2d` as a primitive, on its pair.

    ``x`` (n, c_in, h, w), ``weight`` (c_out, c_in, kh, kw), ``bias`` (c_out,) or
    ``None``. The backward pass is :func:`deepfound.conv.conv2d_grad`, which skips the
    input's gradient when ``x`` needs none (the data, in a first layer).

    Examples
    --------
    >>> x = Tensor(np.arange(9.0).reshape(1, 1, 3, 3))
    >>> w = Tensor(np.ones((1, 1, 2, 2)), requires_grad=True)
    >>> conv2d(x, w).sum().backward()
    >>> w.grad
    array([[[[ 8., 12.],
             [20., 24.]]]])
    """
    x, weight = _tensor(x), _tensor(weight)
    parents = (x, weight) if bias is None else (x, weight, _tensor(bias))
    arrays = [p.data for p in parents]

    def grad_fn(g):
        grads = conv.conv2d_grad(
            x.data, weight.data, g, stride=stride, padding=padding, input_grad=x.requires_grad
        )
        return grads[: len(parents)]

    out = conv.conv2d(*arrays, stride=stride, padding=padding)
    return record(out, parents, "conv2d", grad_fn)


def max_pool2d(x, kernel_size: int, stride: int | None = None) -> Tensor:
    """The largest value of each window, :func:`deepfound.pool.max_pool2d`, as a primitive.

    Examples
    --------
    >>> x = Tensor(np.array([[[[1.0, 3.0], [3.0, 0.0]]]]), requires_grad=True)
    >>> max_pool2d(x, 2).sum().backward()
    >>> x.grad
    array([[[[0., 1.],
             [0., 0.]]]])
    """
    x = _tensor(x)

    def grad_fn(g):
        return (conv.max_pool2d_grad(x.data, g, kernel_size, stride),)

    return record(conv.max_pool2d(x.data, kernel_size, stride), (x,), "max_pool2d", grad_fn)
