"""The training loop: forward, loss, backward, step, batch after batch, epoch after epoch.

Losses and accuracies over several batches are averaged **weighted by batch size**,
so that they equal the value over the whole dataset even when the last batch is
smaller than the others. :func:`fit` trains in training mode and :func:`evaluate`
measures in evaluation mode (see :meth:`deepfound.nn.Module.train`); a
:class:`Callback` passed to ``fit`` runs code at fixed points of the loop.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from deepfound._checks import check_int
from deepfound.loader import DataLoader
from deepfound.losses import accuracy
from deepfound.nn import Module, no_grad
from deepfound.optimizer import Optimizer


@dataclass
class History:
    """What :func:`fit` measured, one entry per epoch.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss over the epoch's batches, weighted by batch size, measured
        while the weights were still changing.
    valid_loss, valid_accuracy : list of float
        Loss and accuracy on the whole validation set at the end of the epoch; the
        accuracy is NaN when the targets are not class labels (see :func:`evaluate`).
    train_seconds : list of float
        Wall-clock time of the epoch's training steps, validation excluded.
    """

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_accuracy: list[float] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)


class Callback:
    """Code that :func:`fit` runs at fixed points of training; each method does nothing here.

    Subclasses override the methods they need. ``after_fit`` runs even when
    training stops with an error, so a callback can always clean up after itself.

    Examples
    --------
    >>> class CountSteps(Callback):
    ...     def before_fit(self, model):
    ...         self.steps = 0
    ...     def after_step(self, step, loss):
    ...         self.steps += 1
    >>> counter = CountSteps()
    >>> counter.before_fit(None); counter.after_step(0, 1.0); counter.steps
    1
    """

    def before_fit(self, model: Module) -> None:
        """Before the first step."""

    def after_step(self, step: int, loss: float) -> None:
        """After the optimizer's step number ``step`` (from 0), with that batch's loss."""

    def after_epoch(self, epoch: int, history: History) -> None:
        """After epoch number ``epoch`` (from 0) and its validation, recorded in ``history``."""

    def after_fit(self, model: Module) -> None:
        """After the last epoch, or when training stops with an error."""


def evaluate(model: Module, loss_fn: Module, loader: DataLoader) -> tuple[float, float]:
    """Loss and accuracy of ``model`` over every batch of ``loader``, weighted by batch size.

    Each batch's mean is multiplied by its number of rows before summing, and
    the sum divided by the total number of rows: the mean over the whole dataset.
    The accuracy means something only for class scores (n, n_classes) against
    integer labels (n,); for anything else, such as a regression trained with
    :class:`~deepfound.nn.MSE`, it is NaN. The model runs in evaluation mode; its
    mode before the call is restored after. It runs under :func:`~deepfound.nn.no_grad`:
    no module keeps anything from the evaluation batches, which are often larger
    than the training ones, so a ``backward`` must follow a forward pass of its own.

    Examples
    --------
    >>> import numpy as np
    >>> from deepfound.loader import Dataset
    >>> from deepfound.losses import CrossEntropy
    >>> from deepfound.nn import Linear
    >>> x, y = np.eye(3, dtype=np.float32), np.array([0, 1, 1])
    >>> model = Linear(3, 2, rng=0)
    >>> model.weight.data[:] = [[1, 0], [0, 1], [1, 0]]
    >>> loss, acc = evaluate(model, CrossEntropy(), DataLoader(Dataset(x, y), batch_size=2))
    >>> print(round(acc, 4))
    0.6667
    >>> from deepfound.nn import MSE
    >>> loss, acc = evaluate(Linear(3, 1, rng=0), MSE(), DataLoader(Dataset(x, x[:, 0]), 2))
    >>> print(acc)
    nan
    """
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return _evaluate(model, loss_fn, loader)
    finally:
        model.train(was_training)


def _evaluate(model: Module, loss_fn: Module, loader: DataLoader) -> tuple[float, float]:
    total_loss = total_correct = 0.0
    total = 0
    classes = True
    for x, y in loader:
        out = model(x)
        n = len(y)
        total_loss += loss_fn(out, y) * n
        classes = classes and _class_labels(out, y)
        if classes:
            total_correct += accuracy(out, y) * n
        total += n
    if total == 0:
        raise ValueError("evaluate: the loader yielded no rows")
    return total_loss / total, total_correct / total if classes else float("nan")


def _class_labels(out: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``y`` holds an integer class label for each row of class scores ``out``."""
    y = np.asarray(y)
    return (
        np.ndim(out) == 2
        and np.shape(out)[1] > 1
        and y.shape == np.shape(out)[:1]
        and np.issubdtype(y.dtype, np.integer)
    )


