"""deepfound.schedules against their formulas and torch.optim.lr_scheduler, step for step."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from deepfound.optim import cosine_decay, linear_decay, one_cycle, one_cycle_momentum
from deepfound.testing import test_near


def _torch_values(
    make_scheduler, total_steps: int, *, lr: float = 0.1, momentum: bool = False
) -> list[float]:
    """The learning rate (or momentum) a torch scheduler gives its optimizer at each step."""
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=lr, momentum=0.9)
    scheduler = make_scheduler(opt)
    values = []
    for _ in range(total_steps):
        values.append(opt.param_groups[0]["momentum" if momentum else "lr"])
        opt.step()
        scheduler.step()
    return values


@pytest.mark.parametrize("total_steps", [1, 3, 10, 97])
def test_linear_decay_matches_torch_linear_lr(total_steps):
    def make(opt):
        return torch.optim.lr_scheduler.LinearLR(
            opt, start_factor=1.0, end_factor=0.0, total_iters=total_steps
        )

    schedule = linear_decay(0.3, total_steps)
    theirs = _torch_values(make, total_steps, lr=0.3)
    for step in range(total_steps):
        test_near(schedule(step), theirs[step], rtol=1e-12, atol=1e-15)


@settings(max_examples=50, deadline=None)
@given(lr=st.floats(1e-5, 10.0), total_steps=st.integers(1, 300))
def test_cosine_decay_is_its_formula_and_matches_torch(lr, total_steps):
    schedule = cosine_decay(lr, total_steps)
    theirs = _torch_values(
        lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total_steps),
        total_steps,
        lr=lr,
    )
    for step in range(total_steps):
        assert schedule(step) == lr * (1 + math.cos(math.pi * step / total_steps)) / 2
        # torch updates its learning rate by a recurrence, which rounds a little differently.
        test_near(schedule(step), theirs[step], rtol=1e-9, atol=1e-12 * lr)
    assert schedule(0) == lr


one_cycle_args = given(
    max_lr=st.floats(1e-4, 10.0),
    total_steps=st.integers(1, 400),
    pct_start=st.floats(0.0, 0.95),
    div_factor=st.floats(1.0, 100.0),
    final_div_factor=st.floats(1.0, 1e5),
)


@settings(max_examples=60, deadline=None)
@one_cycle_args
def test_one_cycle_equals_torch_one_cycle_lr(
    max_lr, total_steps, pct_start, div_factor, final_div_factor
):
    # torch divides by zero when the warm-up ends exactly at step 0.
    assume(float(pct_start * total_steps) - 1 != 0)
    schedule = one_cycle(
        max_lr,
        total_steps,
        pct_start=pct_start,
        div_factor=div_factor,
        final_div_factor=final_div_factor,
    )

    def make(opt):
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=max_lr,
            total_steps=total_steps,
            pct_start=pct_start,
            div_factor=div_factor,
            final_div_factor=final_div_factor,
            anneal_strategy="cos",
            three_phase=False,
        )

    theirs = _torch_values(make, total_steps)
    assert [schedule(step) for step in range(total_steps)] == theirs


@settings(max_examples=40, deadline=None)
@given(
    total_steps=st.integers(1, 300),
    pct_start=st.floats(0.0, 0.95),
    momenta=st.tuples(st.floats(0.0, 0.99), st.floats(0.0, 0.99)).map(sorted),
)
def test_one_cycle_momentum_equals_torch_one_cycle_momentum(total_steps, pct_start, momenta):
    assume(float(pct_start * total_steps) - 1 != 0)
    base, top = momenta
    momentum = one_cycle_momentum(
        total_steps, pct_start=pct_start, base_momentum=base, max_momentum=top
    )

    def make(opt):
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=1.0,
            total_steps=total_steps,
            pct_start=pct_start,
            base_momentum=base,
            max_momentum=top,
        )

    theirs = _torch_values(make, total_steps, momentum=True)
    assert [momentum(step) for step in range(total_steps)] == theirs


def test_one_cycle_shape():
    schedule = one_cycle(1.0, 100)
    values = [schedule(t) for t in range(100)]
    peak = values.index(max(values))
    assert values[0] == pytest.approx(1.0 / 25)
    assert peak == 29 and values[peak] == 1.0
    assert all(a < b for a, b in zip(values[:peak], values[1 : peak + 1], strict=True))
    assert all(a > b for a, b in zip(values[peak:-1], values[peak + 1 :], strict=True))
    assert values[-1] == pytest.approx(1.0 / 25 / 1e4)


def test_a_warm_up_ending_at_step_zero_is_skipped():
    # pct_start * total_steps = 1: torch divides by zero; here the cycle starts at its peak.
    schedule = one_cycle(2.0, 10, pct_start=0.1)
    assert schedule(0) == 2.0
    assert schedule(9) == pytest.approx(2.0 / 25 / 1e4)


BAD = [
    (lambda: linear_decay(0.1, 0), "linear_decay: total_steps must be an integer .* got 0"),
    (lambda: linear_decay(-0.1, 5), "linear_decay: the learning rate must be positive, got -0.1"),
    (lambda: linear_decay(0.1, 4)(4), r"linear_decay: step must lie in \[0, 4\), got 4"),
    (lambda: cosine_decay(float("nan"), 5), "cosine_decay: .* positive, got nan"),
    (lambda: cosine_decay(0.1, 5)(-1), r"cosine_decay: step must lie in \[0, 5\), got -1"),
    (lambda: one_cycle(0.0, 5), "one_cycle: the learning rate must be positive, got 0.0"),
    (lambda: one_cycle(0.1, 0), "one_cycle: total_steps must be an integer .* got 0"),
    (lambda: one_cycle(0.1, 5.0), "one_cycle: total_steps must be an integer .* got 5.0"),
    (lambda: one_cycle(0.1, 5, pct_start=1.0), r"pct_start must lie in \[0.0, 1.0\), got 1.0"),
    (lambda: one_cycle(0.1, 5, div_factor=0.0), "div_factor .* must be positive, got 0.0"),
    (lambda: one_cycle(0.1, 5)(5), r"one_cycle: step must lie in \[0, 5\), got 5"),
    (lambda: one_cycle_momentum(5, base_momentum=0.9, max_momentum=0.8), "got 0.9 and 0.8"),
    (lambda: one_cycle_momentum(5, max_momentum=1.0), "got 0.85 and 1.0"),
]


@pytest.mark.parametrize(("make", "message"), BAD)
def test_bad_arguments_are_rejected(make, message):
    with pytest.raises(ValueError, match=message):
        make()


SCHEDULES = {
    "linear_decay": lambda lr, total_steps: linear_decay(lr, total_steps),
    "cosine_decay": lambda lr, total_steps: cosine_decay(lr, total_steps),
    "one_cycle": lambda lr, total_steps: one_cycle(lr, total_steps),
}


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("total_steps", [2.5, 10.0, "10", True, 0])
def test_every_schedule_checks_total_steps_by_one_rule(name, total_steps):
    message = rf"{name}: total_steps must be an integer of at least 1, got {total_steps!r}"
    with pytest.raises(ValueError, match=message):
        SCHEDULES[name](0.1, total_steps)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize(
    ("lr", "message"),
    [
        ("0.1", "the learning rate must be a number, got '0.1'"),
        (None, "the learning rate must be a number, got None"),
        (True, "the learning rate must be a number, got True"),
        (0.0, "the learning rate must be positive, got 0.0"),
        (float("inf"), "the learning rate must be finite, got inf"),
    ],
)
def test_every_schedule_checks_the_learning_rate_by_one_rule(name, lr, message):
    with pytest.raises(ValueError, match=f"{name}: {message}"):
        SCHEDULES[name](lr, 10)


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("step", [2.5, 3.0, "3", None])
def test_every_schedule_takes_integer_steps_only(name, step):
    with pytest.raises(ValueError, match=f"{name}: step must be an integer, got {step!r}"):
        SCHEDULES[name](0.1, 10)(step)


def test_schedules_take_numpy_integers_and_floats():
    import numpy as np

    schedule = linear_decay(np.float32(0.5), np.int64(4))
    assert schedule(np.int64(2)) == 0.25


ONE_CYCLE_OPTIONS = [
    (
        lambda: one_cycle(0.1, 5, pct_start="0.3"),
        "one_cycle: pct_start must be a number, got '0.3'",
    ),
    (
        lambda: one_cycle(0.1, 5, div_factor="25"),
        "one_cycle: div_factor must be a number, got '25'",
    ),
    (
        lambda: one_cycle(0.1, 5, final_div_factor=None),
        "final_div_factor must be a number, got None",
    ),
    (lambda: one_cycle_momentum(5, base_momentum="0.85"), "base_momentum must be a number, got"),
    (lambda: one_cycle_momentum(5, max_momentum=None), "max_momentum must be a number, got None"),
    (lambda: one_cycle_momentum(2.5), "one_cycle_momentum: total_steps must be an integer"),
]


@pytest.mark.parametrize(("make", "message"), ONE_CYCLE_OPTIONS)
def test_one_cycle_options_must_be_numbers(make, message):
    with pytest.raises(ValueError, match=message):
        make()
