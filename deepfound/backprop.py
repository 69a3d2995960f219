"""The backward pass of a recorded graph: put it in order, run each step of the chain rule, sum.

A graph is made of the tensors of :mod:`deepfound.tensor`: each result keeps its
``parents`` and its ``grad_fn``, which turns the result's gradient into its parents'.
:func:`backward` runs every ``grad_fn`` once, from the output back, in
:func:`topological_order`; a tensor used by several operations gets the sum of what
each sends back; an operand that was broadcast gets its gradient summed back to its
own shape by :func:`unbroadcast`. The tensors created with ``requires_grad=True`` (the
*leaves*) receive the result in ``.grad``.
"""

from __future__ import annotations

import numpy as np


def backward(root, grad=None) -> None:
    """Set ``.grad`` of each leaf that ``root`` depends on: the gradient of ``root`` times ``grad``.

    Each ``.grad`` is **overwritten**, as deepfound's modules overwrite theirs: a second
    call gives the same gradients. A tensor used several times gets the sum over its
    paths. :meth:`Tensor.backward <deepfound.tensor.Tensor.backward>` calls this.

    Parameters
    ----------
    root : deepfound.tensor.Tensor
        The output whose gradient is wanted, usually a loss.
    grad : array_like, optional
        The gradient of the loss with respect to ``root``, in its shape; 1 if ``root``
        holds one number (it is then the loss), required otherwise.

    Examples
    --------
    >>> from deepfound.tensor import Tensor
    >>> x = Tensor([1.0, 2.0], requires_grad=True)
    >>> y = x * x + x  # x is used twice: both paths add up
    >>> backward(y, np.ones(2))
    >>> x.grad
    array([3., 5.])
    >>> backward(y)
    Traceback (most recent call last):
    ValueError: backward: a gradient of shape (2,) is needed; only a one-element ...
    """
    if grad is None:
        if root.data.size != 1:
            raise ValueError(
                f"backward: a gradient of shape {root.shape} is needed; only a one-element "
                "tensor's gradient defaults to 1"
            )
        grad = np.ones_like(root.data)
    grad = np.asarray(grad)
    if grad.shape != root.shape:
        raise ValueError(
            f"backward: a gradient of shape {root.shape} (the tensor's) expected, got {grad.shape}"
        )
    if not root.requires_grad:
        raise ValueError("backward: the tensor depends on no tensor with requires_grad=True")
    grads = {id(root): grad}  # each tensor's gradient, complete once all its users have run
    handed_out = {id(grad)}  # arrays that a leaf's .grad, or the caller, already holds
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if node.grad_fn is None:  # a leaf
            # A leaf gets an array of its own: never a view, nor another leaf's array.
            node.grad = g if g.base is None and id(g) not in handed_out else g.copy()
            handed_out.add(id(node.grad))
            continue
        for parent, parent_grad in zip(node.parents, node.grad_fn(g), strict=True):
            if parent.requires_grad and parent_grad is not None:
                parent_grad = unbroadcast(parent_grad, parent.shape)
                key = id(parent)
                grads[key] = grads[key] + parent_grad if key in grads else parent_grad


def topological_order(root) -> list:
    """Every tensor ``root`` depends on that requires a gradient, each after its parents.

    A depth-first search with a stack of its own instead of recursion, so that a
    graph of any depth works: a tensor is listed once all its parents are.

    Examples
    --------
    >>> from deepfound.tensor import Tensor
    >>> a = Tensor(2.0, requires_grad=True)
    >>> b = a * a
    >>> [t.op or "leaf" for t in topological_order(b + a)]
    ['leaf', '*', '+']
    """
    order, seen = [], {id(root)}
    stack = [(root, iter(root.parents))]
    while stack:
        node, parents = stack[-1]
        for parent in parents:
            if parent.requires_grad and id(parent) not in seen:
                seen.add(id(parent))
                stack.append((parent, iter(parent.parents)))
                break
        else:  # every parent is listed: the node can be
            stack.pop()
            order.append(node)
    return order


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``grad``, the gradient of a broadcast result, summed back to an operand of ``shape``.

    Broadcasting repeats an operand along the axes it lacks (in front) and along its
    axes of length one; every copy's gradient flows back to the same numbers, so
    those axes are summed.

    Examples
    --------
    >>> unbroadcast(np.ones((64, 10)), (10,)).shape  # a bias added to every row
    (10,)
    >>> unbroadcast(np.ones((4, 2, 3)), (2, 1))
    array([[12.],
           [12.]])
    """
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    if lead < 0 or any(n not in (1, m) for m, n in zip(grad.shape[lead:], shape, strict=True)):
        raise ValueError(f"unbroadcast: a gradient of shape {grad.shape} is not one of {shape}")
    repeated = [lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1]
    return grad.sum(axis=(*range(lead), *repeated)).reshape(shape)
