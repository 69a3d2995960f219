"""deepfound.optim against torch.optim: the same updates from the same weights and gradients.

``OPTIMIZERS`` pairs each deepfound optimizer with its ``torch.optim`` class and a
hypothesis strategy for its hyper-parameters; the float64 comparison, the
allocation test and the state round trip all iterate over it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

from deepfound.learner import evaluate, fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy
from deepfound.nn import Linear, Parameter, ReLU, Sequential
from deepfound.optim import SGD, Adam, AdamW, RMSprop, linear_decay, lr_find
from deepfound.testing import test_near

TOL = {"rtol": 1e-11, "atol": 1e-13}

decay = st.one_of(st.just(0.0), st.floats(1e-4, 0.5))
momentum = st.one_of(st.just(0.0), st.floats(0.01, 0.99))
beta1 = st.floats(0.0, 0.99)
# A second-moment average over at least a couple of steps: with beta2 near 0, a gradient that
# happens to be nearly zero is divided by itself, and rounding (torch fuses multiply-adds) is
# amplified far beyond what any tolerance on the trajectory could allow.
beta2 = st.floats(0.5, 0.9999)
eps = st.one_of(st.just(1e-8), st.floats(1e-10, 1e-2))


@st.composite
def sgd_hyper(draw):
    mu = draw(momentum)
    return {
        "momentum": mu,
        "nesterov": mu > 0 and draw(st.booleans()),
        "weight_decay": draw(decay),
    }


def rmsprop_hyper():
    return st.fixed_dictionaries(
        {"alpha": beta2, "eps": eps, "momentum": momentum, "weight_decay": decay}
    )


def adam_hyper():
    return st.fixed_dictionaries(
        {"betas": st.tuples(beta1, beta2), "eps": eps, "weight_decay": decay}
    )


OPTIMIZERS = [
    (SGD, torch.optim.SGD, sgd_hyper()),
    (RMSprop, torch.optim.RMSprop, rmsprop_hyper()),
    (Adam, torch.optim.Adam, adam_hyper()),
    (AdamW, torch.optim.AdamW, adam_hyper()),
]
IDS = [ours.__name__ for ours, _, _ in OPTIMIZERS]


def _set_gradients(rng, ours, theirs):
    for p, t in zip(ours, theirs, strict=True):
        p.grad = rng.standard_normal(p.data.shape)
        t.grad = torch.from_numpy(p.grad.copy())


@pytest.mark.parametrize(("ours_cls", "torch_cls", "hyper"), OPTIMIZERS, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(
    data=st.data(),
    shapes=st.lists(array_shapes(min_dims=1, max_dims=3, max_side=5), min_size=1, max_size=4),
    lrs=st.tuples(st.floats(1e-4, 0.5), st.floats(1e-4, 0.5)),
    seed=st.integers(0, 2**32 - 1),
)
def test_steps_match_torch(ours_cls, torch_cls, hyper, data, shapes, lrs, seed):
    kwargs = data.draw(hyper)
    rng = np.random.default_rng(seed)
    ours = [Parameter(rng.standard_normal(shape)) for shape in shapes]
    theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
    opt = ours_cls(ours, lr=lrs[0], **kwargs)
    torch_opt = torch_cls(theirs, lr=lrs[0], **kwargs)
    for step in range(50):
        if step == 25:  # a schedule changes the learning rate between steps
            opt.lr = lrs[1]
            torch_opt.param_groups[0]["lr"] = lrs[1]
        _set_gradients(rng, ours, theirs)
        opt.step()
        torch_opt.step()
        for p, t in zip(ours, theirs, strict=True):
            test_near(p.data, t.detach().numpy(), **TOL)


def test_sgd_momentum_changed_between_steps_matches_torch():
    rng = np.random.default_rng(0)
    ours = [Parameter(rng.standard_normal((3, 2)))]
    theirs = [torch.tensor(ours[0].data, requires_grad=True)]
    opt, torch_opt = SGD(ours, lr=0.1), torch.optim.SGD(theirs, lr=0.1)
    for mu in [0.0, 0.9, 0.5, 0.0, 0.8]:
        opt.momentum = mu
        torch_opt.param_groups[0]["momentum"] = mu
        _set_gradients(rng, ours, theirs)
        opt.step()
        torch_opt.step()
        test_near(ours[0].data, theirs[0].detach().numpy(), **TOL)


def test_adam_beta1_changed_between_steps_matches_torch():
    rng = np.random.default_rng(1)
    ours = [Parameter(rng.standard_normal(4))]
    theirs = [torch.tensor(ours[0].data, requires_grad=True)]
    opt, torch_opt = Adam(ours, lr=0.01), torch.optim.Adam(theirs, lr=0.01)
    for beta1 in [0.95, 0.9, 0.85, 0.6, 0.3]:
        opt.betas = (beta1, 0.99)
        torch_opt.param_groups[0]["betas"] = (beta1, 0.99)
        _set_gradients(rng, ours, theirs)
        opt.step()
        torch_opt.step()
        test_near(ours[0].data, theirs[0].detach().numpy(), **TOL)


def _two_groups(rng, ours_cls, torch_cls, defaults, second):
    """A weight and a bias in one group (the constructor's options), a bias in another."""
    shapes = [(4, 3), (3,), (3,)]
    ours = [Parameter(rng.standard_normal(shape)) for shape in shapes]
    theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
    opt = ours_cls([{"params": ours[:2]}, {"params": ours[2:], **second}], **defaults)
    torch_opt = torch_cls([{"params": theirs[:2]}, {"params": theirs[2:], **second}], **defaults)
    return ours, theirs, opt, torch_opt


GROUPS = [
    (SGD, torch.optim.SGD, {"lr": 0.1}, {"lr": 0.03}),
    (SGD, torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}, {"momentum": 0.5, "lr": 0.2}),
    (
        SGD,
        torch.optim.SGD,
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
        {"weight_decay": 0.0},
    ),
    (SGD, torch.optim.SGD, {"lr": 0.1, "weight_decay": 0.05}, {"weight_decay": 0.0}),
    (RMSprop, torch.optim.RMSprop, {"lr": 0.01, "weight_decay": 0.01}, {"weight_decay": 0.0}),
    (
        RMSprop,
        torch.optim.RMSprop,
        {"lr": 0.01, "momentum": 0.8},
        {"momentum": 0.0, "alpha": 0.9, "eps": 1e-4},
    ),
    (
        Adam,
        torch.optim.Adam,
        {"lr": 0.01, "weight_decay": 0.01},
        {"weight_decay": 0.0, "betas": (0.5, 0.9)},
    ),
    (AdamW, torch.optim.AdamW, {"lr": 0.01, "weight_decay": 0.1}, {"weight_decay": 0.0}),
]
GROUP_IDS = [
    "SGD",
    "SGD+momentum",
    "SGD+nesterov",
    "SGD+decay",
    "RMSprop",
    "RMSprop+momentum",
    "Adam",
    "AdamW",
]


