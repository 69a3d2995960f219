"""The training runs whose results the chapters assert, each in one place.

A chapter that promises an accuracy trains its network with a *recipe* from this
module and shows the recipe's code on its page. ``nox -s margins`` runs the same
recipes again under other BLAS kernels, thread counts and seeds, and reports how far
the worst run stays above the chapter's bar: the accuracy is a property of the
recipe, not of one lucky run on one machine.

Every recipe is a frozen dataclass of its settings (the numbers a chapter quotes)
with three methods: ``model(seed)`` builds the network, ``train(model, data, seed)``
trains it and returns the :class:`~deepfound.learner.History`, and ``run(data,
seed)`` does both. The seed decides the initial weights and the order of the batches
(and the augmentation's offsets): everything random in a run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deepfound.adaptive import AdamW
from deepfound.conv import Conv2d, GlobalAvgPool
from deepfound.learner import Callback, History, fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy
from deepfound.lr_finder import ewma, lr_find
from deepfound.mnist import MNIST, Recipe, loaders
from deepfound.nn import Linear, Module, ReLU, Sequential
from deepfound.norm import BatchNorm2d
from deepfound.optim import SGD
from deepfound.resnet_recipes import DepthComparison, ResNet, StepLosses
from deepfound.schedules import linear_decay, one_cycle, one_cycle_momentum
from deepfound.spread import Spread
from deepfound.toolbox_recipes import BEST, Toolbox, decay_groups

__all__ = [
    "MNIST",
    "Recipe",
    "MLP",
    "CNN",
    "AdamWMLP",
    "BatchNormCNN",
    "ResNet",
    "DepthComparison",
    "StepLosses",
    "Toolbox",
    "BEST",
    "decay_groups",
    "Spread",
]


@dataclass(frozen=True)
class MLP(Recipe):
    """Chapter 06: 784–256–10 with a ReLU, plain SGD, the learning rate falling linearly to 0."""

    hidden: int = 256
    batch_size: int = 64
    lr: float = 0.3
    epochs: int = 4
    target: float = 0.975

    def model(self, seed: int = 0) -> Sequential:
        rng = np.random.default_rng(seed)
        # The first layer's input is the data: its gradient is never used, so it is not computed.
        first = Linear(784, self.hidden, rng=rng, input_grad=False)
        return Sequential(first, ReLU(), Linear(self.hidden, 10, rng=rng))

    def train(self, model: Module, data: MNIST, seed: int = 0) -> History:
        train_set = Dataset(data.x_train, data.y_train)
        train_dl = DataLoader(train_set, self.batch_size, shuffle=True, rng=seed)
        # No gradients are needed for validation: large batches only save overhead.
        valid_dl = DataLoader(Dataset(data.x_valid, data.y_valid), 1000)
        opt = SGD(model.parameters(), self.lr)
        schedule = linear_decay(self.lr, self.epochs * len(train_dl))
        return fit(
            model,
            CrossEntropy(),
            opt,
            train_dl,
            valid_dl,
            self.epochs,
            schedule=schedule,
            progress=False,
        )


def warmup_then_decay(lr: float, warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """A linear decay from ``lr`` to 0, ramped up linearly over the first ``warmup_steps``.

    Examples
    --------
    >>> schedule = warmup_then_decay(1.0, 2, 4)
    >>> [schedule(t) for t in range(4)]
    [0.5, 0.75, 0.5, 0.25]
    """
    decay = linear_decay(lr, total_steps)
    return lambda step: decay(step) * min(1.0, (step + 1) / warmup_steps)


@dataclass(frozen=True)
class CNN(Recipe):
    """Chapter 07: four stride-2 convolutions, momentum SGD, a warm-up then a linear decay."""

    widths: tuple[int, ...] = (8, 16, 32, 32)
    kernel_sizes: tuple[int, ...] = (5, 3, 3, 3)
    batch_size: int = 64
    epochs: int = 10
    lr: float = 0.04
    momentum: float = 0.9
    weight_decay: float = 5e-4
    target: float = 0.985

    def model(self, seed: int = 0) -> Sequential:
        rng, layers, c_in = np.random.default_rng(seed), [], 1
        for i, (c_out, k) in enumerate(zip(self.widths, self.kernel_sizes, strict=True)):
            # The first layer's input is the data: its gradient is never needed.
            conv = Conv2d(c_in, c_out, k, stride=2, padding=k // 2, rng=rng, input_grad=i > 0)
            layers += [conv, ReLU()]
            c_in = c_out
        return Sequential(*layers, GlobalAvgPool(), Linear(c_in, 10, rng=rng))

    def train(self, model: Module, data: MNIST, seed: int = 0) -> History:
        train_dl, valid_dl = loaders(data, self.batch_size, seed)
        opt = SGD(
            model.parameters(), self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )
        steps = len(train_dl)
        schedule = warmup_then_decay(self.lr, steps, self.epochs * steps)
        return fit(
            model,
            CrossEntropy(),
            opt,
            train_dl,
            valid_dl,
            self.epochs,
            schedule=schedule,
            progress=False,
        )


def with_momentum(opt, lr_schedule, momentum_schedule) -> Callable[[int], float]:
    """An lr schedule that also sets the momentum (SGD) or beta1 (Adam) before every step.

    Examples
    --------
    >>> from deepfound.nn import Parameter
    >>> opt = SGD([Parameter(np.zeros(2))], 0.1, momentum=0.9)
    >>> schedule = with_momentum(opt, lambda step: 0.1 * step, lambda step: 0.95 - 0.1 * step)
    >>> schedule(2), round(opt.momentum, 2)
    (0.2, 0.75)
    """

    def schedule(step: int) -> float:
        if isinstance(opt, SGD):
            opt.momentum = momentum_schedule(step)
        else:
            opt.betas = (momentum_schedule(step), opt.betas[1])
        return lr_schedule(step)

    return schedule


@dataclass(frozen=True)
class AdamWMLP(Recipe):
    """Chapter 08: the MLP of chapter 06 with AdamW, one cycle peaking where the finder says."""

    hidden: int = 256
    batch_size: int = 128
    weight_decay: float = 0.1
    beta: float = 0.98  # the finder's smoothing
    finder_steps: int = 300
    epochs: int = 15
    target: float = 0.983

    def model(self, seed: int = 0) -> Sequential:
        return MLP(hidden=self.hidden).model(seed)

    def optimizer(self, model: Module, lr: float) -> AdamW:
        return AdamW(model.parameters(), lr, weight_decay=self.weight_decay)

    def find_lr(
        self, model: Module, opt: AdamW, data: MNIST, seed: int = 0
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """The finder's learning rates and losses, and the rate it picks: the lowest smoothed
        loss, moved back by the smoothing's lag of ``beta / (1 - beta)`` steps.

        ``model`` and ``opt`` are left as they were.
        """
        train_dl, _ = loaders(data, self.batch_size, seed)
        lrs, losses = lr_find(
            model,
            CrossEntropy(),
            opt,
            train_dl,
            start_lr=1e-6,
            end_lr=10.0,
            num_steps=self.finder_steps,
            beta=self.beta,
        )
        lag = round(self.beta / (1 - self.beta))
        lowest = int(np.argmin(ewma(losses, self.beta)))
        return lrs, losses, float(lrs[max(lowest - lag, 0)])

    def train(self, model: Module, data: MNIST, seed: int = 0, *, lr: float) -> History:
        train_dl, valid_dl = loaders(data, self.batch_size, seed)
        opt = self.optimizer(model, lr)
        total = self.epochs * len(train_dl)
        schedule = with_momentum(opt, one_cycle(lr, total), one_cycle_momentum(total))
        return fit(
            model,
            CrossEntropy(),
            opt,
            train_dl,
            valid_dl,
            self.epochs,
            schedule=schedule,
            progress=False,
        )

    def run(self, data: MNIST, seed: int = 0) -> tuple[Module, History]:
        model = self.model(seed)
        *_, lr = self.find_lr(model, self.optimizer(model, 1e-3), data, seed)
        return model, self.train(model, data, seed, lr=lr)


@dataclass(frozen=True)
class BatchNormCNN(Recipe):
    """Chapter 09: six convolutions, batch-normalized or not, momentum SGD, one cycle."""

    widths: tuple[int, ...] = (8, 16, 16, 32, 32, 64)
    strides: tuple[int, ...] = (2, 1, 2, 1, 2, 1)
    batch_size: int = 64
    epochs: int = 4
    lr: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    target: float = 0.99

    def model(self, seed: int = 0, *, batch_norm: bool = True) -> Sequential:
        rng, layers, c_in = np.random.default_rng(seed), [], 1
        for i, (c_out, stride) in enumerate(zip(self.widths, self.strides, strict=True)):
            k = 5 if i == 0 else 3
            # The first layer's input is the data: no gradient needed there. With batch
            # normalization next, a bias would be subtracted right away: the layer has none.
            layers.append(
                Conv2d(
                    c_in,
                    c_out,
                    k,
                    stride=stride,
                    padding=k // 2,
                    bias=not batch_norm,
                    rng=rng,
                    input_grad=i > 0,
                )
            )
            if batch_norm:
                layers.append(BatchNorm2d(c_out))
            layers.append(ReLU())
            c_in = c_out
        return Sequential(*layers, GlobalAvgPool(), Linear(c_in, 10, rng=rng))

    def train(
        self, model: Module, data: MNIST, seed: int = 0, callbacks: Sequence[Callback] = ()
    ) -> History:
        train_dl, valid_dl = loaders(data, self.batch_size, seed)
        opt = SGD(
            model.parameters(), self.lr, momentum=self.momentum, weight_decay=self.weight_decay
        )
        schedule = one_cycle(self.lr, self.epochs * len(train_dl))
        return fit(
            model,
            CrossEntropy(),
            opt,
            train_dl,
            valid_dl,
            self.epochs,
            schedule=schedule,
            progress=False,
            callbacks=callbacks,
        )
