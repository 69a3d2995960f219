"""Optimizers with a step size per coordinate: RMSprop, Adam and AdamW.

Each divides the step by a running root-mean-square of the gradient, coordinate by
coordinate, so that a steep direction and a shallow one move at comparable speeds.
Every operation is the one ``torch.optim`` performs, in the same order, so the two
agree to rounding in float64; the state lives in arrays allocated when the optimizer
is built, updated in place. Each takes parameter groups, as every
:class:`~deepfound.optimizer.Optimizer` does.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from deepfound._checks import check_range
from deepfound.nn import Parameter
from deepfound.optimizer import Optimizer


class _Adaptive(Optimizer):
    """What RMSprop and Adam share: ``eps``, ``weight_decay``, state arrays of zeros, and a step.

    A step moves group after group (:meth:`~deepfound.optimizer.Optimizer.step`), by the
    subclass's ``_step_group(group, first)``, ``self.params[first]`` being the group's first
    parameter (its state's index in the lists).
    """

    def _check_options(self, group: dict, owner: str) -> None:
        check_range(owner, "eps", group["eps"], 0.0)
        check_range(owner, "weight_decay", group["weight_decay"], 0.0)

    def _zeros(self) -> list[np.ndarray]:
        return [np.zeros_like(p.data) for p in self.params]


class RMSprop(_Adaptive):
    """Divide each coordinate's step by a running root-mean-square of its gradient.

    .. math::

        s \\leftarrow \\alpha s + (1 - \\alpha) g^2, \\qquad
        p \\leftarrow p - \\eta \\frac{g}{\\sqrt{s} + \\epsilon},

    with :math:`g \\leftarrow g + \\lambda p` first if ``weight_decay`` is set, and with
    momentum :math:`\\mu > 0` the quotient accumulated in a buffer
    :math:`b \\leftarrow \\mu b + g / (\\sqrt{s} + \\epsilon)`, :math:`p \\leftarrow p - \\eta b`.
    The same as ``torch.optim.RMSprop`` (not centered). ``params`` may be parameter groups,
    as for :class:`~deepfound.optim.SGD`.

    Examples
    --------
    >>> p = Parameter(np.array([1.0, 1.0]))
    >>> p.grad = np.array([100.0, 0.1])
    >>> opt = RMSprop([p], lr=0.01)
    >>> opt.step()  # both coordinates move by lr / sqrt(1 - alpha) = 0.1, whatever the gradient
    >>> print(np.round(p.data, 6))
    [0.9 0.9]
    """

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict],
        lr: float = 0.01,
        *,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        options = {"eps": eps, "momentum": momentum, "weight_decay": weight_decay}
        super().__init__(params, lr, alpha=alpha, **options)
        self._square_avg = self._zeros()
        self._buffers = [
            np.zeros_like(p.data) if group["momentum"] > 0 else None
            for group in self.param_groups
            for p in group["params"]
        ]

    def _check_options(self, group: dict, owner: str) -> None:
        check_range(owner, "alpha", group["alpha"], 0.0, 1.0)
        check_range(owner, "momentum", group["momentum"], 0.0)
        super()._check_options(group, owner)

    def _step_group(self, group: dict, first: int) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        alpha, momentum, params = group["alpha"], group["momentum"], group["params"]
        square_avgs = self._square_avg[first : first + len(params)]
        for i, (p, square_avg) in enumerate(zip(params, square_avgs, strict=True), first):
            grad = p.grad
            if weight_decay != 0:
                grad = grad + p.data * weight_decay
            square_avg *= alpha
            square_avg += grad * (1 - alpha) * grad
            avg = np.sqrt(square_avg)
            avg += eps
            if momentum > 0:
                buf = self._buffers[i]
                if buf is None:  # momentum switched on after building
                    buf = self._buffers[i] = np.zeros_like(p.data)
                buf *= momentum
                buf += grad / avg
                p.data -= buf * lr
            else:
                p.data -= grad * lr / avg


class Adam(_Adaptive):
    """Momentum and RMSprop together, both averages corrected for their start at zero.

    At step :math:`t = 1, 2, \\dots`:

    .. math::

        m \\leftarrow \\beta_1 m + (1 - \\beta_1) g, \\qquad
        v \\leftarrow \\beta_2 v + (1 - \\beta_2) g^2,

        p \\leftarrow p - \\frac{\\eta}{1 - \\beta_1^t} \\,
            \\frac{m}{\\sqrt{v} / \\sqrt{1 - \\beta_2^t} + \\epsilon}.

    ``weight_decay`` :math:`\\lambda` adds :math:`\\lambda p` to the gradient first (L2
    regularization, which the division by :math:`\\sqrt{v}` then rescales); see
    :class:`AdamW` for the decoupled kind. The same as ``torch.optim.Adam``. ``params``
    may be parameter groups, as for :class:`~deepfound.optim.SGD`.

    Examples
    --------
    >>> p = Parameter(np.array([1.0, 1.0]))
    >>> p.grad = np.array([100.0, 0.01])
    >>> opt = Adam([p], lr=0.1)
    >>> opt.step()  # the bias-corrected first step is lr * sign(g) in every coordinate
    >>> print(np.round(p.data, 6))
    [0.9 0.9]
    >>> Adam([p], betas=(0.9, 1.0))
    Traceback (most recent call last):
    ValueError: Adam: betas[1] must lie in [0.0, 1.0), got 1.0

    A group's options override the constructor's, and are checked the same way:

    >>> b = Parameter(np.zeros(2))
    >>> opt = Adam([{"params": [p]}, {"params": [b], "betas": (0.5, 0.9)}], lr=0.1)
    >>> opt.param_groups[1]["betas"], opt.param_groups[0]["betas"]
    ((0.5, 0.9), (0.9, 0.999))
    >>> Adam([{"params": [p]}, {"params": [b], "eps": -1.0}])
    Traceback (most recent call last):
    ValueError: Adam (param_groups[1]): eps must not be below 0.0, got -1.0
    """

    decoupled = False

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict],
        lr: float = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)
        self.steps = 0
        self._exp_avg, self._exp_avg_sq = self._zeros(), self._zeros()

    def _check_options(self, group: dict, owner: str) -> None:
        group["betas"] = _check_betas(owner, group["betas"])
        super()._check_options(group, owner)

    @property
    def betas(self) -> tuple[float, float]:
        """:math:`(\\beta_1, \\beta_2)`, settable (one-cycle varies :math:`\\beta_1`).

        Reading it raises ``ValueError`` when the groups' betas differ; setting it sets
        every group's.
        """
        return self._shared("betas")

    @betas.setter
    def betas(self, value: tuple[float, float]) -> None:
        self._set_all("betas", _check_betas(type(self).__name__, value))

    def step(self) -> None:
        """Move every parameter one step, in place."""
        self.steps += 1
        super().step()

    def _step_group(self, group: dict, first: int) -> None:
        lr, eps, weight_decay = group["lr"], group["eps"], group["weight_decay"]
        beta1, beta2 = group["betas"]
        step_size = lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = (1 - beta2**self.steps) ** 0.5
        last = first + len(group["params"])
        state = zip(
            group["params"], self._exp_avg[first:last], self._exp_avg_sq[first:last], strict=True
        )
        for p, exp_avg, exp_avg_sq in state:
            grad = p.grad
            if weight_decay != 0:
                if self.decoupled:
                    p.data *= 1 - lr * weight_decay
                else:
                    grad = grad + p.data * weight_decay
            _lerp_(exp_avg, grad, 1 - beta1)
            exp_avg_sq *= beta2
            exp_avg_sq += grad * (1 - beta2) * grad
            denom = np.sqrt(exp_avg_sq)
            denom /= bias_correction2_sqrt
            denom += eps
            step = exp_avg * step_size
            step /= denom
            p.data -= step


def _check_betas(owner: str, value) -> tuple[float, float]:
    """``value`` as a pair ``(beta1, beta2)``, each in ``[0, 1)``; else a ``ValueError``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{owner}: betas must be a pair (beta1, beta2), got {value!r}")
    beta1, beta2 = value
    return (
        check_range(owner, "betas[0]", beta1, 0.0, 1.0),
        check_range(owner, "betas[1]", beta2, 0.0, 1.0),
    )


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float) -> None:
    """``start += weight * (end - start)`` in place, computed from the nearer end as ``torch.lerp``.

    The two forms are equal in exact arithmetic; rounding as PyTorch does keeps
    :class:`Adam` equal to ``torch.optim.Adam`` step for step.

    Examples
    --------
    >>> a, b = np.array([0.0]), np.array([0.0])
    >>> _lerp_(a, np.array([10.0]), 0.25), _lerp_(b, np.array([10.0]), 0.75)
    (None, None)
    >>> a, b
    (array([2.5]), array([7.5]))
    """
    if weight < 0.5:
        start += (end - start) * weight
    else:
        start[...] = end + (end - start) * (weight - 1)


class AdamW(Adam):
    """Adam with decoupled weight decay: shrink the weights, apart from the gradient step.

    Each step first multiplies every parameter by :math:`1 - \\eta \\lambda`, then takes
    Adam's step with the plain gradient. With L2 regularization (``Adam``'s
    ``weight_decay``) the decay term passes through the division by :math:`\\sqrt{v}`, so
    weights with large gradients are decayed less; here every weight decays at the same
    rate. The same as ``torch.optim.AdamW`` (whose default ``weight_decay`` is 0.01).

    Examples
    --------
    >>> p = Parameter(np.array([2.0]))
    >>> p.grad = np.array([0.0])
    >>> opt = AdamW([p], lr=0.1, weight_decay=0.5)
    >>> opt.step()  # zero gradient: only the decay, 2 * (1 - 0.1 * 0.5)
    >>> p.data
    array([1.9])
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[Parameter] | Iterable[dict],
        lr: float = 0.001,
        *,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ) -> None:
        super().__init__(params, lr, betas=betas, eps=eps, weight_decay=weight_decay)
