"""Layers as objects: each keeps its inputs on the way forward and applies its rule on the way back.

``module(x)`` runs :meth:`~deepfound.nn.Module.forward` and keeps the inputs;
``module.backward(grad_out)`` returns the gradient with respect to the input and
**overwrites** the ``.grad`` of each of the module's parameters, so calling it
twice gives the same gradients (nothing accumulates). Under :func:`no_grad` a
call keeps nothing, for passes that will not be followed by a backward pass.
"""

from __future__ import annotations

import contextlib
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


# Whether calling a module keeps what its backward pass needs; see no_grad.
_grad_enabled = True
# Scratch memory the modules share while _grad_enabled is false; see shared_scratch.
_shared_scratch: dict = {}


def is_grad_enabled() -> bool:
    """Whether calling a module keeps what its backward pass needs: false inside :func:`no_grad`.

    Examples
    --------
    >>> is_grad_enabled()
    True
    >>> with no_grad():
    ...     is_grad_enabled()
    False
    """
    return _grad_enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, calling a module runs its forward pass and keeps nothing for backward.

    A module called inside the block leaves ``.inputs`` and ``.out`` as ``None``, and
    layers that keep more (a convolution's windows, batch normalization's statistics,
    a residual block's hidden activation) drop it too: they release what an earlier
    call left them rather than hold on to arrays as large as the batch. Layers that
    need scratch memory while they compute share it (:func:`shared_scratch`) until
    the outermost block ends. The outputs are exactly those of an ordinary call;
    only a ``backward`` afterwards is an error. Use it for passes that are only
    measured, such as :func:`~deepfound.learner.evaluate`'s, as ``torch.no_grad``.
    Blocks nest; leaving one, even by an exception, restores the state before it.

    Examples
    --------
    >>> layer = Linear(3, 2, rng=0)
    >>> x = np.ones((4, 3), np.float32)
    >>> with no_grad():
    ...     out = layer(x)
    >>> np.array_equal(out, layer(x)), layer.out is not None
    (True, True)
    >>> with no_grad():
    ...     _ = layer(x)
    >>> layer.inputs, layer.out
    (None, None)
    >>> layer.backward(np.ones_like(out))
    Traceback (most recent call last):
    RuntimeError: Linear.backward called before forward: call the module on an input first
    """
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous
        if previous:  # the outermost block ends: nothing needs the shared scratch memory now
            _shared_scratch.clear()


def shared_scratch() -> dict:
    """Scratch memory that modules share under :func:`no_grad`, until the outermost block ends.

    A dictionary: a module stores a buffer under a key naming its use and every
    size that decides its contents (a convolution keys its windows by the input's
    shape, the kernel, the stride and the padding), and a later call with the same
    key, by any module, reuses it. Without ``no_grad`` a module keeps its own scratch
    memory, since its backward pass reads it; asking for the shared one then is an
    error, as nothing would free it.

    Examples
    --------
    >>> with no_grad():
    ...     print(shared_scratch().setdefault("ones", np.ones(3)).sum())
    3.0
    >>> with no_grad():
    ...     "ones" in shared_scratch()
    False
    >>> shared_scratch()
    Traceback (most recent call last):
    RuntimeError: shared_scratch: only under no_grad(); a module keeps its own scratch otherwise
    """
    if _grad_enabled:
        raise RuntimeError(
            "shared_scratch: only under no_grad(); a module keeps its own scratch otherwise"
        )
    return _shared_scratch


class Module:
    """Base class: subclasses write ``forward`` and ``backward``; ``__call__`` keeps the inputs.

    Calling a module stores its inputs in ``.inputs`` and its output in ``.out``
    (references, not copies), then returns the output; ``backward`` reads them
    back with :meth:`saved_inputs`. A module therefore remembers only its latest
    call: call it, then run its backward, before calling it again. For the same
    reason a module (or a parameter) cannot be used twice in one network: its
    ``.grad`` would hold the gradient of one use, not the sum over both.
    :class:`Sequential` and :meth:`parameters` reject such reuse at any depth.
    Under :func:`no_grad` a call keeps nothing: ``.inputs`` and ``.out`` are ``None``.

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
    out = None
    #: Training mode (the default) or evaluation mode; set by :meth:`train` and :meth:`eval`.
    training: bool = True

    def __call__(self, *inputs):
        if not _grad_enabled:
            # Released before the forward pass, so an earlier call's arrays are not held meanwhile.
            self.inputs = self.out = None
            return self.forward(*inputs)
        self.inputs = inputs
        self.out = self.forward(*inputs)
        return self.out

    def forward(self, *inputs):
        """The module's output for ``inputs``; every subclass defines it."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, grad_out):
        """Gradient with respect to the input, given the gradient ``grad_out`` of the output.

        Also overwrites (never adds to) the ``.grad`` of the module's parameters.
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
        """Every :class:`Parameter` of this module and of the modules it holds, in order.

        A module or parameter reached twice raises :class:`ValueError`: an
        optimizer would otherwise move a shared parameter twice per step, by the
        gradient of one use only.
        """
        for _, item in _walk(self, f"{type(self).__name__}.parameters"):
            if isinstance(item, Parameter):
                yield item

    def modules(self) -> Iterator[Module]:
        """This module, then every module it holds (in attributes, lists or tuples), depth first.

        Each module is yielded once, even if it is held twice.

        Examples
        --------
        >>> list(Sequential(Linear(2, 2, rng=0), Sequential(ReLU())).modules())
        [Sequential(Linear(2, 2), Sequential(ReLU())), Linear(2, 2), Sequential(ReLU()), ReLU()]
        """
        seen = {id(self)}
        yield self
        for _, item in _tree(self, ""):
            if isinstance(item, Module) and id(item) not in seen:
                seen.add(id(item))
                yield item

    def train(self, mode: bool = True) -> Module:
        """Put this module and every module it holds in training mode (or evaluation mode).

        Layers such as batch normalization behave differently in the two modes;
        most layers ignore it. Returns the module itself, so ``model.train()`` chains.

        Examples
        --------
        >>> model = Sequential(Linear(2, 2, rng=0), Sequential(ReLU()))
        >>> model.eval() is model, model.layers[1].layers[0].training
        (True, False)
        >>> model.train().layers[1].layers[0].training
        True
        """
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """Put this module and every module it holds in evaluation mode: ``train(False)``.

        Examples
        --------
        >>> relu = ReLU()
        >>> relu.training, relu.eval().training
        (True, False)
        """
        return self.train(False)


def _walk(module: Module, owner: str) -> Iterator[tuple[str, Module | Parameter]]:
    """Every module and parameter that ``module`` holds, depth first, with its attribute path.

    Raises :class:`ValueError`, naming both paths, on reaching one a second time.
    """
    seen = {id(module): "the module itself"}
    for path, item in _tree(module, ""):
        first = seen.setdefault(id(item), path)
        if first != path:
            why = (
                "a module keeps the inputs of one call only, so create a new one for each position"
                if isinstance(item, Module)
                else "its .grad would hold the gradient of one use, not the sum over all, so "
                "give each layer its own"
            )
            raise ValueError(f"{owner}: {path} ({item!r}) is also {first}; {why}")
        yield path, item


def _tree(module: Module, prefix: str) -> Iterator[tuple[str, Module | Parameter]]:
    for name, value in vars(module).items():
        items = enumerate(value) if isinstance(value, (list, tuple)) else [(None, value)]
        for i, item in items:
            if isinstance(item, (Module, Parameter)):
                path = prefix + name + ("" if i is None else f"[{i}]")
                yield path, item
                if isinstance(item, Module):  # reached only if the caller did not stop at it
                    yield from _tree(item, path + ".")


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
