"""Learning-rate schedules: functions from the step number to a learning rate.

Each ``make(..., total_steps)`` returns ``schedule(step)`` for ``step`` in
``[0, total_steps)``; :func:`~deepfound.learner.fit` calls it before every step and
sets the optimizer's ``lr``. Every schedule checks its arguments by the same rule (a
positive, finite learning rate; an integer ``total_steps`` of at least 1; integer steps
in range) and raises ``ValueError`` naming what was wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from deepfound._checks import check_int, check_number, check_positive, check_range, is_int


def _check_schedule(name: str, lr: float, total_steps: int) -> None:
    """The rule every schedule checks its arguments by: a positive finite rate, whole steps."""
    check_positive(name, "the learning rate", lr)
    check_int(name, "total_steps", total_steps, 1)


def _check_step(name: str, step: int, total_steps: int) -> None:
    if not is_int(step):
        raise ValueError(f"{name}: step must be an integer, got {step!r}")
    if not 0 <= step < total_steps:
        raise ValueError(f"{name}: step must lie in [0, {total_steps}), got {step}")


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
    _check_schedule("linear_decay", lr, total_steps)

    def schedule(step: int) -> float:
        _check_step("linear_decay", step, total_steps)
        return lr * (1 - step / total_steps)

    return schedule


def cosine_decay(lr: float, total_steps: int) -> Callable[[int], float]:
    """Learning rate falling from ``lr`` towards 0 along half a cosine wave.

    Step ``t`` uses ``lr * (1 + cos(pi * t / total_steps)) / 2``: flat at the start,
    steepest in the middle, flat again near zero at the end.

    Examples
    --------
    >>> schedule = cosine_decay(1.0, total_steps=4)
    >>> print([round(schedule(t), 4) for t in range(4)])
    [1.0, 0.8536, 0.5, 0.1464]
    """
    _check_schedule("cosine_decay", lr, total_steps)

    def schedule(step: int) -> float:
        _check_step("cosine_decay", step, total_steps)
        return lr * (1 + math.cos(math.pi * step / total_steps)) / 2

    return schedule


def _anneal_cos(start: float, end: float, pct: float) -> float:
    """From ``start`` at ``pct = 0`` to ``end`` at ``pct = 1`` on half a cosine, as torch does."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


def _one_cycle_phase(
    name: str, total_steps: int, pct_start: float
) -> Callable[[int], tuple[bool, float]]:
    """``phase(step) -> (warming_up, pct)``: which half of the cycle, and how far into it.

    The boundaries are PyTorch's: the warm-up ends at step ``pct_start * total_steps - 1``
    and the annealing at ``total_steps - 1``. A warm-up that would end at step 0 or before
    is skipped, and the annealing starts at step 0 (where PyTorch divides by zero if the
    warm-up ends exactly at step 0).
    """
    check_int(name, "total_steps", total_steps, 1)
    check_range(name, "pct_start", pct_start, 0.0, 1.0)
    end_warmup, end = float(pct_start * total_steps) - 1, total_steps - 1

    def phase(step: int) -> tuple[bool, float]:
        _check_step(name, step, total_steps)
        if end_warmup > 0 and step <= end_warmup:
            return True, step / end_warmup
        return False, (step - end_warmup) / (end - end_warmup)

    return phase


def _two_phases(
    phase: Callable[[int], tuple[bool, float]], start: float, peak: float, end: float
) -> Callable[[int], float]:
    """From ``start`` to ``peak`` during the warm-up of ``phase``, then from ``peak`` to ``end``."""

    def schedule(step: int) -> float:
        warming_up, pct = phase(step)
        return _anneal_cos(start, peak, pct) if warming_up else _anneal_cos(peak, end, pct)

    return schedule


def one_cycle(
    max_lr: float,
    total_steps: int,
    *,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Callable[[int], float]:
    """One cycle: warm up from ``max_lr / div_factor`` to ``max_lr``, then anneal far below.

    Over the first ``pct_start`` of the steps the learning rate rises along half a
    cosine from ``max_lr / div_factor`` to ``max_lr``; over the rest it falls, again
    along half a cosine, to ``max_lr / (div_factor * final_div_factor)``. The warm-up
    lets the weights leave their random start before the steps get large. Step for
    step the learning rate of ``torch.optim.lr_scheduler.OneCycleLR`` (cosine, two phases).

    Examples
    --------
    >>> schedule = one_cycle(1.0, total_steps=10, pct_start=0.3, div_factor=10.0)
    >>> print([round(schedule(t), 4) for t in range(10)])
    [0.1, 0.55, 1.0, 0.9505, 0.8117, 0.6113, 0.3887, 0.1883, 0.0495, 0.0]
    """
    name = "one_cycle"
    _check_schedule(name, max_lr, total_steps)
    check_number(name, "div_factor", div_factor)
    check_number(name, "final_div_factor", final_div_factor)
    if not (div_factor > 0 and final_div_factor > 0):
        raise ValueError(
            f"{name}: div_factor and final_div_factor must be positive, "
            f"got {div_factor} and {final_div_factor}"
        )
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    return _two_phases(_one_cycle_phase(name, total_steps, pct_start), initial_lr, max_lr, min_lr)


def one_cycle_momentum(
    total_steps: int,
    *,
    pct_start: float = 0.3,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
) -> Callable[[int], float]:
    """The momentum that goes with :func:`one_cycle`: low while the learning rate is high.

    Falls from ``max_momentum`` to ``base_momentum`` during the warm-up and rises back
    during the annealing, so that the effective step, about ``lr / (1 - momentum)``,
    does not grow as fast as the learning rate. ``OneCycleLR``'s momentum (or
    Adam's ``beta1``), step for step.

    Examples
    --------
    >>> momentum = one_cycle_momentum(10, pct_start=0.3)
    >>> print([round(momentum(t), 3) for t in (0, 1, 2, 9)])
    [0.95, 0.9, 0.85, 0.95]
    """
    name = "one_cycle_momentum"
    check_number(name, "base_momentum", base_momentum)
    check_number(name, "max_momentum", max_momentum)
    if not 0 <= base_momentum <= max_momentum < 1:
        raise ValueError(
            f"{name}: 0 <= base_momentum <= max_momentum < 1 expected, "
            f"got {base_momentum} and {max_momentum}"
        )
    phase = _one_cycle_phase(name, total_steps, pct_start)
    return _two_phases(phase, max_momentum, base_momentum, max_momentum)
