"""A Tensor: an array that records the operations applied to it, for a backward pass.

Every operation on a :class:`Tensor` computes its result with numpy and, when an input
requires a gradient, :func:`record`\\ s it: the result keeps its inputs (``parents``) and
a ``grad_fn`` that turns the result's gradient into theirs, one step of the chain rule as
each ``*_grad`` function of :mod:`deepfound.functional` is. :mod:`deepfound.backprop` runs
the steps back. Only the elementary operations have their derivatives here, a line or two
each; ``-``, ``/`` and ``mean`` are written with them. :meth:`Tensor.relu` is a
*primitive*: it calls the package's pair ``relu`` / ``relu_grad``, as the operations of
:mod:`deepfound.autograd` call theirs, so that no derivative is written twice.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import numpy as np

from deepfound import backprop, functional


class Tensor:
    """An array that records the operations applied to it, for :meth:`backward` to run them back.

    Operators: ``+ - * /`` with tensors, arrays or numbers on either side, broadcasting
    as numpy does (a number keeps the tensor's dtype); unary ``-``; ``** c`` for a
    number ``c``; ``@`` for 2-D tensors.

    Parameters
    ----------
    data : array_like
        An ndarray keeps its dtype; Python numbers and lists become float64.
    requires_grad : bool
        Whether backward passes compute this tensor's ``.grad``.

    Attributes
    ----------
    data : ndarray
        The values.
    grad : ndarray or None
        For a tensor created with ``requires_grad=True``: the gradient of the last backward
        pass that reached it, **overwritten** by each (never added to); ``None`` until then.
    requires_grad : bool
        True for a tensor created so, and for every result computed from one.
    parents : tuple of Tensor
        The inputs of the operation that made this tensor, if it was recorded.
    op : str
        That operation's name; ``""`` for a tensor made by hand.
    grad_fn : callable or None
        That operation's backward step: the result's gradient to the parents' (see
        :func:`record`); ``None`` for a leaf, a tensor made by hand.

    Examples
    --------
    >>> w = Tensor([1.0, 2.0, 3.0], requires_grad=True)
    >>> loss = (w * w).sum()
    >>> loss
    Tensor(14.0, op='sum')
    >>> loss.backward()
    >>> w.grad
    array([2., 4., 6.])
    >>> loss.backward()  # overwrites: the same gradient again, not twice it
    >>> w.grad
    array([2., 4., 6.])
    """

    __slots__ = ("data", "grad", "requires_grad", "parents", "op", "grad_fn")
    # An ndarray on the left of an operator defers to the Tensor's reflected operator.
    __array_ufunc__ = None

    def __init__(self, data, *, requires_grad: bool = False) -> None:
        if isinstance(data, (np.ndarray, np.generic)):
            self.data = np.asarray(data)
        else:
            self.data = np.asarray(data, dtype=np.float64)
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self.parents: tuple[Tensor, ...] = ()
        self.op = ""
        self.grad_fn: Callable | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of ``.data``."""
        return self.data.shape

    def __repr__(self) -> str:
        values = np.array2string(self.data, separator=", ", prefix="Tensor(")
        if self.op:
            return f"Tensor({values}, op={self.op!r})"
        return f"Tensor({values}{', requires_grad=True' * self.requires_grad})"

    def _lift(self, other) -> Tensor:
        """``other`` as a tensor; a plain number takes this tensor's dtype, as in PyTorch."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, numbers.Number) and self.data.dtype.kind in "fc":
            return Tensor(np.asarray(other, dtype=self.data.dtype))
        return Tensor(other)

    def __add__(self, other) -> Tensor:
        other = self._lift(other)
        out = _elementwise("add", np.add, self, other)
        return record(out, (self, other), "+", lambda g: (g, g))

    def __mul__(self, other) -> Tensor:
        other = self._lift(other)
        out = _elementwise("mul", np.multiply, self, other)
        return record(out, (self, other), "*", lambda g: (g * other.data, g * self.data))

    def __neg__(self) -> Tensor:
        return record(-self.data, (self,), "neg", lambda g: (-g,))

    def __pow__(self, exponent: float) -> Tensor:
        if isinstance(exponent, bool) or not isinstance(exponent, numbers.Real):
            raise ValueError(f"pow: the exponent must be a number, got {type(exponent).__name__}")
        c = float(exponent)
        x = self.data
        return record(x**c, (self,), f"** {exponent}", lambda g: (g * c * x ** (c - 1),))

    def __sub__(self, other) -> Tensor:
        return self + -self._lift(other)

    def __truediv__(self, other) -> Tensor:
        return self * self._lift(other) ** -1

    __radd__, __rmul__ = __add__, __mul__  # both commutative

    def __rsub__(self, other) -> Tensor:
        return self._lift(other) - self

    def __rtruediv__(self, other) -> Tensor:
        return self._lift(other) / self

    def __matmul__(self, other) -> Tensor:
        other = self._lift(other)
        a, b = self.data, other.data
        if a.ndim != 2 or b.ndim != 2:
            raise ValueError(f"matmul: 2-D operands expected, got {a.shape} @ {b.shape}")
        if a.shape[1] != b.shape[0]:
            raise ValueError(f"matmul: inner dimensions differ: {a.shape} @ {b.shape}")

        def backward(g):
            # Each product only if its operand needs it: the one for the data costs as much
            # as the forward product.
            return g @ b.T if self.requires_grad else None, a.T @ g if other.requires_grad else None

        return record(a @ b, (self, other), "@", backward)

    def __rmatmul__(self, other) -> Tensor:
        return self._lift(other) @ self

    def sum(self, axis=None, keepdims: bool = False) -> Tensor:
        """Sum over ``axis`` (an int, a tuple of them, or ``None`` for all), as ``numpy.sum``.

        Every summed element moved the sum by as much as it moved: each gets the
        sum's gradient, copied back along the summed axes.

        Examples
        --------
        >>> x = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        >>> x.sum(axis=0)
        Tensor([3., 5., 7.], op='sum')
        >>> x.sum(axis=0).backward(np.array([1.0, 10.0, 100.0]))
        >>> x.grad
        array([[  1.,  10., 100.],
               [  1.,  10., 100.]])
        """

        def backward(g):
            if axis is not None and not keepdims:
                g = np.expand_dims(g, axis)
            return (np.broadcast_to(g, self.shape),)

        return record(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum", backward)

    def mean(self, axis=None, keepdims: bool = False) -> Tensor:
        """Mean over ``axis``, as ``numpy.mean``: the sum divided by the number of elements summed.

        Examples
        --------
        >>> x = Tensor([[1.0, 2.0], [3.0, 6.0]], requires_grad=True)
        >>> x.mean(axis=1, keepdims=True).data
        array([[1.5],
               [4.5]])
        >>> x.mean().backward()
        >>> x.grad
        array([[0.25, 0.25],
               [0.25, 0.25]])
        """
        total = self.sum(axis, keepdims)
        return total / (self.data.size // max(total.data.size, 1))

    def reshape(self, *shape) -> Tensor:
        """The same values in another shape: ``t.reshape(2, 3)`` or ``t.reshape((2, 3))``."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return record(
            self.data.reshape(shape), (self,), "reshape", lambda g: (g.reshape(self.shape),)
        )

    @property
    def T(self) -> Tensor:
        """The transpose of a 2-D tensor."""
        if self.data.ndim != 2:
            raise ValueError(f"T: a 2-D tensor expected, got shape {self.shape}")
        return record(self.data.T, (self,), "T", lambda g: (g.T,))

    def relu(self) -> Tensor:
        """``max(x, 0)`` elementwise: the pair ``relu`` / ``relu_grad`` as a primitive."""
        x = self.data
        return record(functional.relu(x), (self,), "relu", lambda g: (functional.relu_grad(x, g),))

    def exp(self) -> Tensor:
        """``e ** x`` elementwise; its derivative is itself."""
        out = np.exp(self.data)
        return record(out, (self,), "exp", lambda g: (g * out,))

    def log(self) -> Tensor:
        """The natural logarithm elementwise; its derivative is ``1 / x``."""
        x = self.data
        return record(np.log(x), (self,), "log", lambda g: (g / x,))

    def __getitem__(self, index) -> Tensor:
        """``t[index]``, as numpy indexes: slices, integers, integer arrays.

        Each element picked gets its share of the gradient back; one picked twice gets
        both shares (``numpy.add.at`` adds, where ``grad[index] += g`` would keep one).

        Examples
        --------
        >>> x = Tensor([10.0, 20.0, 30.0], requires_grad=True)
        >>> x[[0, 2, 2]].sum().backward()
        >>> x.grad
        array([1., 0., 2.])
        """
        if isinstance(index, Tensor):
            index = index.data

        def backward(g):
            grad = np.zeros(self.shape, g.dtype)
            np.add.at(grad, index, g)
            return (grad,)

        return record(self.data[index], (self,), "index", backward)

    def backward(self, grad=None) -> None:
        """Set ``.grad`` of each tensor made with ``requires_grad=True`` that this one depends on.

        See :func:`deepfound.backprop.backward`: ``grad`` defaults to 1 for a one-element
        tensor and is required otherwise; each ``.grad`` is overwritten, never added to.
        """
        backprop.backward(self, grad)


