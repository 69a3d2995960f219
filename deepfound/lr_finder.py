"""The learning-rate finder: train briefly with a growing learning rate and watch the loss.

Too small a learning rate barely moves the loss; too large a one makes it explode. In
between the loss falls fastest. :func:`lr_find` tries learning rates growing
exponentially over a few hundred steps, records the loss of each step, and puts the
model and the optimizer back as they were, so that real training starts from the same
place. The loss of a single batch is noisy, so the rule for stopping and the plots use
an exponentially weighted moving average (:class:`EWMA`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np

from deepfound._checks import check_int, check_number, check_range
from deepfound.nn import Module
from deepfound.optimizer import Optimizer


class EWMA:
    """Exponentially weighted moving average, corrected for its start at zero.

    ``update(x)`` sets :math:`a_t = \\beta a_{t-1} + (1 - \\beta) x_t` (with :math:`a_0 = 0`)
    and returns :math:`a_t / (1 - \\beta^t)`: the raw average is pulled towards its
    zero start, by the weight :math:`\\beta^t` it still gives to it; dividing by
    :math:`1 - \\beta^t` gives the weights of the values seen so far a sum of one.

    Examples
    --------
    >>> avg = EWMA(0.9)
    >>> print([round(avg.update(x), 6) for x in (5.0, 5.0, 5.0)])
    [5.0, 5.0, 5.0]
    >>> print(round(avg.raw, 6))
    1.355
    """

    def __init__(self, beta: float) -> None:
        self.beta = check_range("EWMA", "beta", beta, 0.0, 1.0)
        self.raw, self.count = 0.0, 0

    def update(self, x: float) -> float:
        """Take in ``x``; return the bias-corrected average."""
        self.count += 1
        self.raw = self.beta * self.raw + (1 - self.beta) * x
        return self.raw / (1 - self.beta**self.count)


def ewma(values: Iterable[float], beta: float) -> np.ndarray:
    """The bias-corrected running average of ``values``, one entry per value (see :class:`EWMA`).

    Examples
    --------
    >>> print(ewma([1.0, 3.0], beta=0.5))
    [1.         2.33333333]
    """
    avg = EWMA(beta)
    return np.array([avg.update(x) for x in values], dtype=float)


def lr_find(
    model: Module,
    loss_fn: Module,
    opt: Optimizer,
    loader: Iterable,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 10.0,
    num_steps: int = 300,
    beta: float = 0.98,
    diverge: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Train with a learning rate growing exponentially, step by step, until the loss explodes.

    Step ``i`` uses ``start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))``, on the
    batches of ``loader`` (again from its start if it runs out). The run stops after
    ``num_steps`` steps, or as soon as the loss is not finite or its bias-corrected
    moving average (factor ``beta``) exceeds ``diverge`` times the lowest it has been.
    The model trains in training mode. Afterwards, even if a step raised, every parameter
    of ``model`` holds its old values again (copied back into the same arrays), so do the
    other public arrays its modules keep (such as batch normalization's running statistics),
    every module is back in its old mode, and ``opt`` has its old state and learning rate.
    Each step sets ``opt.lr``, the learning rate of every parameter group; afterwards each
    group has its own again.

    Parameters
    ----------
    model, loss_fn : deepfound.nn.Module
        The network and its loss, as for :func:`~deepfound.learner.fit`.
    opt : deepfound.optimizer.Optimizer
        Any optimizer over ``model.parameters()``.
    loader : deepfound.loader.DataLoader
        Training batches; any iterable of ``(x, y)`` pairs will do.
    start_lr, end_lr : float
        First and last learning rate tried, ``0 < start_lr < end_lr``.
    num_steps : int
        Steps from ``start_lr`` to ``end_lr`` (at least 2).
    beta : float
        Smoothing of the loss for the stopping rule, in ``[0, 1)``.
    diverge : float
        Stop when the smoothed loss exceeds this many times its minimum (above 1).

    Returns
    -------
    lrs, losses : ndarray
        The learning rate of each step taken and the loss of its batch, measured before
        the step moved the weights; smooth ``losses`` with :func:`ewma` to plot them.

    Examples
    --------
    >>> from deepfound.loader import DataLoader, Dataset
    >>> from deepfound.losses import CrossEntropy
    >>> from deepfound.nn import Linear
    >>> from deepfound.optim import SGD
    >>> x = np.random.default_rng(0).standard_normal((256, 2)).astype(np.float32)
    >>> data = DataLoader(Dataset(x, (x[:, 0] > 0).astype(np.int64)), 32, shuffle=True, rng=0)
    >>> model = Linear(2, 2, rng=0)
    >>> before = model.weight.data.copy()
    >>> lrs, losses = lr_find(model, CrossEntropy(), SGD(model.parameters(), lr=0.1), data,
    ...                       start_lr=1e-3, end_lr=1e4, num_steps=100)
    >>> len(lrs) < 100, float(losses.min()) < float(losses[0])  # it learned, then stopped
    (True, True)
    >>> bool(np.array_equal(model.weight.data, before))
    True
    """
    check_int("lr_find", "num_steps", num_steps, 2)
    for label, value in (("start_lr", start_lr), ("end_lr", end_lr), ("diverge", diverge)):
        check_number("lr_find", label, value)
    if not 0 < start_lr < end_lr < math.inf:
        raise ValueError(f"lr_find: 0 < start_lr < end_lr expected, got {start_lr} and {end_lr}")
    if not diverge > 1:
        raise ValueError(f"lr_find: diverge must be above 1, got {diverge}")
    smoothed = EWMA(beta)
    schedule = start_lr * (end_lr / start_lr) ** (np.arange(num_steps) / (num_steps - 1))
    saved = _ModelState(model)
    saved_state = opt.state_dict()
    model.train()
    lrs: list[float] = []
    losses: list[float] = []
    best = math.inf
    try:
        for lr, (x, y) in zip(schedule, _forever(loader), strict=False):
            opt.lr = float(lr)
            loss = loss_fn(model(x), y)
            lrs.append(opt.lr)
            losses.append(loss)
            if not math.isfinite(loss):
                break
            model.backward(loss_fn.backward())
            opt.step()
            average = smoothed.update(loss)
            best = min(best, average)
            if average > diverge * best:
                break
    finally:
        saved.restore()
        opt.load_state_dict(saved_state)
    return np.array(lrs), np.array(losses)


