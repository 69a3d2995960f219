"""Stochastic gradient descent and a learning-rate schedule.

Backward passes **overwrite** each parameter's ``.grad`` (see :mod:`deepfound.nn`),
so there is no ``zero_grad``: every step uses the gradient of the last backward pass alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from deepfound.nn import Parameter


class SGD:
    """Plain stochastic gradient descent: ``p.data -= lr * p.grad`` for every parameter.

    Parameters
    ----------
    params : list of deepfound.nn.Parameter
        Usually ``model.parameters()``; the iterable is read once and kept as a list.
    lr : float
        Learning rate, a positive number; the training loop may change ``opt.lr`` between steps.

    Examples
    --------
    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad = np.array([10.0, -10.0])
    >>> opt = SGD([p], lr=0.1)
    >>> opt.step()
    >>> p.data
    array([0., 3.])
    """

    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError("SGD: no parameters to optimize (was the iterable already consumed?)")
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"SGD: parameters must be Parameter objects, got {type(p).__name__}"
                )
        if not lr > 0:
            raise ValueError(f"SGD: the learning rate must be positive, got {lr}")
        self.lr = lr
        # One scratch array per parameter, so a step allocates nothing.
        self._update = [np.empty_like(p.data) for p in self.params]

    def step(self) -> None:
        """Move every parameter one step against its gradient, in place."""
        for p, update in zip(self.params, self._update, strict=True):
            np.multiply(p.grad, self.lr, out=update)
            p.data -= update

    def __repr__(self) -> str:
        return f"SGD(lr={self.lr}, {len(self.params)} parameters)"


def linear_decay(lr: float, total_steps: int) -> Callable[[int], float]:
    """Learning rate for each step, falling linearly from ``lr`` at step 0 towards 0.

    Step ``t`` of ``total_steps`` uses ``lr * (1 - t / total_steps)``: large steps
    while the weights are far from a minimum, small ones to settle into it.

    Examples
    --------
    >>> schedule = linear_decay(0.5, total_steps=4)
    >>> [schedule(t) for t in range(4)]
    [0.5, 0.375, 0.25, 0.125]
    """
    if not lr > 0:
        raise ValueError(f"linear_decay: the learning rate must be positive, got {lr}")
    if total_steps < 1:
        raise ValueError(f"linear_decay: total_steps must be at least 1, got {total_steps}")

    def schedule(step: int) -> float:
        if not 0 <= step < total_steps:
            raise ValueError(f"linear_decay: step must lie in [0, {total_steps}), got {step}")
        return lr * (1 - step / total_steps)

    return schedule
