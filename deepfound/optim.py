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
    params : list of deepfound.nn.Parameter, or list of dict
        Usually ``model.parameters()`` (any iterable), read once; or parameter groups,
        dicts ``{"params": [...], "lr": ..., ...}`` whose options override the ones below
        (see :class:`~deepfound.optimizer.Optimizer`).
    lr : float
        Learning rate, a positive number; the training loop may change ``opt.lr`` between
        steps, which sets every group's.
    momentum : float
        :math:`\\mu \\ge 0`; settable between steps (a one-cycle schedule does that), in every
        group through ``opt.momentum`` or in one through ``opt.param_groups[i]["momentum"]``.
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

    Parameter groups: weight decay on the weight but not on the bias, whose learning rate
    is then halved, for the next steps only.

    >>> w, b = Parameter(np.ones(2)), Parameter(np.ones(2))
    >>> w.grad, b.grad = np.zeros(2), np.zeros(2)
    >>> opt = SGD([{"params": [w], "weight_decay": 0.5}, {"params": [b]}], lr=0.1)
    >>> {key: value for key, value in opt.param_groups[1].items() if key != "params"}
    {'lr': 0.1, 'momentum': 0.0, 'nesterov': False, 'weight_decay': 0.0}
    >>> b.grad = np.ones(2)
    >>> opt.step()
    >>> w.data, b.data  # w decays by lr * 0.5; b moves by lr * grad
    (array([0.95, 0.95]), array([0.9, 0.9]))
    >>> opt.param_groups[1]["lr"] = 0.05
    >>> opt.step()
    >>> b.data
    array([0.85, 0.85])
    >>> opt.lr
    Traceback (most recent call last):
    ValueError: SGD: the parameter groups have different lr (0.1, 0.05); read ...
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict],
        lr: float,
        *,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay
        )
        # One scratch array per parameter, so a step allocates nothing; a second one for the
        # Nesterov direction. Momentum buffers start as a copy of the first gradient (as in torch).
        self._update = [np.empty_like(p.data) for p in self.params]
        self._lookahead = [
            np.empty_like(p.data) if group["nesterov"] else None
            for group in self.param_groups
            for p in group["params"]
        ]
        self._buffers: list[np.ndarray | None] = [None] * len(self.params)

    def _check_options(self, group: dict, owner: str) -> None:
        group["nesterov"] = bool(group["nesterov"])
        _check_momentum(owner, group["momentum"], group["nesterov"])
        check_range(owner, "weight_decay", group["weight_decay"], 0.0)

    @property
    def momentum(self) -> float:
        """The momentum :math:`\\mu` of the next step, in every group.

        Reading it raises ``ValueError`` when the groups' momenta differ; setting it sets
        every group's.
        """
        return self._shared("momentum")

    @momentum.setter
    def momentum(self, value: float) -> None:
        for group in self.param_groups:
            _check_momentum("SGD", value, group["nesterov"])
        self._set_all("momentum", value)

    def _step_group(self, group: dict, first: int) -> None:
        """Move the parameters of ``group``, the first of which is ``self.params[first]``."""
        lr, momentum, weight_decay = group["lr"], group["momentum"], group["weight_decay"]
        params = group["params"]
        updates = self._update[first : first + len(params)]
        if momentum == 0 and weight_decay == 0:
            for p, update in zip(params, updates, strict=True):
                np.multiply(p.grad, lr, out=update)
                p.data -= update
            return
        for i, (p, update) in enumerate(zip(params, updates, strict=True), first):
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
                if group["nesterov"]:
                    if self._lookahead[i] is None:  # Nesterov switched on after building
                        self._lookahead[i] = np.empty_like(p.data)
                    lookahead = np.multiply(buf, momentum, out=self._lookahead[i])
                    grad = np.add(grad, lookahead, out=lookahead)
                else:
                    grad = buf
            np.multiply(grad, lr, out=update)
            p.data -= update


def _check_momentum(owner: str, momentum: float, nesterov: bool) -> None:
    check_range(owner, "momentum", momentum, 0.0)
    if nesterov and not momentum > 0:
        raise ValueError(f"{owner}: Nesterov momentum needs a positive momentum, got {momentum}")
