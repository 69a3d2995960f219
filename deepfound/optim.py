"""Stochastic gradient descent, with momentum, Nesterov momentum and weight decay.

Each optimizer here and in :mod:`deepfound.adaptive` takes the same steps as the
``torch.optim`` class of the same name, operation for operation. Backward passes
**overwrite** each parameter's ``.grad`` (see :mod:`deepfound.nn`), so there is no
``zero_grad``: every step uses the gradient of the last backward pass alone.

This module is also the one place to import every optimizer, schedule and the
learning-rate finder from.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from deepfound._checks import check_range
from deepfound.adaptive import Adam, AdamW, RMSprop
from deepfound.lr_finder import ewma, lr_find
from deepfound.nn import Parameter
from deepfound.optimizer import Optimizer
from deepfound.schedules import cosine_decay, linear_decay, one_cycle, one_cycle_momentum

__all__ = [
    "SGD",
    "RMSprop",
    "Adam",
    "AdamW",
    "Optimizer",
    "linear_decay",
    "cosine_decay",
    "one_cycle",
    "one_cycle_momentum",
    "lr_find",
    "ewma",
]


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and weight decay, as ``torch.optim.SGD``.

    With gradient :math:`g`, weight decay :math:`\\lambda` and momentum :math:`\\mu`, a step is

    .. math::

        g \\leftarrow g + \\lambda p, \\qquad
        b \\leftarrow \\mu b + g \\ (b = g \\text{ at the first step}), \\qquad
        p \\leftarrow p - \\eta\\, d,

    where the direction :math:`d` is :math:`b`, or :math:`g + \\mu b` with Nesterov
    momentum, or :math:`g` without momentum. Plain SGD (no momentum, no weight decay)
    takes a path of two array operations per parameter.

    Parameters
    ----------
    params : list of deepfound.nn.Parameter
        Usually ``model.parameters()`` (any iterable); read once and kept as a list.
    lr : float
        Learning rate, a positive number; the training loop may change ``opt.lr`` between steps.
    momentum : float
        :math:`\\mu \\ge 0`; settable between steps (a one-cycle schedule does that).
    nesterov : bool
        Look ahead along the momentum; needs a positive momentum.
    weight_decay : float
        :math:`\\lambda \\ge 0`, the L2 penalty's coefficient, added to the gradient.

    Examples
    --------
    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad = np.array([10.0, -10.0])
    >>> opt = SGD([p], lr=0.1)
    >>> opt.step()
    >>> p.data
    array([0., 3.])
    >>> opt = SGD([p], lr=0.1, momentum=0.5)
    >>> opt.step(); opt.step()  # the second step moves 1.5 times as far as the first
    >>> p.data
    array([-2.5,  5.5])
    >>> SGD([p], lr=0.1, nesterov=True)
    Traceback (most recent call last):
    ValueError: SGD: Nesterov momentum needs a positive momentum, got 0.0
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        self.nesterov = bool(nesterov)
        self.momentum = momentum
        self.weight_decay = check_range("SGD", "weight_decay", weight_decay, 0.0)
        # One scratch array per parameter, so a step allocates nothing; a second one for the
        # Nesterov direction. Momentum buffers start as a copy of the first gradient (as in torch).
        self._update = [np.empty_like(p.data) for p in self.params]
        self._lookahead = [np.empty_like(p.data) for p in self.params] if nesterov else None
        self._buffers: list[np.ndarray | None] = [None] * len(self.params)

    @property
    def momentum(self) -> float:
        """The momentum :math:`\\mu` of the next step."""
        return self._momentum

    @momentum.setter
    def momentum(self, value: float) -> None:
        check_range("SGD", "momentum", value, 0.0)
        if self.nesterov and not value > 0:
            raise ValueError(f"SGD: Nesterov momentum needs a positive momentum, got {value}")
        self._momentum = value

    def step(self) -> None:
        """Move every parameter one step, in place."""
        lr, momentum, weight_decay = self._lr, self._momentum, self.weight_decay
        if momentum == 0 and weight_decay == 0:
            for p, update in zip(self.params, self._update, strict=True):
                np.multiply(p.grad, lr, out=update)
                p.data -= update
            return
        for i, (p, update) in enumerate(zip(self.params, self._update, strict=True)):
            grad = p.grad
            if weight_decay != 0:
                np.multiply(p.data, weight_decay, out=update)
                grad = np.add(grad, update, out=update)
            if momentum != 0:
                buf = self._buffers[i]
                if buf is None:
                    buf = self._buffers[i] = grad.copy()
                else:
                    buf *= momentum
                    buf += grad
                if self.nesterov:
                    lookahead = np.multiply(buf, momentum, out=self._lookahead[i])
                    grad = np.add(grad, lookahead, out=lookahead)
                else:
                    grad = buf
            np.multiply(grad, lr, out=update)
            p.data -= update

    def __repr__(self) -> str:
        extras = f", momentum={self.momentum}" if self.momentum else ""
        extras += ", nesterov=True" if self.nesterov else ""
        extras += f", weight_decay={self.weight_decay}" if self.weight_decay else ""
        return f"SGD(lr={self.lr}{extras}, {len(self.params)} parameters)"
