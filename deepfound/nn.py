"""Layers as objects: each a thin :class:`Module` over its plain pair of functions.

A layer's ``forward`` calls its function (:func:`~deepfound.functional.lin`,
:func:`~deepfound.functional.relu`, ...) and its ``backward`` calls the function's
gradient (:func:`~deepfound.functional.lin_grad`, ...) on what the call kept in
``.saved``. The machinery every layer shares (:class:`Parameter`, :class:`Module`,
:func:`no_grad`) is written in ``deepfound.module`` and ``deepfound.grad_mode``,
and importable from here.
"""

from __future__ import annotations

import numpy as np

from deepfound._checks import check_int
from deepfound.functional import (
    _check_general_relu,
    flatten,
    flatten_grad,
    general_relu,
    general_relu_grad,
    lin,
    lin_grad,
    mse,
    mse_grad,
    relu,
    relu_grad,
)
from deepfound.grad_mode import is_grad_enabled, no_grad, shared_scratch
from deepfound.init import kaiming_normal
from deepfound.module import Module, Parameter, _walk

__all__ = [
    "Flatten",
    "GeneralReLU",
    "Linear",
    "MSE",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "is_grad_enabled",
    "no_grad",
    "shared_scratch",
]


class Linear(Module):
    """Affine layer ``x @ weight + bias``, weight (n_in, n_out) Kaiming-initialized, bias zero.

    Parameters
    ----------
    n_in, n_out : int
        Widths of the input and the output.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the weight.
    dtype : dtype, optional
        Of the weight and the bias; float32 unless given.
    input_grad : bool, optional
        If false, :meth:`backward` skips the gradient with respect to the input and
        returns ``None``. A first layer whose input is the data needs no such
        gradient, and it costs as much as the forward product: this is what
        PyTorch does for an input tensor without ``requires_grad``.

    Examples
    --------
    >>> layer = Linear(784, 50, rng=0)
    >>> layer(np.zeros((5, 784), np.float32)).shape
    (5, 50)
    >>> layer.backward(np.ones((5, 50), np.float32)).shape
    (5, 784)
    >>> layer.weight.grad.shape, layer.bias.grad.shape
    ((784, 50), (50,))
    >>> layer(np.zeros((5, 783), np.float32))
    Traceback (most recent call last):
    ValueError: lin: input of shape (batch, 784) expected ... got (5, 783)
    """

    def __init__(
        self, n_in: int, n_out: int, *, rng=None, dtype=np.float32, input_grad: bool = True
    ) -> None:
        for label, value in (("n_in", n_in), ("n_out", n_out)):
            check_int("Linear", label, value, 1)
        self.weight = Parameter(kaiming_normal(n_in, n_out, rng=rng, dtype=dtype))
        self.bias = Parameter(np.zeros(n_out, dtype))
        self.input_grad = input_grad

    def forward(self, x: np.ndarray) -> np.ndarray:
        return lin(x, self.weight.data, self.bias.data)

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        (x,) = self.saved_inputs()
        grad_x, self.weight.grad, self.bias.grad = lin_grad(
            x, self.weight.data, grad_out, input_grad=self.input_grad
        )
        return grad_x

    def __repr__(self) -> str:
        n_in, n_out = self.weight.data.shape
        return f"Linear({n_in}, {n_out}{'' if self.input_grad else ', input_grad=False'})"


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


class GeneralReLU(Module):
    """:func:`~deepfound.functional.general_relu` as a layer: leaky, shifted down, clamped.

    Parameters
    ----------
    leak : float
        Slope for negative inputs (0: a ReLU).
    sub : float
        Subtracted from every output.
    maxv : float, optional
        Largest output; no clamp if ``None``.

    Examples
    --------
    >>> act = GeneralReLU(leak=0.1, sub=0.4, maxv=6.0)
    >>> act
    GeneralReLU(leak=0.1, sub=0.4, maxv=6.0)
    >>> act(np.array([-1.0, 1.0, 9.0]))
    array([-0.5,  0.6,  6. ])
    >>> act.backward(np.ones(3))
    array([0.1, 1. , 0. ])
    >>> GeneralReLU(maxv="6")
    Traceback (most recent call last):
    ValueError: GeneralReLU: maxv must be a number, got '6'
    """

    def __init__(self, *, leak: float = 0.0, sub: float = 0.0, maxv: float | None = None):
        _check_general_relu("GeneralReLU", leak, sub, maxv)
        self.leak, self.sub, self.maxv = leak, sub, maxv

    def forward(self, x: np.ndarray) -> np.ndarray:
        return general_relu(x, leak=self.leak, sub=self.sub, maxv=self.maxv)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        return general_relu_grad(x, grad_out, leak=self.leak, sub=self.sub, maxv=self.maxv)

    def __repr__(self) -> str:
        return f"GeneralReLU(leak={self.leak}, sub={self.sub}, maxv={self.maxv})"


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
    >>> loss.backward(0.5)  # the gradient of 0.5 * loss, as any module's backward takes one
    array([[0.5],
           [1. ]])
    """

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        return mse(pred, target)

    def backward(self, grad_out: float = 1.0) -> np.ndarray:
        """``d loss / d pred`` times ``grad_out``, a number (the loss is one number)."""
        if isinstance(grad_out, np.ndarray) and grad_out.ndim:
            raise ValueError(
                f"MSE.backward: grad_out must be a number, as the loss is one, "
                f"got shape {np.shape(grad_out)}"
            )
        pred, target = self.saved_inputs()
        grad = mse_grad(pred, target)
        return grad if grad_out == 1.0 else grad * grad_out


class Flatten(Module):
    """Each example as one row: (n, ...) → (n, -1), :func:`~deepfound.functional.flatten`.

    Examples
    --------
    >>> flat = Flatten()
    >>> flat(np.zeros((2, 3, 4, 4))).shape, flat.backward(np.zeros((2, 48))).shape
    ((2, 48), (2, 3, 4, 4))
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        return flatten(x)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        (x,) = self.saved_inputs()
        return flatten_grad(x, grad_out)

    def __repr__(self) -> str:
        return "Flatten()"


class Sequential(Module):
    """Layers applied one after another; backward runs them in reverse.

    ``backward`` returns what the first layer's ``backward`` returns: ``None`` if
    that is a :class:`Linear` built with ``input_grad=False``.

    Examples
    --------
    >>> model = Sequential(Linear(784, 50, rng=0), ReLU(), Linear(50, 1, rng=1))
    >>> model
    Sequential(Linear(784, 50), ReLU(), Linear(50, 1))
    >>> [p.data.shape for p in model.parameters()]
    [(784, 50), (50,), (50, 1), (1,)]
    >>> out = model(np.zeros((3, 784), np.float32))
    >>> out.shape, model.backward(np.ones_like(out)).shape
    ((3, 1), (3, 784))
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: layer {i} is a {type(layer).__name__}, not a Module")
        self.layers = list(layers)
        for _ in _walk(self, "Sequential"):  # the whole tree: a layer may hold layers in turn
            pass

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_out: np.ndarray) -> np.ndarray | None:
        self.saved_inputs()
        for layer in reversed(self.layers):
            grad_out = layer.backward(grad_out)
        return grad_out

    def __repr__(self) -> str:
        return f"Sequential({', '.join(map(repr, self.layers))})"