@pytest.mark.parametrize(("ours_cls", "torch_cls", "defaults", "second"), GROUPS, ids=GROUP_IDS)
def test_parameter_groups_match_torch(ours_cls, torch_cls, defaults, second):
    rng = np.random.default_rng(0)
    ours, theirs, opt, torch_opt = _two_groups(rng, ours_cls, torch_cls, defaults, second)
    for step in range(40):
        if step == 15:  # each group's learning rate changed alone, mid-run
            for i, factor in enumerate((0.5, 3.0)):
                lr = opt.param_groups[i]["lr"] * factor
                opt.param_groups[i]["lr"] = torch_opt.param_groups[i]["lr"] = lr
        if step == 30:
            opt.lr = torch_opt.param_groups[0]["lr"] = torch_opt.param_groups[1]["lr"] = 0.02
        _set_gradients(rng, ours, theirs)
        opt.step()
        torch_opt.step()
        for p, t in zip(ours, theirs, strict=True):
            test_near(p.data, t.detach().numpy(), **TOL)


@pytest.mark.parametrize(("ours_cls", "torch_cls", "hyper"), OPTIMIZERS, ids=IDS)
@settings(max_examples=15, deadline=None)
@given(
    data=st.data(),
    lrs=st.tuples(st.floats(1e-4, 0.5), st.floats(1e-4, 0.5)),
    seed=st.integers(0, 2**32 - 1),
)
def test_groups_with_any_options_match_torch(ours_cls, torch_cls, hyper, data, lrs, seed):
    defaults = {"lr": lrs[0], **data.draw(hyper)}
    second = {"lr": lrs[1], **data.draw(hyper)}
    rng = np.random.default_rng(seed)
    ours, theirs, opt, torch_opt = _two_groups(rng, ours_cls, torch_cls, defaults, second)
    for _ in range(20):
        _set_gradients(rng, ours, theirs)
        opt.step()
        torch_opt.step()
        for p, t in zip(ours, theirs, strict=True):
            test_near(p.data, t.detach().numpy(), **TOL)


