"""What every layer shares: parameters, the call that keeps its forward state, the tree.

``module(x)`` runs :meth:`~deepfound.nn.Module.forward` and keeps what the backward
pass will need in one place, ``module.saved``; ``module.backward(grad_out)`` returns
the gradient with respect to the input and **overwrites** the ``.grad`` of each of
the module's parameters, so calling it twice gives the same gradients (nothing
accumulates). Under :func:`no_grad` a call keeps nothing, for passes that will not
be followed by a backward pass. The layers themselves live in :mod:`deepfound.nn`
and the modules of the later chapters, which import all of this from there.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from deepfound.grad_mode import is_grad_enabled


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
    """Base class: subclasses write ``forward`` and ``backward``; ``__call__`` keeps the state.

    **Forward state, one rule.** Everything a backward pass reads lives in one
    dictionary, ``.saved``: each call starts a new one holding the call's
    ``"inputs"`` (a tuple), ``forward`` adds what else it keeps with :meth:`save`
    (a convolution's windows, batch normalization's statistics), and the call
    adds its ``"out"``. ``.inputs`` and ``.out`` read it. Under :func:`no_grad`
    ``.saved`` is ``None``. A layer that reuses memory from call to call declares
    it the same way, in one dictionary, ``.scratch``. Neither is part of the model:
    copies of a model's state (:func:`~deepfound.lr_finder.lr_find`'s) skip both,
    and the next call rebuilds them. Every other array a module holds (running
    statistics) is state of the model.

    A module therefore remembers only its latest call: call it, then run its
    backward, before calling it again. For the same reason a module (or a
    parameter) cannot be used twice in one network: its ``.grad`` would hold the
    gradient of one use, not the sum over both. :class:`Sequential` and
    :meth:`parameters` reject such reuse at any depth.

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
    >>> sorted(double.saved), double.inputs
    (['inputs', 'out'], (array([1., 2.]),))
    >>> double.backward(np.array([1.0, 1.0]))
    array([2., 2.])
    """

    #: What the latest call kept for the backward pass (see above); ``None`` before a call.
    saved: dict | None = None
    #: Memory the module reuses from call to call, if any; never read across calls.
    scratch: dict | None = None
    #: Training mode (the default) or evaluation mode; set by :meth:`train` and :meth:`eval`.
    training: bool = True

    def __call__(self, *inputs):
        # Released before the forward pass, so an earlier call's arrays are not held meanwhile.
        self.saved = None
        if not is_grad_enabled():
            return self.forward(*inputs)
        self.saved = {"inputs": inputs}
        out = self.saved["out"] = self.forward(*inputs)
        return out

    def __getstate__(self) -> dict:
        """What a copy (``copy.deepcopy``) or a pickle of the module holds: the model alone.

        Not its forward state nor its scratch memory, which are as large as a batch and
        which its next call rebuilds: a copy starts as a module never called. Nor its
        hooks (:mod:`deepfound.hooks`): a hook belongs to the instance it is attached
        to, replacing that instance's method by a wrapper around the instance's own.
        A copy is the module as it would be with its hooks removed, running its own
        weights.

        Examples
        --------
        >>> import copy
        >>> from deepfound.nn import Linear
        >>> layer = Linear(3, 2, rng=0)
        >>> _ = layer(np.ones((4, 3), np.float32))
        >>> twin = copy.deepcopy(layer)
        >>> twin.saved, np.array_equal(twin.weight.data, layer.weight.data)
        (None, True)
        """
        state = dict(vars(self))
        state.pop("saved", None)
        if state.get("scratch"):
            state["scratch"] = {}
        for kind in state.pop("_hooks", {}):
            replaced = state.pop(kind).replaced  # what the hook's wrapper hides, if anything
            if replaced is not None:
                state[kind] = replaced
        return state

    def save(self, **values) -> None:
        """Keep ``values`` in ``.saved`` for the backward pass; under :func:`no_grad`, nothing."""
        if self.saved is not None:
            self.saved.update(values)

    @property
    def inputs(self) -> tuple | None:
        """The inputs of the latest call, ``.saved["inputs"]``; ``None`` if nothing was kept."""
        return None if self.saved is None else self.saved["inputs"]

    @property
    def out(self):
        """The output of the latest call, ``.saved["out"]``; ``None`` if nothing was kept."""
        return None if self.saved is None else self.saved.get("out")

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
        >>> from deepfound.nn import Linear, ReLU, Sequential
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
        >>> from deepfound.nn import Linear, ReLU, Sequential
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
        >>> from deepfound.nn import ReLU
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
