"""deepfound.learner: fit learns a small problem; averages over batches are weighted by size."""

import numpy as np
import pytest

from deepfound.learner import evaluate, fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy, accuracy, cross_entropy
from deepfound.nn import MSE, Linear, Module, Parameter, ReLU, Sequential
from deepfound.optim import SGD, linear_decay
from deepfound.resnet import resnet
from deepfound.testing import test_near


def blobs(n: int, seed: int) -> Dataset:
    """Three well-separated clusters in 2-D, one per class."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centres = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]])
    x = centres[y] + 0.5 * rng.standard_normal((n, 2))
    return Dataset(x.astype(np.float32), y)


def mlp(seed: int) -> Sequential:
    return Sequential(Linear(2, 16, rng=seed), ReLU(), Linear(16, 3, rng=seed + 1))


def test_fit_reaches_near_zero_loss_on_a_separable_problem():
    model = mlp(0)
    train = DataLoader(blobs(200, 0), 16, shuffle=True, rng=0)
    valid = DataLoader(blobs(100, 1), 32)
    epochs = 30
    history = fit(
        model,
        CrossEntropy(),
        SGD(model.parameters(), lr=0.1),
        train,
        valid,
        epochs,
        schedule=linear_decay(0.1, epochs * len(train)),
        progress=False,
    )
    assert len(history.train_loss) == len(history.valid_loss) == epochs
    assert len(history.valid_accuracy) == len(history.train_seconds) == epochs
    assert history.train_loss[-1] < 0.01 < history.train_loss[0]
    assert history.valid_loss[-1] < 0.01
    assert history.valid_accuracy[-1] == 1.0
    assert all(seconds > 0 for seconds in history.train_seconds)


def test_fit_reproduces_for_the_same_seeds():
    def run():
        model = mlp(3)
        train = DataLoader(blobs(50, 0), 8, shuffle=True, rng=5)
        opt = SGD(model.parameters(), lr=0.05)
        return fit(model, CrossEntropy(), opt, train, train, 2, progress=False).train_loss

    assert run() == run()


def test_evaluate_weights_batches_by_size():
    ds = blobs(10, 2)
    model = mlp(0)
    whole_loss = cross_entropy(model(ds.x), ds.y)
    whole_accuracy = accuracy(model(ds.x), ds.y)
    loader = DataLoader(ds, batch_size=4)  # batches of 4, 4 and 2 rows
    loss, acc = evaluate(model, CrossEntropy(), loader)
    test_near(loss, whole_loss, rtol=1e-6)
    test_near(acc, whole_accuracy, rtol=1e-12)
    per_batch_mean = np.mean([cross_entropy(model(x), y) for x, y in loader])
    assert abs(per_batch_mean - whole_loss) > 1e-3


def test_schedule_sets_the_learning_rate_of_every_step():
    model = mlp(0)
    train = DataLoader(blobs(20, 0), 8)
    opt = SGD(model.parameters(), lr=1.0)
    schedule = linear_decay(0.2, 2 * len(train))
    fit(model, CrossEntropy(), opt, train, train, 2, schedule=schedule, progress=False)
    assert opt.lr == schedule(2 * len(train) - 1)


@pytest.mark.parametrize("progress", [True, False])
def test_progress_bar_can_be_switched_off(capsys, progress):
    model = mlp(0)
    train = DataLoader(blobs(20, 0), 8)
    fit(model, CrossEntropy(), SGD(model.parameters(), lr=0.1), train, train, 1, progress=progress)
    captured = capsys.readouterr()
    assert ("epoch 1/1" in captured.err) is progress
    assert ("valid accuracy" in captured.err) is progress
    assert captured.out == ""


def test_bad_arguments_are_rejected():
    model = mlp(0)
    train = DataLoader(blobs(20, 0), 8)
    with pytest.raises(ValueError, match="epochs must be an integer of at least 1, got 0"):
        fit(model, CrossEntropy(), SGD(model.parameters(), lr=0.1), train, train, 0)
    with pytest.raises(ValueError, match="no rows"):
        evaluate(model, CrossEntropy(), DataLoader(blobs(0, 0), 8))


@pytest.mark.parametrize("epochs", [1.5, 2.0, "2", True])
def test_fit_names_epochs_that_are_not_an_integer(epochs):
    model = mlp(0)
    train = DataLoader(blobs(20, 0), 8)
    opt = SGD(model.parameters(), lr=0.1)
    message = f"fit: epochs must be an integer of at least 1, got {epochs!r}"
    with pytest.raises(ValueError, match=message):
        fit(model, CrossEntropy(), opt, train, train, epochs, progress=False)


def test_fit_names_the_step_a_schedule_shorter_than_the_run_lacks():
    model = mlp(0)
    train = DataLoader(blobs(20, 0), 8)  # 3 batches: 6 steps in 2 epochs
    lrs = [0.1, 0.1, 0.05, 0.05]
    opt = SGD(model.parameters(), lr=0.1)
    message = (
        r"fit: the schedule has no learning rate for step 4 \(IndexError: list index out of "
        r"range\): it ends after 4 steps, the run takes 6 \(epochs \* len\(train\) = 2 \* 3\)"
    )
    with pytest.raises(ValueError, match=message):
        fit(model, CrossEntropy(), opt, train, train, 2, schedule=lrs.__getitem__, progress=False)


def test_fit_on_an_empty_training_loader_is_an_error():
    model = mlp(0)
    empty, valid = DataLoader(blobs(0, 0), 8), DataLoader(blobs(10, 1), 8)
    with pytest.raises(ValueError, match="fit: the training loader yielded no rows"):
        fit(model, CrossEntropy(), SGD(model.parameters(), lr=0.1), empty, valid, 1)


def regression(n: int, seed: int) -> Dataset:
    """y = 2 x0 - x1 + 0.5, with a little noise: float targets, nothing to classify."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 2)).astype(np.float32)
    y = (2 * x[:, 0] - x[:, 1] + 0.5 + 0.01 * rng.standard_normal(n)).astype(np.float32)
    return Dataset(x, y)


