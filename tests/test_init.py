"""deepfound.init against the formulas it implements and against torch.nn.init.

LSUV (``init.lsuv``) by its post-condition: every layer's output standardized.

Statistical checks draw many weights and allow ``Z`` standard errors, each
standard error derived from the sample size: a correct initializer fails one
check with probability below 1e-6, and a wrong scale (say √2 off) fails it for sure.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound import init

Z = 5.0
FAN_IN, FAN_OUT = 800, 600  # 480 000 weights per draw
EPS32 = float(np.finfo(np.float32).eps)

# Kurtosis E[w^4] / std^4 of each distribution, and P(|w| > std).
KURTOSIS = {"normal": 3.0, "uniform": 9 / 5}
P_BEYOND_STD = {"normal": math.erfc(1 / math.sqrt(2)), "uniform": 1 - 1 / math.sqrt(3)}


def kaiming_std(fan_in, fan_out, a=0.0, mode="fan_in"):
    fan = {"fan_in": fan_in, "fan_out": fan_out}[mode]
    return math.sqrt(2 / ((1 + a**2) * fan))


def xavier_std(fan_in, fan_out, gain=1.0):
    return gain * math.sqrt(2 / (fan_in + fan_out))


# The one table: (ours, torch's, distribution, std formula, keyword arguments to try).
# Keyword names are the same in deepfound and torch.nn.init.
INITS = [
    (
        init.kaiming_normal,
        torch.nn.init.kaiming_normal_,
        "normal",
        kaiming_std,
        [{}, {"a": math.sqrt(5)}, {"mode": "fan_out"}, {"a": 0.1, "mode": "fan_out"}],
    ),
    (
        init.kaiming_uniform,
        torch.nn.init.kaiming_uniform_,
        "uniform",
        kaiming_std,
        [{}, {"a": math.sqrt(5)}, {"mode": "fan_out"}, {"a": 0.1, "mode": "fan_out"}],
    ),
    (init.xavier_normal, torch.nn.init.xavier_normal_, "normal", xavier_std, [{}, {"gain": 5 / 3}]),
    (
        init.xavier_uniform,
        torch.nn.init.xavier_uniform_,
        "uniform",
        xavier_std,
        [{}, {"gain": 5 / 3}],
    ),
]
CASES = [
    pytest.param(ours, theirs, kind, std, kwargs, id=f"{ours.__name__}-{kwargs}")
    for ours, theirs, kind, std, all_kwargs in INITS
    for kwargs in all_kwargs
]
OURS = [pytest.param(row[0], id=row[0].__name__) for row in INITS]


def torch_draw(theirs, fan_in, fan_out, seed, **kwargs) -> np.ndarray:
    """torch's weights for the same layer, in torch's (fan_out, fan_in) layout."""
    weight = torch.empty(fan_out, fan_in, dtype=torch.float64)
    theirs(weight, generator=torch.Generator().manual_seed(seed), **kwargs)
    return weight.numpy()


def standard_errors(kind: str, std: float, n: int) -> tuple[float, float, float]:
    """Standard errors of the sample mean, the sample std and the fraction beyond one std."""
    # Var(s^2) = (kurtosis - 1) std^4 / n, and s = sqrt(s^2) halves the relative error.
    se_std = std * math.sqrt((KURTOSIS[kind] - 1) / (4 * n))
    p = P_BEYOND_STD[kind]
    return std / math.sqrt(n), se_std, math.sqrt(p * (1 - p) / n)


def assert_distribution(w: np.ndarray, kind: str, std: float) -> None:
    """``w`` looks like a sample of zero-mean ``kind`` weights of standard deviation ``std``."""
    w = np.asarray(w, dtype=np.float64).ravel()
    se_mean, se_std, se_p = standard_errors(kind, std, w.size)
    assert abs(w.mean()) <= Z * se_mean, (w.mean(), se_mean)
    assert abs(w.std() - std) <= Z * se_std, (w.std(), std, se_std)
    beyond = float((np.abs(w) > std).mean())
    assert abs(beyond - P_BEYOND_STD[kind]) <= Z * se_p, (beyond, P_BEYOND_STD[kind], se_p)
    if kind == "uniform":
        bound = math.sqrt(3) * std
        assert np.abs(w).max() <= bound * (1 + EPS32)
        # P(max |w| < bound (1 - 20/n)) = (1 - 20/n)^n < e^-20.
        assert np.abs(w).max() >= bound * (1 - 20 / w.size)


@pytest.mark.parametrize(("ours", "theirs", "kind", "std", "kwargs"), CASES)
def test_matches_formula_and_torch(ours, theirs, kind, std, kwargs):
    expected = std(FAN_IN, FAN_OUT, **kwargs)
    w = ours(FAN_IN, FAN_OUT, rng=0, dtype=np.float64, **kwargs)
    w_torch = torch_draw(theirs, FAN_IN, FAN_OUT, seed=0, **kwargs)
    assert w.shape == (FAN_IN, FAN_OUT)
    assert w_torch.shape == (FAN_OUT, FAN_IN)
    assert_distribution(w, kind, expected)
    assert_distribution(w_torch, kind, expected)
    # Two independent estimates of the same std: their difference has sqrt(2) standard errors.
    se_std = standard_errors(kind, expected, w.size)[1]
    assert abs(w.std() - w_torch.std()) <= Z * math.sqrt(2) * se_std


@pytest.mark.parametrize(("ours", "theirs", "kind", "std", "kwargs"), CASES)
@settings(max_examples=10, deadline=None)
@given(fan_in=st.integers(100, 400), fan_out=st.integers(100, 400), seed=st.integers(0, 2**32 - 1))
def test_moments_for_any_shape(ours, theirs, kind, std, kwargs, fan_in, fan_out, seed):
    # At least 10 000 weights, so the normal approximations behind the standard errors hold.
    w = ours(fan_in, fan_out, rng=seed, dtype=np.float64, **kwargs)
    assert_distribution(w, kind, std(fan_in, fan_out, **kwargs))


@pytest.mark.parametrize("ours", OURS)
@settings(max_examples=30, deadline=None)
@given(
    fan_in=st.integers(1, 64),
    fan_out=st.integers(1, 64),
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_shape_dtype_and_determinism(ours, fan_in, fan_out, seed, dtype):
    w = ours(fan_in, fan_out, rng=seed, dtype=dtype)
    assert w.shape == (fan_in, fan_out)
    assert w.dtype == dtype
    assert np.isfinite(w).all()
    np.testing.assert_array_equal(w, ours(fan_in, fan_out, rng=seed, dtype=dtype))
    np.testing.assert_array_equal(
        w, ours(fan_in, fan_out, rng=np.random.default_rng(seed), dtype=dtype)
    )


@pytest.mark.parametrize("ours", OURS)
def test_generator_advances_and_seeds_differ(ours):
    rng = np.random.default_rng(0)
    first, second = ours(30, 20, rng=rng), ours(30, 20, rng=rng)
    assert not np.array_equal(first, second)
    assert not np.array_equal(ours(30, 20, rng=1), ours(30, 20, rng=2))
    assert ours(30, 20).dtype == np.float32
    assert ours(np.int64(3), np.int32(4)).shape == (3, 4)  # numpy integers are fans too


@settings(max_examples=200, deadline=None)
@given(a=st.floats(-100, 100, allow_nan=False))
def test_gain_matches_torch(a):
    assert init.gain(a) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", a), rel=1e-12)


@pytest.mark.parametrize("a", [1.0, 0.0, 0.01, 0.1, math.sqrt(5)])
def test_gain_values_of_the_lesson(a):
    assert init.gain(a) == pytest.approx(math.sqrt(2 / (1 + a * a)), rel=1e-15)
    assert init.gain(a) == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", a), rel=1e-12)


def test_gain_relu_and_linear_match_torch_names():
    assert init.gain(0.0) == pytest.approx(torch.nn.init.calculate_gain("relu"), rel=1e-15)
    assert init.gain(1.0) == pytest.approx(torch.nn.init.calculate_gain("linear"), rel=1e-15)
    assert init.gain() == init.gain(0.0)


def test_torch_fans_follow_its_out_in_layout():
    layer = torch.nn.Linear(FAN_IN, FAN_OUT)
    assert tuple(layer.weight.shape) == (FAN_OUT, FAN_IN)
    assert torch.nn.init._calculate_fan_in_and_fan_out(layer.weight) == (FAN_IN, FAN_OUT)
    # Handed our (fan_in, fan_out) layout, torch swaps the fans: 'fan_out' then means fan_in.
    ours_layout = torch.empty(FAN_IN, FAN_OUT)
    assert torch.nn.init._calculate_fan_in_and_fan_out(ours_layout) == (FAN_OUT, FAN_IN)


def test_torch_linear_default_is_kaiming_uniform_sqrt5():
    torch.manual_seed(0)
    layer = torch.nn.Linear(FAN_IN, FAN_OUT, dtype=torch.float64)
    torch.manual_seed(0)
    weight = torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bias = torch.empty(FAN_OUT, dtype=torch.float64)
    torch.nn.init.uniform_(bias, -1 / math.sqrt(FAN_IN), 1 / math.sqrt(FAN_IN))
    torch.testing.assert_close(layer.weight.detach(), weight, rtol=0, atol=0)
    torch.testing.assert_close(layer.bias.detach(), bias, rtol=0, atol=0)
    # a = sqrt(5) gives gain sqrt(1/3): bound 1/sqrt(fan_in), std 1/sqrt(3 fan_in).
    std = 1 / math.sqrt(3 * FAN_IN)
    assert_distribution(layer.weight.detach().numpy(), "uniform", std)
    assert_distribution(
        init.kaiming_uniform(FAN_IN, FAN_OUT, a=math.sqrt(5), rng=0), "uniform", std
    )
    # The layer multiplies by the transpose of its (fan_out, fan_in) weight.
    x = torch.randn(7, FAN_IN, dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias, rtol=1e-12, atol=1e-12)


def test_torch_conv2d_default_is_kaiming_uniform_sqrt5():
    channels_in, channels_out, k = 3, 8, 5
    fan_in = channels_in * k * k
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels_in, channels_out, k, dtype=torch.float64)
    assert torch.nn.init._calculate_fan_in_and_fan_out(conv.weight) == (
        fan_in,
        channels_out * k * k,
    )
    torch.manual_seed(0)
    weight = torch.empty(channels_out, channels_in, k, k, dtype=torch.float64)
    torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    bias = torch.empty(channels_out, dtype=torch.float64)
    torch.nn.init.uniform_(bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
    torch.testing.assert_close(conv.weight.detach(), weight, rtol=0, atol=0)
    torch.testing.assert_close(conv.bias.detach(), bias, rtol=0, atol=0)


BAD_FANS = [0, -1, 2.0, True, "3", None]


@pytest.mark.parametrize("ours", OURS)
@pytest.mark.parametrize("bad", BAD_FANS, ids=repr)
def test_invalid_fans_raise(ours, bad):
    with pytest.raises(ValueError, match=rf"{ours.__name__}: fan_in .*{bad!r}"):
        ours(bad, 10)
    with pytest.raises(ValueError, match=rf"{ours.__name__}: fan_out .*{bad!r}"):
        ours(10, bad)


@pytest.mark.parametrize("ours", OURS)
def test_non_float_dtype_raises(ours):
    with pytest.raises(TypeError, match=rf"{ours.__name__}: dtype .*int64"):
        ours(10, 10, dtype=np.int64)


@pytest.mark.parametrize("ours", [init.kaiming_normal, init.kaiming_uniform])
def test_invalid_mode_raises(ours):
    with pytest.raises(ValueError, match=r"mode must be 'fan_in' or 'fan_out', got 'fan_avg'"):
        ours(10, 10, mode="fan_avg")


def _layer_outputs(model, x):
    """Mean and standard deviation of each Linear and Conv2d output, and whether it has a bias."""
    from deepfound.conv import Conv2d
    from deepfound.hooks import Hooks
    from deepfound.nn import Linear, no_grad

    layers = [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]
    stats = []

    def record(module, inputs, out):
        stats.append((float(out.mean()), float(out.std()), module.bias is not None))

    with no_grad(), Hooks(layers, record):
        model(x)
    return stats


def _deep_plain_net(rng):
    from deepfound.nn import Linear, ReLU, Sequential

    widths = [30, 50, 50, 50, 50, 50, 50, 50, 10]
    layers = []
    for n_in, n_out in zip(widths, widths[1:], strict=False):
        layers += [Linear(n_in, n_out, rng=rng), ReLU()]
    return Sequential(*layers[:-1])


@pytest.mark.parametrize("tol", [1e-3, 1e-5])
def test_lsuv_gives_every_layer_mean_0_and_std_1_on_a_deep_plain_net(tol):
    rng = np.random.default_rng(0)
    model = _deep_plain_net(rng)
    # Far from standardized: an input off centre and widely spread.
    x = rng.normal(4.0, 10.0, (200, 30)).astype(np.float32)
    before = _layer_outputs(model, x)
    assert max(abs(std - 1) for _, std, _ in before) > 1
    assert init.lsuv(model, x, tol=tol) is model
    for mean, std, _ in _layer_outputs(model, x):
        assert abs(mean) <= tol and abs(std - 1) <= tol, (mean, std)


def test_lsuv_on_a_resnet_rescales_convolutions_without_bias_and_leaves_running_stats():
    from deepfound.norm import BatchNorm2d
    from deepfound.resnet import resnet

    model = resnet((4, 8), blocks=1, rng=0)
    x = np.random.default_rng(1).normal(0.5, 3.0, (8, 1, 12, 12)).astype(np.float32)
    norms = [m for m in model.modules() if isinstance(m, BatchNorm2d)]
    running = [(bn.running_mean.copy(), bn.running_var.copy()) for bn in norms]
    weights = [p.data.copy() for p in model.parameters()]
    init.lsuv(model, x)
    for bn, (mean, var) in zip(norms, running, strict=True):
        np.testing.assert_array_equal(bn.running_mean, mean)
        np.testing.assert_array_equal(bn.running_var, var)
    changed = [
        not np.array_equal(p.data, w) for p, w in zip(model.parameters(), weights, strict=True)
    ]
    assert any(changed)
    stats = _layer_outputs(model, x)
    assert len(stats) == 7  # the stem, two 3x3 in each block, one shortcut, the head
    for mean, std, has_bias in stats:
        assert abs(std - 1) <= 1e-3
        assert abs(mean) <= 1e-3 or not has_bias
    assert stats[-1][2]  # the head has a bias, so it is centred too


def test_lsuv_stops_after_max_iters():
    from deepfound.nn import Linear, Sequential

    rng = np.random.default_rng(2)
    model = Sequential(Linear(5, 4, rng=rng))
    x = rng.normal(2.0, 5.0, (50, 5)).astype(np.float32)
    init.lsuv(model, x, max_iters=1)  # one rescaling; no pass remains to check it
    mean, std, _ = _layer_outputs(model, x)[0]
    assert abs(mean) < 1e-3 and abs(std - 1) < 1e-3


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda nn: init.lsuv(nn.Linear(3, 2), np.ones((0, 3))), r"lsuv: x is empty .*\(0, 3\)"),
        (lambda nn: init.lsuv(nn.Sequential(nn.ReLU()), np.ones((2, 3))), "no Linear or Conv2d"),
        (
            lambda nn: init.lsuv(nn.Linear(3, 2), np.ones((4, 3)), tol=0),
            "tol must be a positive number",
        ),
        (lambda nn: init.lsuv(nn.Linear(3, 2), np.ones((4, 3)), max_iters=0), "max_iters must"),
        (lambda nn: init.lsuv(nn.Linear(3, 1), np.ones((4, 3))), r"output of Linear\(3, 1\) is c"),
    ],
)
def test_lsuv_rejects_what_it_cannot_standardize(call, message):
    from deepfound import nn

    with pytest.raises(ValueError, match=message):
        call(nn)
