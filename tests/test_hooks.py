"""deepfound.hooks: hooks see every pass and leave nothing behind; the statistics are right.

Also the parts of deepfound.learner that run them: fit's callbacks, and the
training and evaluation modes fit and evaluate switch to.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound.hooks import Hook, Hooks
from deepfound.learner import Callback, evaluate, fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy
from deepfound.nn import Linear, Module, ReLU, Sequential, no_grad
from deepfound.optim import SGD
from deepfound.stats import ActivationStats, histogram
from deepfound.testing import test_near


def mlp(seed: int = 0) -> Sequential:
    return Sequential(Linear(3, 8, rng=seed), ReLU(), Linear(8, 3, rng=seed + 1))


def data(n: int = 40, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset(rng.standard_normal((n, 3)).astype(np.float32), rng.integers(0, 3, n))


def test_forward_and_backward_hooks_see_what_the_module_computes() -> None:
    layer, x = Linear(3, 2, rng=0), np.ones((4, 3), np.float32)
    seen = {}

    def on_forward(module, inputs, output):
        seen["forward"] = (module, inputs, output)

    def on_backward(module, grad_input, grad_output):
        seen["backward"] = (module, grad_input, grad_output, module.weight.grad.copy())

    with Hook(layer, on_forward), Hook(layer, on_backward, backward=True):
        out = layer(x)
        grad_out = np.ones_like(out)
        grad_x = layer.backward(grad_out)
    module, inputs, output = seen["forward"]
    assert module is layer and inputs[0] is x and output is out
    module, grad_input, grad_output, weight_grad = seen["backward"]
    assert module is layer and grad_input is grad_x and grad_output is grad_out
    np.testing.assert_array_equal(weight_grad, layer.weight.grad)  # already updated


def test_forward_hooks_see_the_passes_under_no_grad_which_keep_nothing() -> None:
    model, x = mlp(), np.ones((4, 3), np.float32)
    seen = []
    with Hooks(model.layers, lambda module, inputs, output: seen.append((inputs[0], output))):
        with no_grad():
            out = model(x)
        assert len(seen) == 3 and seen[0][0] is x and seen[-1][1] is out
        assert all(m.inputs is None and m.out is None for m in model.modules())
        assert np.array_equal(model(x), out)  # and outside no_grad, as before
    assert len(seen) == 6 and model.out is seen[-1][1] and model.layers[0].inputs[0] is x
    stats = ActivationStats(model.layers, bins=4, value_range=(0.0, 2.0), gradients=True)
    with stats, no_grad():  # a pass in training mode, measured without keeping anything
        model(x)
    assert stats.means.shape == (3, 1) and stats.output_grad_norms.shape == (3, 0)


def test_a_backward_hook_on_a_loss_gets_no_grad_output() -> None:
    loss, seen = CrossEntropy(), []
    with Hook(loss, lambda m, grad_in, grad_out: seen.append((grad_in, grad_out)), backward=True):
        loss(np.zeros((2, 3)), np.array([0, 1]))
        grad = loss.backward()
    assert seen[0][0] is grad and seen[0][1] is None


def test_removing_hooks_leaves_the_module_as_it_was() -> None:
    model = mlp()
    out = model(np.ones((2, 3), np.float32))
    model.backward(np.ones_like(out))
    before = {id(m): dict(vars(m)) for m in model.modules()}
    calls = []
    hooks = Hooks(model.modules(), lambda m, *args: calls.append(m))
    hooks += Hooks(model.layers, lambda m, *args: calls.append(m), backward=True)
    hooks[0].remove()  # one hook goes, the others stay
    out = model(np.ones((2, 3), np.float32))
    model.backward(np.ones_like(out))
    assert len(calls) == 3 + 3
    hooks.remove()
    hooks.remove()  # removing twice is harmless
    for m in model.modules():
        assert vars(m).keys() == before[id(m)].keys()
        assert "forward" not in vars(m) and "backward" not in vars(m) and "_hooks" not in vars(m)
    calls.clear()
    out = model(np.ones((2, 3), np.float32))
    model.backward(np.ones_like(out))
    assert calls == []


def test_a_hook_may_remove_itself_and_a_with_block_removes_on_error() -> None:
    relu, calls = ReLU(), []

    def once(module, inputs, output):
        calls.append(output)
        hook.remove()

    hook = Hook(relu, once)
    relu(np.ones(2)), relu(np.ones(2))
    assert len(calls) == 1 and "forward" not in vars(relu)
    with pytest.raises(ZeroDivisionError), Hooks([relu], lambda *args: 1 / 0):
        relu(np.ones(2))
    assert "forward" not in vars(relu)
    with pytest.raises(TypeError, match="Hook: a Module is needed, got function"):
        Hook(lambda x: x, print)


@settings(max_examples=30, deadline=None)
@given(
    values=st.lists(st.floats(-20, 20, allow_nan=False), min_size=1, max_size=50),
    bins=st.integers(1, 12),
    low=st.floats(-5, 5),
    width=st.floats(0.5, 10),
)
def test_histogram_is_numpy_s_with_outliers_in_the_end_bins(values, bins, low, width) -> None:
    x, value_range = np.array(values, np.float32), (low, low + width)
    counts = histogram(x, bins, value_range)
    assert counts.shape == (bins,) and counts.sum() == x.size
    # Compare away from bin edges, where float32 rounding may put a value in either bin.
    edges = np.linspace(low, low + width, bins + 1)
    assume_clear = np.min(np.abs(x[:, None] - edges[1:-1]), initial=1.0, axis=1) > 1e-4
    x = x[assume_clear]
    expected, _ = np.histogram(np.clip(x, low, low + width), bins, value_range)
    np.testing.assert_array_equal(histogram(x, bins, value_range), expected)


def test_histogram_puts_nan_in_the_last_bin_and_checks_its_arguments() -> None:
    np.testing.assert_array_equal(histogram(np.array([np.nan, -5.0]), 2, (0, 1)), [1, 1])
    np.testing.assert_array_equal(histogram(np.array([np.nan, 0.5, 0.4]), 2, (0, 1)), [1, 2])
    with pytest.raises(ValueError, match=r"histogram: .* got 0 and \(0, 1\)"):
        histogram(np.ones(2), 0, (0, 1))
    with pytest.raises(ValueError, match=r"histogram: .* got 3 and \(1, 1\)"):
        ActivationStats([ReLU()], bins=3, value_range=(1, 1))


def test_activation_stats_records_each_training_step() -> None:
    model = mlp()
    stats = ActivationStats(model.layers, bins=5, value_range=(-2.0, 3.0), gradients=True)
    rng = np.random.default_rng(0)
    outputs, output_grads, param_norms = [], [], []
    w2 = model.layers[2].weight.data
    with stats:
        for _ in range(4):
            x = rng.standard_normal((6, 3)).astype(np.float32)
            model(x)
            outputs.append([layer.out.copy() for layer in model.layers])
            grad = rng.standard_normal((6, 3)).astype(np.float32)
            model.backward(grad)
            # By hand: back through the last Linear, then through the ReLU.
            grad_relu = grad @ w2.T
            output_grads.append([grad_relu * (outputs[-1][0] > 0), grad_relu, grad])
            first = model.layers[0]
            param_norms.append(np.sqrt((first.weight.grad**2).sum() + (first.bias.grad**2).sum()))
        model.eval()(x)  # evaluation mode: not recorded
    model.train()(x)  # removed: not recorded
    by_layer = [list(step) for step in zip(*outputs, strict=True)]  # [layer][step]
    test_near(stats.means, [[o.mean() for o in layer] for layer in by_layer], rtol=1e-6)
    test_near(stats.stds, [[o.std() for o in layer] for layer in by_layer], rtol=1e-6)
    expected_hist = [[histogram(o, 5, (-2.0, 3.0)) for o in layer] for layer in by_layer]
    np.testing.assert_array_equal(stats.histograms, expected_hist)
    assert stats.histograms.shape == (3, 4, 5)
    expected_norms = [[np.linalg.norm(step[i]) for step in output_grads] for i in range(3)]
    test_near(stats.output_grad_norms, expected_norms, rtol=1e-5)
    test_near(stats.param_grad_norms[0], param_norms, rtol=1e-5)
    assert np.isnan(stats.param_grad_norms[1]).all()  # ReLU: no parameters


def test_activation_stats_in_fit_records_steps_then_removes_its_hooks() -> None:
    model = mlp()
    train = DataLoader(data(40), 8)  # 5 steps an epoch
    limited = ActivationStats(model.layers, steps=7)
    every = ActivationStats(model.layers[:1])
    fit(model, CrossEntropy(), SGD(model.parameters(), 0.1), train, train, 2, progress=False,
        callbacks=[limited, every])  # fmt: skip
    assert limited.means.shape == (3, 7) and every.means.shape == (1, 10)
    assert all("_hooks" not in vars(m) for m in model.modules())
    empty = ActivationStats([ReLU()])
    assert empty.means.shape == (1, 0) and empty.histograms.shape == (1, 0)


class Recorder(Callback):
    def __init__(self, model: Module) -> None:
        self.events, self.model = [], model

    def before_fit(self, model):
        self.events.append(("before_fit", model is self.model))

    def after_step(self, step, loss):
        self.events.append(("after_step", step, self.model.training, np.isfinite(loss)))

    def after_epoch(self, epoch, history):
        self.events.append(("after_epoch", epoch, len(history.valid_accuracy)))

    def after_fit(self, model):
        self.events.append(("after_fit", model is self.model))


def test_fit_runs_callbacks_in_order_training_in_training_mode() -> None:
    model = mlp()
    train, valid = DataLoader(data(16), 8), DataLoader(data(8, 1), 8)
    modes = []
    model.layers[1].forward = lambda x: modes.append(model.layers[1].training) or np.maximum(x, 0)
    recorder = Recorder(model)
    model.eval()  # fit switches to training mode itself
    fit(model, CrossEntropy(), SGD(model.parameters(), 0.1), train, valid, 2, progress=False,
        callbacks=[recorder])  # fmt: skip
    assert recorder.events == [
        ("before_fit", True),
        ("after_step", 0, True, True),
        ("after_step", 1, True, True),
        ("after_epoch", 0, 1),
        ("after_step", 2, True, True),
        ("after_step", 3, True, True),
        ("after_epoch", 1, 2),
        ("after_fit", True),
    ]
    # Two training batches, then one validation batch, in each epoch.
    assert modes == [True, True, False, True, True, False]
    assert model.training


def test_after_fit_runs_when_training_fails() -> None:
    model = mlp()
    recorder = Recorder(model)
    bad = DataLoader(Dataset(np.ones((4, 5), np.float32), np.zeros(4, np.int64)), 2)
    with pytest.raises(ValueError, match="lin"):
        fit(model, CrossEntropy(), SGD(model.parameters(), 0.1), bad, bad, 1, progress=False,
            callbacks=[recorder])  # fmt: skip
    assert recorder.events == [("before_fit", True), ("after_fit", True)]


@pytest.mark.parametrize("training", [True, False])
def test_evaluate_runs_in_evaluation_mode_and_restores_the_mode(training: bool) -> None:
    model = mlp().train(training)
    modes = []
    model.layers[1].forward = lambda x: modes.append(model.layers[1].training) or np.maximum(x, 0)
    evaluate(model, CrossEntropy(), DataLoader(data(8), 4))
    assert modes == [False, False]
    assert all(m.training == training for m in model.modules())
    bad = DataLoader(Dataset(np.ones((4, 5), np.float32), np.zeros(4, np.int64)), 2)
    with pytest.raises(ValueError, match="lin"):
        evaluate(model, CrossEntropy(), bad)
    assert all(m.training == training for m in model.modules())


def test_removal_restores_a_method_the_instance_had_of_its_own() -> None:
    relu, seen = ReLU(), []
    own = relu.forward = lambda x: np.maximum(x, 1)  # the instance's own forward
    with Hook(relu, lambda m, inputs, out: seen.append(out)):
        np.testing.assert_array_equal(relu(np.zeros(2)), np.ones(2))
    assert relu.forward is own and len(seen) == 1


def test_a_copy_of_a_hooked_module_runs_its_own_weights_and_no_hooks() -> None:
    layer, x = Linear(3, 2, rng=0), np.ones((4, 3), np.float32)
    seen = []
    hook = Hook(layer, lambda m, inputs, out: seen.append(m))
    backward_hook = Hook(layer, lambda m, *grads: seen.append(m), backward=True)
    copy_ = copy.deepcopy(layer)
    copy_.weight.data[:] = 0
    copy_.bias.data[:] = 1
    np.testing.assert_array_equal(copy_(x), np.ones((4, 2), np.float32))
    assert copy_.backward(np.ones((4, 2), np.float32)).shape == (4, 3)
    np.testing.assert_array_equal(copy_.bias.grad, [4, 4])
    assert seen == [] and layer.out is None  # neither the original nor its hooks ran
    assert not {"forward", "backward", "_hooks"} & vars(copy_).keys()
    hook.remove()
    backward_hook.remove()
    np.testing.assert_array_equal(copy_(x), np.ones((4, 2), np.float32))


def test_a_pickled_hooked_module_is_the_module_without_its_hooks() -> None:
    model, x, seen = mlp(), np.ones((4, 3), np.float32), []
    with Hooks(model.layers, lambda m, inputs, out: seen.append(m)):  # a local function
        restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored(x), model(x))
    assert len(seen) == 0
    assert not any({"forward", "_hooks"} & vars(m).keys() for m in restored.modules())


def test_a_copy_keeps_a_method_the_instance_had_of_its_own_under_a_hook() -> None:
    relu, seen = ReLU(), []
    own = relu.forward = lambda x: np.maximum(x, 1)
    with Hook(relu, lambda m, inputs, out: seen.append(out)):
        relu_copy = copy.deepcopy(relu)
    np.testing.assert_array_equal(relu_copy(np.zeros(2)), np.ones(2))
    assert relu_copy.forward is own and seen == []


def test_a_best_model_copy_under_activation_stats_keeps_its_weights() -> None:
    model, x = mlp(), np.ones((4, 3), np.float32)
    stats = ActivationStats(model.layers, bins=4, value_range=(0.0, 2.0)).attach()
    out = model(x)
    best = copy.deepcopy(model)
    for p in model.parameters():
        p.data += 1  # the original trains on
    np.testing.assert_array_equal(best(x), out)
    assert stats.means.shape == (3, 1)  # the copy's pass is not a step of the original
    stats.remove()
    np.testing.assert_array_equal(best(x), out)
