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
:class:`ActivationStats` uses them to record, step by step, what every layer
of a network outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from deepfound.learner import Callback
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


def histogram(x: np.ndarray, bins: int, value_range: tuple[float, float]) -> np.ndarray:
    """Counts of the values of ``x`` in ``bins`` equal bins over ``value_range``.

    Values below or above the range are counted in the first or the last bin (a
    NaN in the last), so the counts always add up to ``x.size``: a layer whose
    outputs explode shows as a full last bin rather than as missing counts. Each
    bin holds its lower edge, as in ``numpy.histogram``.

    Examples
    --------
    >>> histogram(np.array([-5.0, 0.1, 0.5, 0.7, 9.0]), 2, (0.0, 1.0))
    array([2, 3])
    >>> histogram([0, 1, 2, 3], 4, (0.0, 2.0))
    array([1, 0, 1, 2])
    """
    low, high = value_range
    if not (bins >= 1 and high > low):
        raise ValueError(
            f"histogram: bins >= 1 and an increasing range needed, got {bins} and {value_range}"
        )
    # Sorting once and locating the bin edges is faster than binning value by value.
    values = np.sort(x, axis=None)
    # Edges of the values' own float type: no converted copy of the values to compare.
    edges = np.linspace(low, high, bins + 1)[1:-1]
    if values.dtype.kind == "f":
        edges = edges.astype(values.dtype)
    below = np.searchsorted(values, edges)  # how many values lie below each inner edge
    return np.diff(below, prepend=0, append=values.size)


class ActivationStats(Callback):
    """Per training step and per module: mean, standard deviation and histogram of its output.

    Hooks on ``modules`` record every forward pass made in training mode (passes
    in evaluation mode, such as :func:`~deepfound.learner.evaluate`'s, are not
    steps); with ``gradients=True`` they also record, after every backward pass,
    the norm of the gradient with respect to the module's output and the norm of
    its parameters' gradients. As a callback of :func:`~deepfound.learner.fit`,
    the hooks are attached for the duration of training; elsewhere, use it as a
    context manager. What was recorded stays after the hooks are removed.

    Parameters
    ----------
    modules : list of deepfound.nn.Module
        The modules to observe (any iterable), in the order the results are reported.
    bins : int
        Bins of the histogram of each step (see :func:`histogram`).
    value_range : tuple of float
        The (low, high) range the bins cover.
    steps : int, optional
        Record the first ``steps`` training steps only; every step if omitted.
    gradients : bool
        Also record the gradient norms.

    Attributes
    ----------
    means, stds : ndarray
        (n_modules, n_steps): mean and standard deviation of each module's output.
    histograms : ndarray
        (n_modules, n_steps, bins) counts.
    output_grad_norms, param_grad_norms : ndarray
        (n_modules, n_steps), with ``gradients=True``; NaN for a module without parameters.

    Examples
    --------
    >>> from deepfound.nn import Linear, ReLU, Sequential
    >>> model = Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1))
    >>> stats = ActivationStats(model.layers[1:], bins=4, value_range=(0.0, 2.0))
    >>> x = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    >>> with stats:
    ...     for _ in range(3):
    ...         out = model(x)
    ...     _ = model.eval()(x)  # evaluation mode: not a step
    >>> stats.means.shape, stats.histograms.shape
    ((2, 3), (2, 3, 4))
    >>> bool(np.isclose(stats.means[1, 0], out.mean())), int(stats.histograms[0, 0].sum())
    (True, 32)
    """

    def __init__(
        self,
        modules: Iterable[Module],
        *,
        bins: int = 40,
        value_range: tuple[float, float] = (0.0, 10.0),
        steps: int | None = None,
        gradients: bool = False,
    ) -> None:
        self.modules = list(modules)
        histogram(np.zeros(1), bins, value_range)  # checks the arguments now, not mid-training
        self.bins, self.value_range = bins, value_range
        self.steps, self.gradients = steps, gradients
        self._records = {name: [[] for _ in self.modules] for name in self._NAMES}
        self._hooks: list[Hook] = []

    _NAMES = ("means", "stds", "histograms", "output_grad_norms", "param_grad_norms")

    def _array(self, name: str) -> np.ndarray:
        return np.array(self._records[name], dtype=np.int64 if name == "histograms" else float)

    means = property(lambda self: self._array("means"))
    stds = property(lambda self: self._array("stds"))
    histograms = property(lambda self: self._array("histograms"))
    output_grad_norms = property(lambda self: self._array("output_grad_norms"))
    param_grad_norms = property(lambda self: self._array("param_grad_norms"))

    def _recording(self, module: Module, i: int, name: str) -> bool:
        """Whether this pass is a step to record: training mode, and below the step limit."""
        return module.training and (self.steps is None or len(self._records[name][i]) < self.steps)

    def _forward(self, i: int) -> Callable:
        def record(module, inputs, output) -> None:
            if self._recording(module, i, "means"):
                self._records["means"][i].append(float(output.mean()))
                self._records["stds"][i].append(float(output.std()))
                hist = histogram(output, self.bins, self.value_range)
                self._records["histograms"][i].append(hist)

        return record

    def _backward(self, i: int) -> Callable:
        def record(module, grad_input, grad_output) -> None:
            if self._recording(module, i, "output_grad_norms"):
                squares = [float(np.vdot(p.grad, p.grad)) for p in module.parameters()]
                norm = np.nan if grad_output is None else float(np.linalg.norm(grad_output))
                param_norm = float(np.sqrt(sum(squares))) if squares else np.nan
                self._records["output_grad_norms"][i].append(norm)
                self._records["param_grad_norms"][i].append(param_norm)

        return record

    def attach(self) -> ActivationStats:
        """Attach the hooks (if they are not attached already); returns ``self``."""
        if not self._hooks:
            for i, module in enumerate(self.modules):
                self._hooks.append(Hook(module, self._forward(i)))
                if self.gradients:
                    self._hooks.append(Hook(module, self._backward(i), backward=True))
        return self

    def remove(self) -> None:
        """Remove the hooks; the records stay."""
        for hook in self._hooks:
            hook.remove()
        self._hooks = []

    def __enter__(self) -> ActivationStats:
        return self.attach()

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def before_fit(self, model: Module) -> None:
        self.attach()

    def after_fit(self, model: Module) -> None:
        self.remove()