@pytest.mark.parametrize(
    ("make", "options"),
    [
        (
            lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
            {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.0},
        ),
        (
            lambda ps: RMSprop(ps, momentum=0.5),
            {"lr": 0.01, "alpha": 0.99, "eps": 1e-8, "momentum": 0.5, "weight_decay": 0.0},
        ),
        (
            lambda ps: Adam(ps, betas=[0.8, 0.9]),
            {"lr": 0.001, "betas": (0.8, 0.9), "eps": 1e-8, "weight_decay": 0.0},
        ),
        (
            lambda ps: AdamW(ps),
            {"lr": 0.001, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.01},
        ),
    ],
    ids=["SGD", "RMSprop", "Adam", "AdamW"],
)
def test_a_list_of_parameters_makes_one_group_with_every_option(make, options):
    layer = Linear(3, 2, rng=0)
    opt = make(layer.parameters())
    assert len(opt.param_groups) == 1
    group = opt.param_groups[0]
    assert group["params"] == opt.params == list(layer.parameters())
    assert {key: value for key, value in group.items() if key != "params"} == options


def test_groups_fill_in_the_constructors_options_and_keep_their_own():
    w, b = Parameter(np.zeros((2, 2))), Parameter(np.zeros(2))
    group = {"params": iter([b]), "weight_decay": 0.0, "lr": 0.5}
    opt = SGD([{"params": [w]}, group], lr=0.1, momentum=0.9, weight_decay=1e-4)
    assert opt.params == [w, b]
    assert opt.param_groups[0] == {
        "params": [w],
        "lr": 0.1,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 1e-4,
    }
    assert opt.param_groups[1] == {
        "params": [b],
        "lr": 0.5,
        "momentum": 0.9,
        "nesterov": False,
        "weight_decay": 0.0,
    }
    assert group["params"] is not opt.param_groups[1]["params"]  # the caller's dict is not kept


def test_setting_an_option_on_the_optimizer_sets_every_group():
    w, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    sgd = SGD([{"params": [w]}, {"params": [b], "lr": 0.5, "momentum": 0.5}], 0.1, momentum=0.9)
    with pytest.raises(
        ValueError, match=r"SGD: the parameter groups have different lr \(0.1, 0.5\)"
    ):
        _ = sgd.lr
    with pytest.raises(ValueError, match=r"different momentum .*param_groups\[i\]\['momentum'\]"):
        _ = sgd.momentum
    sgd.lr, sgd.momentum = 0.2, 0.8
    assert sgd.lr == 0.2 and sgd.momentum == 0.8
    assert [(g["lr"], g["momentum"]) for g in sgd.param_groups] == [(0.2, 0.8), (0.2, 0.8)]
    with pytest.raises(ValueError, match="SGD: the learning rate must be positive, got 0"):
        sgd.lr = 0
    assert [g["lr"] for g in sgd.param_groups] == [0.2, 0.2]
    adam = Adam([{"params": [w]}, {"params": [b], "betas": (0.5, 0.9)}])
    with pytest.raises(ValueError, match="different betas"):
        _ = adam.betas
    adam.betas = (0.8, 0.99)
    assert [g["betas"] for g in adam.param_groups] == [(0.8, 0.99), (0.8, 0.99)]