def test_fit_trains_a_regression_and_reports_its_loss_without_accuracy(capsys):
    model = Linear(2, 1, rng=0)
    train = DataLoader(regression(128, 0), 16, shuffle=True, rng=0)
    valid = DataLoader(regression(64, 1), 32)
    history = fit(model, MSE(), SGD(model.parameters(), lr=0.05), train, valid, 10)
    assert len(history.valid_loss) == len(history.valid_accuracy) == 10
    assert history.valid_loss[-1] < 0.01 < history.valid_loss[0]
    assert all(np.isnan(acc) for acc in history.valid_accuracy)
    err = capsys.readouterr().err
    assert "valid loss" in err and "accuracy" not in err
    loss, acc = evaluate(model, MSE(), valid)
    assert loss == history.valid_loss[-1] and np.isnan(acc)


def test_accuracy_is_measured_only_against_class_labels():
    # An MSE network with one output, trained on the digit labels as numbers (chapter 05):
    # integer targets, but one score per row, so no class to pick.
    ds = Dataset(np.eye(4, dtype=np.float32), np.array([0, 1, 2, 3]))
    _, acc = evaluate(Linear(4, 1, rng=0), MSE(), DataLoader(ds, 2))
    assert np.isnan(acc)
    model = Linear(4, 4, rng=0)
    model.weight.data[:] = np.eye(4) * 5
    _, acc = evaluate(model, CrossEntropy(), DataLoader(ds, 2))
    assert acc == 1.0


def retained_bytes(model: Module) -> int:
    """Bytes of the arrays the model's modules hold besides parameters and running statistics.

    That is what a call leaves behind: ``.inputs`` and ``.out``, private scratch memory
    and saved values, in attributes, tuples, lists and dicts, at any depth. An array
    counts with the whole block of memory it is a view of, since it keeps that block
    alive, and each block counts once, however many modules hold it.
    """
    blocks: dict[int, int] = {}

    def visit(value) -> None:
        if isinstance(value, np.ndarray):
            while isinstance(value.base, np.ndarray):
                value = value.base
            blocks[id(value)] = value.nbytes
        elif isinstance(value, (tuple, list)):
            for item in value:
                visit(item)
        elif isinstance(value, dict):
            for item in value.values():
                visit(item)

    for module in model.modules():
        for name, value in vars(module).items():
            # Parameters are the model; modules are visited in turn by modules().
            if name not in ("running_mean", "running_var") and not isinstance(
                value, (Parameter, Module)
            ):
                visit(value)
    return sum(blocks.values())


def test_evaluate_leaves_nothing_the_size_of_its_batches():
    # The 56-layer residual network of chapter 10, validated on batches of 1000 images: layers
    # that kept their last evaluation batch's arrays would hold over 2 GB across it.
    model = resnet((8, 16, 32), 9, stem_stride=2, rng=0)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((1000, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 1000)
    loss_fn = CrossEntropy()
    loss_fn(model(images[:8]), labels[:8])
    model.backward(loss_fn.backward())
    after_training_step = retained_bytes(model)
    assert after_training_step > 0  # the helper sees what a training step keeps
    evaluate(model, CrossEntropy(), DataLoader(Dataset(images, labels), 1000))
    after_evaluation = retained_bytes(model)
    # Nothing grows with the evaluation batch: no more than the 8-image step left behind.
    assert after_evaluation <= after_training_step, (
        f"{after_evaluation / 2**20:.1f} MB retained after evaluating batches of 1000, "
        f"{after_training_step / 2**20:.1f} MB after a training step on 8 images"
    )