class _ModelState:
    """A copy of a model's parameters, of the other arrays its modules keep, and of their modes.

    A module's forward state (``.saved``) and scratch memory (``.scratch``) are not part of
    the model (see :class:`~deepfound.nn.Module`): the next forward pass rebuilds them, so
    they are neither copied nor restored.
    """

    def __init__(self, model: Module) -> None:
        self.weights = [(p.data, p.data.copy()) for p in model.parameters()]
        modules = list(model.modules())
        self.modes = [(module, module.training) for module in modules]
        self.arrays = [
            (module, name, array, array.copy())
            for module in modules
            for name, array in vars(module).items()
            if isinstance(array, np.ndarray)
        ]

    def restore(self) -> None:
        for data, copy in self.weights:
            np.copyto(data, copy)
        for module, name, array, copy in self.arrays:
            # Updated in place (running statistics): copy back; replaced: put the old one back.
            if getattr(module, name) is array:
                np.copyto(array, copy)
            else:
                setattr(module, name, copy)
        for module, training in self.modes:
            module.training = training


def _forever(loader: Iterable) -> Iterator:
    """The batches of ``loader``, starting over each time it runs out."""
    while True:
        empty = True
        for batch in loader:
            empty = False
            yield batch
        if empty:
            raise ValueError("lr_find: the loader yielded no batches")