def test_momentum_set_on_sgd_respects_each_groups_nesterov():
    w, b = Parameter(np.zeros(2)), Parameter(np.zeros(2))
    opt = SGD([{"params": [w], "nesterov": True}, {"params": [b]}], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="SGD: Nesterov momentum needs a positive momentum"):
        opt.momentum = 0.0
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.9]


def test_a_schedule_in_fit_sets_every_groups_learning_rate():
    ds, model = _problem(7, n=64)
    train = DataLoader(ds, 32)
    first, last = model.layers[0].parameters(), model.layers[2].parameters()
    opt = SGD([{"params": first, "lr": 0.5}, {"params": last}], lr=0.1)
    schedule = (0.3, 0.2).__getitem__
    fit(model, CrossEntropy(), opt, train, train, 1, schedule=schedule, progress=False)
    assert [g["lr"] for g in opt.param_groups] == [0.2, 0.2]


def test_lr_find_restores_each_groups_learning_rate():
    ds, model = _problem(8)
    first, last = model.layers[0], model.layers[2]
    groups = [{"params": list(first.parameters()), "lr": 0.5}, {"params": list(last.parameters())}]
    opt = Adam(groups, lr=0.01, weight_decay=0.01)
    lrs, _ = lr_find(model, CrossEntropy(), opt, DataLoader(ds, 32), end_lr=1e-3, num_steps=10)
    assert len(lrs) == 10
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.01]
    assert opt.params == [*first.parameters(), *last.parameters()] and opt.steps == 0


def test_repr_shows_each_group():
    w, b = Parameter(np.zeros((3, 2))), Parameter(np.zeros(2))
    assert repr(Adam([w, b], weight_decay=0.1)) == "Adam(lr=0.001, weight_decay=0.1, 2 parameters)"
    opt = SGD([{"params": [w], "weight_decay": 1e-4}, {"params": [b], "lr": 0.01}], lr=0.1)
    assert repr(opt) == (
        "SGD(group 0: lr=0.1, weight_decay=0.0001, 1 parameters; group 1: lr=0.01, 1 parameters)"
    )


def _state_arrays(opt) -> list[np.ndarray]:
    arrays = []
    for value in vars(opt).values():
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, np.ndarray):
                arrays.append(item)
            elif isinstance(item, tuple):
                arrays.extend(x for x in item if isinstance(x, np.ndarray))
    return arrays


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1),
        lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda ps: RMSprop(ps, momentum=0.9, weight_decay=0.01),
        lambda ps: Adam(ps, weight_decay=0.01),
        lambda ps: AdamW(ps),
    ],
    ids=["SGD", "SGD+nesterov", "RMSprop", "Adam", "AdamW"],
)
def test_state_is_allocated_once_and_updated_in_place(make):
    layer = Linear(3, 2, rng=0)
    params = list(layer.parameters())
    opt = make(params)
    data_ids = [id(p.data) for p in params]
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()  # momentum buffers are created at the first step, as in torch
    state_ids = [id(a) for a in _state_arrays(opt)]
    assert state_ids
    for _ in range(3):
        for p in params:
            p.grad = np.full_like(p.data, 0.5)
        opt.step()
    assert [id(a) for a in _state_arrays(opt)] == state_ids
    assert [id(p.data) for p in params] == data_ids
    assert all(p.data.dtype == np.float32 for p in params)
    assert all(a.dtype == np.float32 for a in _state_arrays(opt))


def test_sgd_keeps_the_gradient_and_the_dtype():
    layer = Linear(3, 2, rng=0)
    layer.weight.grad = np.ones((3, 2), np.float32)
    before = layer.weight.data.copy()
    SGD(layer.parameters(), lr=0.5).step()
    test_near(layer.weight.data, before - 0.5)
    test_near(layer.weight.grad, np.ones((3, 2)))
    assert layer.weight.data.dtype == np.float32


