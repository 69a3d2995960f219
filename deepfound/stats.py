"""Statistics of every layer's outputs, step by step: what hooks show of a network in training.

:class:`ActivationStats` attaches a :class:`~deepfound.hooks.Hook` to each module it
observes and records, per training step, the mean, the standard deviation and a
:func:`histogram` of the module's output (and, if asked, its gradients' norms).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from deepfound.hooks import Hook
from deepfound.learner import Callback
from deepfound.nn import Module


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