def fit(
    model: Module,
    loss_fn: Module,
    opt: Optimizer,
    train: DataLoader,
    valid: DataLoader,
    epochs: int,
    *,
    schedule: Callable[[int], float] | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
) -> History:
    """Train ``model`` for ``epochs`` passes over ``train``, validating after each.

    Parameters
    ----------
    model : deepfound.nn.Module
        The network; ``model(x)`` gives its output, ``model.backward(grad)`` its gradients.
    loss_fn : deepfound.nn.Module
        A loss module such as :class:`~deepfound.losses.CrossEntropy`.
    opt : deepfound.optimizer.Optimizer
        The optimizer over ``model.parameters()``: any of :mod:`deepfound.optim`'s.
    train, valid : deepfound.loader.DataLoader
        Training batches (usually shuffled) and validation batches.
    epochs : int
        Passes over the training data, an integer of at least 1.
    schedule : callable, optional
        Learning rate for each step, from step 0 to ``epochs * len(train) - 1``, set as
        ``opt.lr``: every parameter group's, whatever each had of its own (leave it out to
        train groups at learning rates of their own, which ``fit`` then leaves as they are).
        One that raises ``IndexError`` (a list's ``__getitem__``, say) has ended too soon: a
        ``ValueError`` names the step.
    progress : bool
        Show a progress bar over the batches and a line per epoch with the training loss
        and the validation loss and accuracy (on standard error).
    callbacks : list of Callback
        Run, in order, before training, after every step, after every epoch and at
        the end (see :class:`Callback`).

    Returns
    -------
    History
        Per-epoch training loss, validation loss and accuracy, and training time.

    Examples
    --------
    >>> import numpy as np
    >>> from deepfound.loader import Dataset
    >>> from deepfound.losses import CrossEntropy
    >>> from deepfound.nn import Linear
    >>> from deepfound.optim import SGD
    >>> x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32)
    >>> y = (x[:, 0] > 0).astype(np.int64)
    >>> model = Linear(2, 2, rng=0)
    >>> data = DataLoader(Dataset(x, y), batch_size=16, shuffle=True, rng=0)
    >>> hist = fit(model, CrossEntropy(), SGD(model.parameters(), lr=1.0), data, data, 20,
    ...            progress=False)
    >>> len(hist.train_loss), hist.valid_accuracy[-1] > 0.95
    (20, True)
    """
    check_int("fit", "epochs", epochs, 1)
    for callback in callbacks:
        callback.before_fit(model)
    try:
        return _fit(model, loss_fn, opt, train, valid, epochs, schedule, progress, callbacks)
    finally:
        for callback in callbacks:
            callback.after_fit(model)


def _fit(model, loss_fn, opt, train, valid, epochs, schedule, progress, callbacks) -> History:
    history = History()
    bar = tqdm(total=epochs * len(train), disable=not progress, unit="batch")
    step = 0
    for epoch in range(epochs):
        bar.set_description(f"epoch {epoch + 1}/{epochs}")
        total_loss, total = 0.0, 0
        model.train()
        start = time.perf_counter()
        for x, y in train:
            if schedule is not None:
                opt.lr = _scheduled_lr(schedule, step, epochs, len(train))
            loss = loss_fn(model(x), y)
            model.backward(loss_fn.backward())
            opt.step()
            for callback in callbacks:
                callback.after_step(step, loss)
            total_loss += loss * len(y)
            total += len(y)
            step += 1
            bar.update()
        history.train_seconds.append(time.perf_counter() - start)
        if total == 0:
            raise ValueError("fit: the training loader yielded no rows")
        history.train_loss.append(total_loss / total)
        valid_loss, valid_accuracy = evaluate(model, loss_fn, valid)
        history.valid_loss.append(valid_loss)
        history.valid_accuracy.append(valid_accuracy)
        if progress:
            line = f"epoch {epoch + 1}/{epochs}: train loss {history.train_loss[-1]:.4f}, "
            line += f"valid loss {valid_loss:.4f}"
            if not np.isnan(valid_accuracy):
                line += f", valid accuracy {valid_accuracy:.2%}"
            bar.write(line, file=sys.stderr)
        for callback in callbacks:
            callback.after_epoch(epoch, history)
    bar.close()
    return history


def _scheduled_lr(schedule: Callable[[int], float], step: int, epochs: int, batches: int) -> float:
    """``schedule(step)``; a schedule that ends before the run does (IndexError) is named so."""
    try:
        return schedule(step)
    except IndexError as error:
        total = epochs * batches
        raise ValueError(
            f"fit: the schedule has no learning rate for step {step} (IndexError: {error}): "
            f"it ends after {step} steps, the run takes {total} (epochs * len(train) = "
            f"{epochs} * {batches}); give it a learning rate for each of the {total} steps"
        ) from error