def test_sgd_uses_the_learning_rate_set_between_steps():
    p = Parameter(np.zeros(2))
    p.grad = np.ones(2)
    opt = SGD([p], lr=1.0)
    opt.step()
    opt.lr = 0.25
    opt.step()
    test_near(p.data, np.full(2, -1.25))


def test_adam_l2_and_adamw_decoupled_decay_differ():
    # With a gradient, the L2 term passes through Adam's division by sqrt(v); AdamW's does not.
    start, grad = np.array([1.0, 1.0]), np.array([1.0, 1e-3])
    moved = {}
    for cls in (Adam, AdamW):
        p = Parameter(start.copy())
        p.grad = grad
        opt = cls([p], lr=0.1, weight_decay=0.1)
        opt.step()
        moved[cls.__name__] = start - p.data
    test_near(moved["AdamW"], 0.1 * np.sign(grad) + 0.1 * 0.1 * start, rtol=1e-4)
    assert not np.allclose(moved["Adam"], moved["AdamW"], rtol=1e-3)


def test_state_dict_round_trip_gives_the_same_next_step():
    rng = np.random.default_rng(0)
    p = Parameter(rng.standard_normal(5))
    opt = Adam([p], lr=0.01)
    grads = rng.standard_normal((4, 5))
    for g in grads[:2]:
        p.grad = g
        opt.step()
    saved, saved_data = opt.state_dict(), p.data.copy()
    p.grad = grads[2]
    opt.step()
    expected = p.data.copy()
    opt.lr = 1.0
    p.grad = grads[3]
    opt.step()
    opt.load_state_dict(saved)
    p.data[...] = saved_data
    p.grad = grads[2]
    opt.step()
    test_near(p.data, expected, rtol=0, atol=0)
    assert opt.lr == 0.01


def _problem(seed: int, n: int = 512) -> tuple[Dataset, Sequential]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 8)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + (x[:, 1] > 0)
    model = Sequential(Linear(8, 16, rng=seed), ReLU(), Linear(16, 3, rng=seed + 1))
    return Dataset(x, y), model


@pytest.mark.parametrize(
    "make",
    [
        lambda ps: SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: Adam(ps, lr=0.01),
    ],
    ids=["SGD", "Adam"],
)
def test_lr_find_restores_weights_and_state_and_stops_on_divergence(make):
    ds, model = _problem(0)
    loader = DataLoader(ds, 32, shuffle=True, rng=0)
    opt, loss_fn = make(model.parameters()), CrossEntropy()
    for x, y in list(loader)[:3]:  # some state to restore
        loss_fn(model(x), y)
        model.backward(loss_fn.backward())
        opt.step()
    weights = [p.data for p in model.parameters()]
    copies = [w.copy() for w in weights]
    state = opt.state_dict()
    lrs, losses = lr_find(model, loss_fn, opt, loader, start_lr=1e-4, end_lr=1e3, num_steps=300)
    assert 10 < len(lrs) < 300 and len(losses) == len(lrs)  # it stopped before the end
    test_near(np.diff(np.log(lrs)), np.full(len(lrs) - 1, np.log(1e7) / 299), rtol=1e-9)
    assert lrs[0] == pytest.approx(1e-4)
    assert not math.isfinite(losses[-1]) or losses[-1] > 2 * losses.min()
    for w, p, c in zip(weights, model.parameters(), copies, strict=True):
        assert p.data is w
        test_near(p.data, c, rtol=0, atol=0)
    after = opt.state_dict()
    assert after.keys() == state.keys()
    for key in state:
        a, b = state[key], after[key]
        if isinstance(a, list):
            for u, v in zip(a, b, strict=True):
                assert (u is None and v is None) or np.array_equal(np.asarray(u), np.asarray(v))
        else:
            assert a == b


def test_lr_find_restores_even_when_a_step_fails():
    ds, model = _problem(1)
    opt = SGD(model.parameters(), lr=0.1)
    before = [p.data.copy() for p in model.parameters()]

    class Failing(CrossEntropy):
        calls = 0

        def forward(self, logits, target):
            Failing.calls += 1
            if Failing.calls > 5:
                raise RuntimeError("boom")
            return super().forward(logits, target)

    with pytest.raises(RuntimeError, match="boom"):
        lr_find(model, Failing(), opt, DataLoader(ds, 32), num_steps=50)
    for p, b in zip(model.parameters(), before, strict=True):
        test_near(p.data, b, rtol=0, atol=0)
    assert opt.lr == 0.1


