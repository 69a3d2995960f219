"""Hooks: run a function after a module's forward or backward pass, to look inside training.

A :class:`Hook` attaches a function to one module without changing the module's
class or code: while it is attached, ``fn(module, inputs, output)`` runs after
every forward pass, or ``fn(module, grad_input, grad_output)`` after every
backward pass (the arguments of PyTorch's hooks, in PyTorch's order).
``grad_output`` is what ``backward`` was given (``None`` for a loss), and
``grad_input`` what it returned; when the hook runs, the module's parameters
already hold their new ``.grad``.

Attaching the first hook of a kind replaces the module's method by a wrapper on
that one instance; removing the last puts the method back. A module without
hooks is therefore exactly the module it was: hooks cost nothing when unused.
A copy or a pickle of a hooked module is that module without its hooks (the
module's ``__getstate__`` leaves them out): it runs its own weights and reports to no hook.
:class:`~deepfound.stats.ActivationStats` uses them to record, step by step,
what every layer of a network outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from deepfound.nn import Module

_KINDS = ("forward", "backward")


def _attached(module: Module, kind: str) -> list[Hook]:
    """The hooks of ``kind`` on ``module``, installing the wrapper that runs them if needed."""
    hooks = vars(module).setdefault("_hooks", {})
    if kind not in hooks:
        method = getattr(module, kind)
        run = hooks[kind] = []

        if kind == "forward":

            def wrapper(*inputs):
                output = method(*inputs)
                for hook in tuple(run):  # a copy: a hook may remove itself
                    hook.fn(module, inputs, output)
                return output
        else:

            def wrapper(*grads):
                grad_input = method(*grads)
                grad_output = grads[0] if grads else None
                for hook in tuple(run):
                    hook.fn(module, grad_input, grad_output)
                return grad_input

        # What the wrapper hides: an instance's own method, or None for the class's.
        wrapper.replaced = vars(module).get(kind)
        setattr(module, kind, wrapper)
    return hooks[kind]


class Hook:
    """Run ``fn`` after every forward (or backward) pass of ``module`` until removed.

    A hook is removed by :meth:`remove`, or at the end of a ``with`` block.

    Parameters
    ----------
    module : deepfound.nn.Module
        The module to observe.
    fn : callable
        ``fn(module, inputs, output)`` after a forward pass (``inputs`` is the
        tuple of the call's arguments), or ``fn(module, grad_input, grad_output)``
        after a backward pass.
    backward : bool
        Run after the backward pass instead of the forward pass.

    Examples
    --------
    >>> import numpy as np
    >>> from deepfound.nn import ReLU
    >>> relu, seen = ReLU(), []
    >>> with Hook(relu, lambda module, inputs, output: seen.append(output.sum())):
    ...     _ = relu(np.array([-1.0, 2.0, 3.0]))
    >>> print(seen)
    [np.float64(5.0)]
    >>> _ = relu(np.array([1.0]))  # removed: nothing recorded
    >>> len(seen), "forward" in vars(relu)
    (1, False)
    """

    def __init__(self, module: Module, fn: Callable, *, backward: bool = False) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"Hook: a Module is needed, got {type(module).__name__}")
        self.module, self.fn = module, fn
        self.kind = _KINDS[backward]
        _attached(module, self.kind).append(self)

    def remove(self) -> None:
        """Detach the hook; the last hook of its kind to go restores the module's method.

        Removing a hook twice does nothing the second time.
        """
        hooks = vars(self.module).get("_hooks", {})
        run = hooks.get(self.kind, [])
        if self not in run:
            return
        run.remove(self)
        if not run:
            del hooks[self.kind]
            replaced = getattr(self.module, self.kind).replaced
            if replaced is None:
                delattr(self.module, self.kind)
            else:
                setattr(self.module, self.kind, replaced)
        if not hooks:
            del self.module._hooks

    def __enter__(self) -> Hook:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()


class Hooks(list):
    """One :class:`Hook` with the same ``fn`` on each of ``modules``; a list of them.

    Examples
    --------
    >>> import numpy as np
    >>> from deepfound.nn import Linear, ReLU, Sequential
    >>> model = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
    >>> shapes = []
    >>> with Hooks(model.layers, lambda m, inputs, out: shapes.append(out.shape)):
    ...     _ = model(np.ones((5, 3), np.float32))
    >>> shapes
    [(5, 4), (5, 4), (5, 2)]
    """

    def __init__(self, modules: Iterable[Module], fn: Callable, *, backward: bool = False):
        super().__init__(Hook(module, fn, backward=backward) for module in modules)

    def remove(self) -> None:
        """Remove every hook."""
        for hook in self:
            hook.remove()

    def __enter__(self) -> Hooks:
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()
