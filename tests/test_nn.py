"""deepfound.nn: what the oracle (tests/oracle.py) does not check.

``Linear``, ``ReLU``, ``MSE`` and a ``Sequential`` of them against ``torch.nn`` with
copied weights, against finite differences and against their plain pairs, and
``backward`` called twice, are entries of the oracle's table. Here: the loss's
gradient argument, skipping the input's gradient, defaults, errors, parameters and
module trees, modes, ``no_grad``, and ``GeneralReLU``'s options.
"""

from __future__ import annotations

import numpy as np
import pytest

from deepfound.conv import Conv2d, MaxPool2d
from deepfound.nn import (
    MSE,
    GeneralReLU,
    Linear,
    Module,
    ReLU,
    Sequential,
    is_grad_enabled,
    no_grad,
    shared_scratch,
)
from deepfound.norm import BatchNorm2d
from deepfound.resnet import ResBlock, resnet


def test_mse_backward_takes_the_loss_s_gradient_like_every_module() -> None:
    pred, target = np.array([[1.0], [3.0]]), np.array([0.0, 1.0])
    loss = MSE()
    loss(pred, target)
    np.testing.assert_array_equal(loss.backward(2.0), 2 * loss.backward())
    np.testing.assert_array_equal(loss.backward(np.float64(0.5)), 0.5 * loss.backward())
    with pytest.raises(ValueError, match=r"MSE.backward: grad_out must be a number.*\(2,\)"):
        loss.backward(np.ones(2))


def test_linear_without_input_grad_skips_only_that() -> None:
    full, skipping = Linear(4, 3, rng=0), Linear(4, 3, rng=0, input_grad=False)
    x, grad_out = np.ones((2, 4), np.float32), np.ones((2, 3), np.float32)
    full(x), skipping(x)
    assert full.backward(grad_out).shape == (2, 4)
    assert skipping.backward(grad_out) is None
    for p, q in zip(full.parameters(), skipping.parameters(), strict=True):
        np.testing.assert_array_equal(p.grad, q.grad)
    model = Sequential(skipping, ReLU(), Linear(3, 1, rng=1))
    model(x)
    assert model.backward(np.ones((2, 1), np.float32)) is None
    assert repr(skipping) == "Linear(4, 3, input_grad=False)"


def test_linear_defaults() -> None:
    layer = Linear(784, 50, rng=0)
    assert layer.weight.data.shape == (784, 50) and layer.weight.data.dtype == np.float32
    np.testing.assert_array_equal(layer.bias.data, np.zeros(50, np.float32))
    assert layer(np.zeros((3, 784), np.float32)).dtype == np.float32
    np.testing.assert_array_equal(layer.weight.data, Linear(784, 50, rng=0).weight.data)