def test_lr_find_runs_over_several_epochs_of_a_short_loader():
    ds, model = _problem(2, n=64)
    lrs, _ = lr_find(
        model,
        CrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        DataLoader(ds, 32),
        start_lr=1e-6,
        end_lr=1e-5,
        num_steps=20,
    )
    assert len(lrs) == 20  # two batches per pass, ten passes, nothing diverges
    test_near(lrs[-1], 1e-5, rtol=1e-12)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_fit_trains_with_any_optimizer(cls):
    ds, model = _problem(3)
    train = DataLoader(ds, 32, shuffle=True, rng=0)
    lr = 0.3 if cls is SGD else 0.01
    history = fit(
        model,
        CrossEntropy(),
        cls(model.parameters(), lr=lr),
        train,
        train,
        20,
        schedule=linear_decay(lr, 20 * len(train)),
        progress=False,
    )
    assert history.train_loss[-1] < 0.3 * history.train_loss[0]
    assert history.valid_accuracy[-1] > 0.9


BAD = [
    (lambda p: SGD([], lr=0.1), ValueError, "SGD: no parameters"),
    (lambda p: SGD([np.zeros(1)], lr=0.1), TypeError, "Parameter objects, got ndarray"),
    (lambda p: SGD([p, p], lr=0.1), ValueError, "listed twice"),
    (lambda p: SGD([p], lr=0), ValueError, "positive, got 0"),
    (lambda p: SGD([p], lr=-0.1), ValueError, "positive, got -0.1"),
    (lambda p: SGD([p], lr=float("nan")), ValueError, "positive, got nan"),
    (lambda p: SGD([p], lr=float("inf")), ValueError, "finite, got inf"),
    (lambda p: SGD([p], lr=0.1, momentum=-0.5), ValueError, "momentum must not be below 0.0"),
    (lambda p: SGD([p], lr=0.1, nesterov=True), ValueError, "Nesterov .* got 0.0"),
    (lambda p: SGD([p], lr=0.1, weight_decay=-1), ValueError, "weight_decay .* got -1"),
    (lambda p: RMSprop([p], lr=-1), ValueError, "RMSprop: the learning rate must be positive"),
    (lambda p: RMSprop([p], alpha=1.5), ValueError, r"alpha must lie in \[0.0, 1.0\), got 1.5"),
    (lambda p: RMSprop([p], eps=-1e-8), ValueError, "eps must not be below 0.0, got -1e-08"),
    (lambda p: RMSprop([p], momentum=float("nan")), ValueError, "momentum .* got nan"),
    (lambda p: Adam([p], betas=(1.0, 0.999)), ValueError, r"betas\[0\] .* got 1.0"),
    (lambda p: Adam([p], betas=(0.9, -0.1)), ValueError, r"betas\[1\] .* got -0.1"),
    (lambda p: Adam([p], betas=(0.9,)), ValueError, "a pair"),
    (lambda p: Adam([p], eps=-1.0), ValueError, "Adam: eps .* got -1.0"),
    (lambda p: AdamW([p], weight_decay=-0.01), ValueError, "AdamW: weight_decay .* got -0.01"),
]


