"""Layers as objects: each keeps its inputs on the way forward and applies its rule on the way back.

``module(x)`` runs :meth:`~deepfound.nn.Module.forward` and keeps the inputs;
``module.backward(grad_out)`` returns the gradient with respect to the input and
**overwrites** the ``.grad`` of each of the module's parameters, so calling it
twice gives the same gradients (nothing accumulates).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from deepfound.functional import lin, lin_grad, mse, mse_grad, relu, relu_grad
from deepfound.init import kaiming_normal


class Parameter:
    """A trainable array (``.data``) and the gradient of the loss with respect to it (``.grad``).

    Examples
    --------
    >>> p = Parameter(np.ones(3))
    >>> p.grad
    array([0., 0., 0.])
    """

    __slots__ = ("data", "grad")

    def __init__(self, data) -> None:
        self.data = np.asarray(data)
        self.grad = np.zeros_like(self.data)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"


class Module:
    """Base class: subclasses write ``forward`` and ``backward``; ``__call__`` keeps the inputs.

    Examples
    --------
    >>> class Double(Module):
    ...     def forward(self, x):
    ...         return 2 * x
    ...     def backward(self, grad_out):
    ...         return 2 * grad_out
    >>> double = Double()
    >>> double(np.array([1.0, 2.0]))
    array([2., 4.])
    >>> double.backward(np.array([1.0, 1.0]))
    array([2., 2.])
    """

    inputs: tuple | None = None

    def __call__(self, *inputs):
        self.inputs = inputs
        self.out = self.forward(*inputs)
        return self.out

    def forward(self, *inputs):
        """The module's output for ``inputs``; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_out):
        """Gradient with respect to the input, given the gradient ``grad_out`` of the output.

        Also overwrites the ``.grad`` of the module's parameters.
        """
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def saved_inputs(self) -> tuple:
        """The inputs of the last forward call; an error if there was none."""
        if self.inputs is None:
            raise RuntimeError(
                f"{type(self).__name__}.backward called before forward: "
                "call the module on an input first"
            )
        return self.inputs

    def parameters(self) -> Iterator[Parameter]:
        """Every :class:`Parameter` of this module and of the modules it holds."""
        for value in vars(self).values():
            if isinstance(value, Parameter):
                yield value
            elif isinstance(value, Module):
                yield from value.parameters()
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, Module):
                        yield from item.parameters()


class Linear(Module):
    """Affine layer ``x @ weight + bias``, weight (n_in, n_out) Kaiming-initialized, bias zero.

    Examples
    --------
    >>> layer = Linear(784, 50, rng=0)
    >>> layer(np.zeros((5, 784), np.float32)).shape
    (5, 50)
    >>> layer.backward(np.ones((5, 50), np.float32)).shape
    (5, 784)
    >>> layer.weight.grad.shape, layer.bias.grad.shape
    ((784, 50), (50,))
    """

    def __init__(self, n_in: int, n_out: int, *, rng=None, dtype=np.float32) -> None:
        self.weight = Parameter(kaiming_normal(n_in, n_out, rng=rng, dtype=dtype))
        self.bias = Parameter(np.zeros(n_out, dtype))

    def forward(self, x: np.ndarray) -> np.ndarray:
        return lin(x, self.weight.data, self.bias.data)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        grad_x, self.weight.grad, self.bias.grad = lin_grad(x, self.weight.data, grad_out)
        return grad_x

    def __repr__(self) -> str:
        return f"Linear({self.weight.data.shape[0]}, {self.weight.data.shape[1]})"


class ReLU(Module):
    """Rectified linear unit as a layer.

    Examples
    --------
    >>> relu = ReLU()
    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> relu.backward(np.array([3.0, 3.0]))
    array([0., 3.])
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return relu(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        return relu_grad(x, grad_out)

    def __repr__(self) -> str:
        return "ReLU()"


class MSE(Module):
    """Mean squared error as a loss module: ``loss(pred, target)``, then ``loss.backward()``.

    Examples
    --------
    >>> loss = MSE()
    >>> print(loss(np.array([[1.0], [3.0]]), np.array([0.0, 1.0])))
    2.5
    >>> loss.backward()
    array([[1.],
           [2.]])
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        return mse(pred, target)

    def backward(self) -> np.ndarray:
        pred, target = self.saved_inputs()
        return mse_grad(pred, target)


class Sequential(Module):
    """Layers applied one after another; backward runs them in reverse.

    Examples
    --------
    >>> model = Sequential(Linear(784, 50, rng=0), ReLU(), Linear(50, 1, rng=1))
    >>> model
    Sequential(Linear(784, 50), ReLU(), Linear(50, 1))
    >>> [p.data.shape for p in model.parameters()]
    [(784, 50), (50,), (50, 1), (1,)]
    """

    def __init__(self, *layers: Module) -> None:
        self.layers = list(layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        self.saved_inputs()
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def __repr__(self) -> str:
        return f"Sequential({', '.join(map(repr, self.layers))})"