def test_bad_shapes_raise_value_error_naming_them() -> None:
    model = Sequential(Linear(4, 3, rng=0), ReLU(), Linear(3, 1, rng=1))
    with pytest.raises(ValueError, match=r"\(batch, 4\).*got \(2, 5\)"):
        model(np.ones((2, 5)))
    model(np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"\(2, 1\).*got \(2,\)"):
        model.backward(np.ones(2))
    with pytest.raises(ValueError, match=r"\(batch, 3\).*got \(2, 4\)"):
        Sequential(Linear(4, 4, rng=0), Linear(3, 1, rng=1))(np.ones((2, 4)))
    relu = ReLU()
    relu(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(2, 3\).*got \(3, 2\)"):
        relu.backward(np.ones((3, 2)))


@pytest.mark.parametrize(
    ("n_in", "n_out", "message"),
    [
        (0, 3, "Linear: n_in must be an integer of at least 1, got 0"),
        (2.5, 3, "Linear: n_in must be an integer of at least 1, got 2.5"),
        (4, True, "Linear: n_out must be an integer of at least 1, got True"),
    ],
)
def test_linear_checks_its_sizes(n_in, n_out, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Linear(n_in, n_out)


def test_backward_before_forward_raises() -> None:
    for module in (Linear(2, 2), ReLU(), MSE(), Sequential(ReLU())):
        with pytest.raises(RuntimeError, match="before forward"):
            module.backward() if isinstance(module, MSE) else module.backward(np.ones((1, 2)))


def test_module_base_class_needs_forward_and_backward() -> None:
    module = Module()
    with pytest.raises(NotImplementedError, match="forward"):
        module(np.ones(2))
    with pytest.raises(NotImplementedError, match="backward"):
        module.backward(np.ones(2))


def test_parameters_are_found_in_order() -> None:
    model = Sequential(Linear(2, 3, rng=1), ReLU(), Linear(3, 1, rng=0))
    params = list(model.parameters())
    assert [p.data.shape for p in params] == [(2, 3), (3,), (3, 1), (1,)]
    assert params[2] is model.layers[2].weight


def test_sequential_rejects_a_layer_used_twice() -> None:
    relu = ReLU()
    with pytest.raises(ValueError, match=r"layers\[3\] \(ReLU\(\)\) is also layers\[1\]"):
        Sequential(Linear(2, 2), relu, Linear(2, 2), relu)


MODULE_REUSED = "a module keeps the inputs of one call only, so create a new one for each position"
PARAMETER_REUSED = "its .grad would hold the gradient of one use"


def test_sequential_rejects_a_module_reused_at_any_depth() -> None:
    shared = Linear(2, 2, rng=0)
    with pytest.raises(ValueError) as error:
        Sequential(Sequential(shared, ReLU()), Sequential(Linear(2, 2), Sequential(shared)))
    message = str(error.value)
    assert message.startswith("Sequential: layers[1].layers[1].layers[0] (Linear(2, 2)) is also ")
    assert "is also layers[0].layers[0];" in message and MODULE_REUSED in message
    with pytest.raises(ValueError, match=r"layers\[1\].layers\[0\] \(Linear.* also layers\[0\];"):
        Sequential(shared, Sequential(shared))


def test_sequential_rejects_a_parameter_shared_between_layers() -> None:
    first, second = Linear(2, 2, rng=0), Linear(2, 2, rng=1)
    second.weight = first.weight
    with pytest.raises(ValueError) as error:
        Sequential(first, ReLU(), Sequential(second))
    message = str(error.value)
    assert (
        "Sequential: layers[2].layers[0].weight (Parameter(shape=(2, 2), dtype=float32))" in message
    )
    assert "is also layers[0].weight;" in message and PARAMETER_REUSED in message


def test_parameters_rejects_what_is_reached_twice() -> None:
    # Reuse created after construction, or in a module other than Sequential, is caught when
    # the parameters are collected (by the optimizer), before SGD could move one twice.
    model = Sequential(Linear(2, 2, rng=0), ReLU(), Linear(2, 2, rng=1))
    model.layers[2].bias = model.layers[0].bias
    with pytest.raises(ValueError, match=r"Sequential.parameters: layers\[2\].bias .* layers\[0\]"):
        list(model.parameters())

    class Twice(Module):
        def __init__(self) -> None:
            self.inner = Linear(2, 2, rng=0)
            self.again = self.inner

    with pytest.raises(
        ValueError,
        match=rf"Twice.parameters: again \(Linear\(2, 2\)\) is also inner; {MODULE_REUSED}",
    ):
        list(Twice().parameters())


def test_sequential_rejects_what_is_not_a_module() -> None:
    with pytest.raises(TypeError, match="layer 1 is a function"):
        Sequential(ReLU(), lambda x: x)


class _Holder(Module):
    """Modules in an attribute, a list, a tuple, nested, and one held twice."""

    def __init__(self) -> None:
        self.inner = Sequential(Linear(2, 2), Sequential(ReLU()))
        self.blocks = [ReLU(), Linear(2, 2)]
        self.pair = (ReLU(), MSE())
        self.again = self.blocks[0]
        self.not_a_module = [1, "two", np.ones(2)]


def test_train_and_eval_reach_every_module_held() -> None:
    model = _Holder()
    modules = list(model.modules())
    inner = model.inner
    # Depth first, in the order of the attributes; the module held twice comes once.
    assert modules == [
        model, inner, inner.layers[0], inner.layers[1], inner.layers[1].layers[0],
        *model.blocks, *model.pair,
    ]  # fmt: skip
    assert all(m.training for m in modules)  # a new module trains
    assert model.eval() is model
    assert not any(m.training for m in modules)
    assert model.train() is model
    assert all(m.training for m in modules)
    model.train(False)
    assert not any(m.training for m in modules)
    model.inner.train()  # only what inner holds
    assert [m.training for m in modules].count(True) == 4


def _images(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _eval_bn() -> BatchNorm2d:
    bn = BatchNorm2d(3)
    bn(_images((8, 3, 5, 5), 1) * 2 + 1)  # running statistics other than zeros and ones
    return bn.eval()


# (name, a function building the module afresh, the input): each is built twice, once for an
# ordinary call and once for a call under no_grad, so that both start from the same state.
NO_GRAD_CASES = [
    ("Conv2d", lambda: Conv2d(3, 4, 3, stride=2, padding=1, rng=0), (6, 3, 9, 9)),
    ("Conv2d, one channel", lambda: Conv2d(1, 4, 3, padding=1, rng=0), (6, 1, 9, 9)),
    ("BatchNorm2d, evaluation", _eval_bn, (6, 3, 5, 5)),
    ("BatchNorm2d, training", lambda: BatchNorm2d(3), (6, 3, 5, 5)),
    ("ResBlock", lambda: ResBlock(3, 6, stride=2, rng=0), (6, 3, 9, 9)),
    ("ResBlock, evaluation", lambda: ResBlock(3, 3, rng=0).eval(), (6, 3, 9, 9)),
    ("Sequential", lambda: Sequential(Linear(5, 7, rng=0), ReLU(), Linear(7, 2, rng=1)), (6, 5)),
    (
        "Sequential, convolutions of one geometry",  # they share scratch memory under no_grad
        lambda: Sequential(
            Conv2d(3, 3, 3, padding=1, rng=0),
            ReLU(),
            Conv2d(3, 3, 3, padding=1, rng=1),
            MaxPool2d(2),
            Conv2d(3, 3, 1, rng=2),
        ),
        (6, 3, 8, 8),
    ),
    ("resnet", lambda: resnet((4, 8), 2, stem_stride=2, rng=0), (6, 1, 12, 12)),
]


def _forward_state(module: Module) -> dict[str, object]:
    """What each module of ``module`` keeps from its latest call: its forward state and scratch."""
    state = {}
    for i, m in enumerate(module.modules()):
        state[f"{i}.saved"] = m.saved
        state[f"{i}.scratch"] = m.scratch or None  # an empty dictionary holds nothing
    return state


@pytest.mark.parametrize(
    ("make", "shape"), [case[1:] for case in NO_GRAD_CASES], ids=[case[0] for case in NO_GRAD_CASES]
)
def test_no_grad_gives_the_same_output_and_keeps_nothing(make, shape) -> None:
    x = _images(shape, 0)
    ordinary, under_no_grad = make(), make()
    expected = ordinary(x)
    under_no_grad(_images(shape, 2))  # an ordinary call first: its state must be released
    assert any(value is not None for value in _forward_state(under_no_grad).values())
    with no_grad():
        out = under_no_grad(x)
        again = under_no_grad(x)  # with the shared scratch memory of the first call
    assert np.array_equal(out, expected) and np.array_equal(again, expected)
    assert all(value is None for value in _forward_state(under_no_grad).values())
    with pytest.raises(RuntimeError, match="called before forward"):
        under_no_grad.backward(np.ones_like(out))
    # An ordinary call afterwards gives the same gradients as a module never put under no_grad.
    grad_out = _images(out.shape, 3)
    under_no_grad(x)
    ordinary(x)
    assert np.array_equal(under_no_grad.backward(grad_out), ordinary.backward(grad_out))
    for a, b in zip(ordinary.parameters(), under_no_grad.parameters(), strict=True):
        assert np.array_equal(a.grad, b.grad)


def test_no_grad_nests_and_restores_the_state_after_an_exception() -> None:
    layer = Conv2d(2, 2, 3, padding=1, rng=0)
    x = _images((2, 2, 5, 5), 0)
    assert is_grad_enabled()
    with no_grad():
        layer(x)
        filled = list(shared_scratch())
        with no_grad():
            assert not is_grad_enabled()
        assert not is_grad_enabled()
        assert filled and list(shared_scratch()) == filled  # only the outermost block empties it
        with pytest.raises(ValueError, match="Conv2d"), no_grad():
            layer(np.ones((2, 3, 5, 5), np.float32))
        assert not is_grad_enabled()
    assert is_grad_enabled()
    with pytest.raises(KeyError), no_grad():
        {}["missing"]
    assert is_grad_enabled()
    with no_grad():
        assert shared_scratch() == {}
    with pytest.raises(RuntimeError, match="only under no_grad"):
        shared_scratch()
    layer(x)  # keeps its state again
    assert layer.inputs[0] is x and layer.saved["cols"] is not None and layer.scratch


def test_no_grad_works_as_a_decorator() -> None:
    layer = ReLU()

    @no_grad()
    def measure(x):
        return layer(x), is_grad_enabled()

    out, enabled = measure(np.array([-1.0, 2.0]))
    assert np.array_equal(out, [0.0, 2.0]) and not enabled
    assert layer.out is None and is_grad_enabled()


def test_general_relu_layer_checks_its_options_and_shows_them() -> None:
    for options, message in [
        (dict(leak=-1.0), "leak must be at least 0, got -1.0"),
        (dict(sub=float("nan")), "sub must be finite, got nan"),
        (dict(maxv=[6.0]), r"maxv must be a number, got \[6.0\]"),
    ]:
        with pytest.raises(ValueError, match=f"GeneralReLU: {message}"):
            GeneralReLU(**options)
    assert repr(GeneralReLU()) == "GeneralReLU(leak=0.0, sub=0.0, maxv=None)"
    act = GeneralReLU(sub=0.5)
    act(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3\)"):
        act.backward(np.ones(3))