W, B = Parameter(np.zeros((2, 2))), Parameter(np.zeros(2))
BAD_GROUPS = [
    (lambda p: SGD([{"params": [p]}, {"params": []}], lr=0.1), ValueError, "group has no param"),
    (lambda p: SGD([{"params": [p, W]}, {"params": [W]}], 0.1), ValueError, "in two groups"),
    (lambda p: SGD([{"params": [p], "betas": (0.9, 0.9)}], 0.1), ValueError, "unknown option 'b"),
    (lambda p: Adam([{"params": [p], "momentum": 0.9}]), ValueError, "Adam: unknown option 'mom"),
    (lambda p: SGD([{"lr": 0.1}], lr=0.1), ValueError, "SGD: a parameter group needs the key"),
    (lambda p: SGD([{"params": [p]}, B], lr=0.1), TypeError, "must all be dicts, got Parameter"),
    (lambda p: SGD([{"params": [np.zeros(1)]}], 0.1), TypeError, "Parameter objects, got ndarr"),
    (
        lambda p: SGD([{"params": [p]}, {"params": [B], "lr": -1.0}], lr=0.1),
        ValueError,
        r"SGD \(param_groups\[1\]\): the learning rate must be positive, got -1.0",
    ),
    (
        lambda p: SGD([{"params": [p]}, {"params": [B], "nesterov": True}], lr=0.1),
        ValueError,
        r"SGD \(param_groups\[1\]\): Nesterov momentum needs a positive momentum, got 0.0",
    ),
    (
        lambda p: RMSprop([{"params": [p], "alpha": 1.0}, {"params": [B]}]),
        ValueError,
        r"RMSprop \(param_groups\[0\]\): alpha must lie in \[0.0, 1.0\), got 1.0",
    ),
    (
        lambda p: AdamW([{"params": [B]}, {"params": [p], "betas": (0.9, "0.9")}]),
        ValueError,
        r"AdamW \(param_groups\[1\]\): betas\[1\] must be a number, got '0.9'",
    ),
    (
        lambda p: SGD([{"params": [p], "lr": 0.1}], lr=-1.0),
        ValueError,
        "SGD: the learning rate must be positive, got -1.0",
    ),
    (
        lambda p: Adam([{"params": [p], "weight_decay": -0.1}]),
        ValueError,
        "Adam: weight_decay must not be below 0.0, got -0.1",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD_GROUPS)
def test_bad_parameter_groups_are_rejected(make, error, message):
    with pytest.raises(error, match=message):
        make(Parameter(np.zeros(1)))


@pytest.mark.parametrize(("make", "error", "message"), BAD)
def test_bad_arguments_are_rejected(make, error, message):
    with pytest.raises(error, match=message):
        make(Parameter(np.zeros(1)))


NOT_NUMBERS = [
    (lambda p: SGD([p], lr="0.1"), "SGD: the learning rate must be a number, got '0.1'"),
    (lambda p: SGD([p], lr=None), "SGD: the learning rate must be a number, got None"),
    (lambda p: SGD([p], lr=True), "SGD: the learning rate must be a number, got True"),
    (lambda p: SGD([p], lr=0.1, momentum="0.9"), "SGD: momentum must be a number, got '0.9'"),
    (lambda p: SGD([p], lr=0.1, weight_decay=None), "SGD: weight_decay must be a number"),
    (lambda p: RMSprop([p], lr="0.01"), "RMSprop: the learning rate must be a number"),
    (lambda p: RMSprop([p], alpha="0.99"), "RMSprop: alpha must be a number, got '0.99'"),
    (lambda p: RMSprop([p], momentum=None), "RMSprop: momentum must be a number, got None"),
    (lambda p: Adam([p], eps="1e-8"), "Adam: eps must be a number, got '1e-8'"),
    (lambda p: Adam([p], betas=0.9), r"Adam: betas must be a pair \(beta1, beta2\), got 0.9"),
    (lambda p: Adam([p], betas=("0.9", 0.999)), r"Adam: betas\[0\] must be a number, got '0.9'"),
    (lambda p: AdamW([p], weight_decay="0.01"), "AdamW: weight_decay must be a number"),
]


@pytest.mark.parametrize(("make", "message"), NOT_NUMBERS)
def test_every_optimizer_names_an_option_that_is_not_a_number(make, message):
    with pytest.raises(ValueError, match=message):
        make(Parameter(np.zeros(1)))


def test_a_learning_rate_set_between_steps_must_be_a_number():
    opt = Adam([Parameter(np.zeros(1))])
    with pytest.raises(ValueError, match="Adam: the learning rate must be a number, got '0.1'"):
        opt.lr = "0.1"
    opt.lr = np.float32(0.01)  # numpy's numbers are numbers
    assert opt.lr == np.float32(0.01)


def test_bad_values_set_between_steps_are_rejected():
    p = Parameter(np.zeros(1))
    sgd, adam = SGD([p], lr=0.1, momentum=0.9, nesterov=True), Adam([p])
    with pytest.raises(ValueError, match="SGD: the learning rate must be positive, got -1"):
        sgd.lr = -1
    with pytest.raises(ValueError, match="Nesterov"):
        sgd.momentum = 0.0
    with pytest.raises(ValueError, match=r"betas\[0\]"):
        adam.betas = (float("nan"), 0.9)
    assert sgd.lr == 0.1 and sgd.momentum == 0.9 and adam.betas == (0.9, 0.999)


def test_lr_find_rejects_bad_arguments():
    ds, model = _problem(4)
    opt, loader = SGD(model.parameters(), lr=0.1), DataLoader(ds, 32)
    with pytest.raises(ValueError, match="num_steps must be an integer of at least 2, got 1"):
        lr_find(model, CrossEntropy(), opt, loader, num_steps=1)
    with pytest.raises(ValueError, match="0 < start_lr < end_lr expected, got 1.0 and 0.1"):
        lr_find(model, CrossEntropy(), opt, loader, start_lr=1.0, end_lr=0.1)
    with pytest.raises(ValueError, match="diverge must be above 1, got 0.5"):
        lr_find(model, CrossEntropy(), opt, loader, diverge=0.5)
    with pytest.raises(ValueError, match="yielded no batches"):
        lr_find(model, CrossEntropy(), opt, [])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"num_steps": 100.0}, "lr_find: num_steps must be an integer of at least 2, got 100.0"),
        ({"start_lr": "1e-6"}, "lr_find: start_lr must be a number, got '1e-6'"),
        ({"end_lr": None}, "lr_find: end_lr must be a number, got None"),
        ({"diverge": "4"}, "lr_find: diverge must be a number, got '4'"),
    ],
)
def test_lr_find_names_an_option_that_is_not_a_number(options, message):
    ds, model = _problem(4)
    opt, loader = SGD(model.parameters(), lr=0.1), DataLoader(ds, 32)
    with pytest.raises(ValueError, match=message):
        lr_find(model, CrossEntropy(), opt, loader, **options)