def record(data, parents: tuple[Tensor, ...], op: str, backward: Callable) -> Tensor:
    """The result ``data`` of the operation ``op`` on ``parents``, recorded if one needs a gradient.

    ``backward(g)``, kept as the result's ``grad_fn``, takes the gradient ``g`` of the
    loss with respect to the result and returns the gradients with respect to the
    parents, one per parent (``None`` for one that needs none). An operation that
    broadcast a parent may return that parent's gradient in the result's shape:
    :func:`~deepfound.backprop.backward` sums it back.

    Examples
    --------
    >>> x = Tensor([0.0, 1.0], requires_grad=True)
    >>> y = record(np.sin(x.data), (x,), "sin", lambda g: (g * np.cos(x.data),))
    >>> y.backward(np.ones(2))
    >>> x.grad
    array([1.        , 0.54030231])
    """
    out = Tensor(np.asarray(data))  # a 0-d result of numpy is a scalar: back to an array
    for parent in parents:
        if parent.requires_grad:
            out.requires_grad, out.parents, out.op, out.grad_fn = True, parents, op, backward
            break
    return out


def _elementwise(name: str, ufunc: np.ufunc, a: Tensor, b: Tensor) -> np.ndarray:
    try:
        return ufunc(a.data, b.data)
    except ValueError:
        raise ValueError(
            f"{name}: shapes {a.shape} and {b.shape} do not broadcast: each axis, counted "
            "from the last, must be equal or 1 in one of them"
        ) from None