def test_lr_find_restores_running_statistics_and_modes():
    from deepfound.norm import BatchNorm1d

    ds, _ = _problem(5)
    model = Sequential(Linear(8, 16, rng=0), BatchNorm1d(16), ReLU(), Linear(16, 3, rng=1))
    model.eval()
    model.layers[1].train()  # a mixed state, to be restored module by module
    norm = model.layers[1]
    norm.running_mean += 0.5  # not the initial values
    running = norm.running_mean, norm.running_var
    before = [a.copy() for a in running]
    modes = [m.training for m in model.modules()]
    lr_find(
        model,
        CrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        DataLoader(ds, 32),
        start_lr=1e-3,
        end_lr=1.0,
        num_steps=20,
    )
    assert norm.running_mean is running[0] and norm.running_var is running[1]
    for array, copy in zip(running, before, strict=True):
        test_near(array, copy, rtol=0, atol=0)
    assert [m.training for m in model.modules()] == modes


def test_lr_find_leaves_each_module_with_its_own_last_call():
    ds, model = _problem(6)
    loader = DataLoader(ds, 32)
    evaluate(model, CrossEntropy(), loader)  # under no_grad: every .out is None
    before = [p.data.copy() for p in model.parameters()]
    lr_find(model, CrossEntropy(), SGD(model.parameters(), lr=0.1), loader, num_steps=5)
    model(ds.x[:5])  # an ordinary call on another batch size
    lr_find(model, CrossEntropy(), SGD(model.parameters(), lr=0.1), loader, num_steps=5)
    for p, b in zip(model.parameters(), before, strict=True):
        test_near(p.data, b, rtol=0, atol=0)
    # .out is the output of the finder's last step, as .inputs its input: not a restored copy.
    for module in model.modules():
        assert len(module.out) == len(module.inputs[0]) == 32
