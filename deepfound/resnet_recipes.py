"""Chapter 10's training runs: the ResNet recipe and the comparison of plain and residual depth.

Importable from :mod:`deepfound.recipes`, with every other recipe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepfound.augment import Shifted
from deepfound.learner import Callback, History, fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy
from deepfound.mnist import MNIST, Recipe, loaders
from deepfound.nn import Module, Sequential
from deepfound.optim import SGD
from deepfound.resnet import resnet
from deepfound.schedules import one_cycle


@dataclass(frozen=True)
class ResNet(Recipe):
    """Chapter 10: a small ResNet, Nesterov SGD with one cycle, images shifted by up to a pixel.

    Each block's last batch-normalization scale starts at zero (``zero_init``), and the loss
    smooths the labels (``label_smoothing``).
    """

    widths: tuple[int, ...] = (16, 32, 64)
    stem_stride: int = 2
    batch_size: int = 128
    epochs: int = 4
    lr: float = 0.6
    pct_start: float = 0.25
    momentum: float = 0.9
    weight_decay: float = 5e-4
    max_shift: int = 1
    zero_init: bool = True
    label_smoothing: float = 0.1
    target: float = 0.993

    def model(self, seed: int = 0) -> Sequential:
        return resnet(self.widths, stem_stride=self.stem_stride, rng=seed, zero_init=self.zero_init)

    def train(self, model: Module, data: MNIST, seed: int = 0) -> History:
        # Shifts and batch order from two generators of the seed's: the background pixel is
        # a zero, normalized like the rest.
        shifts, order = np.random.default_rng(seed).spawn(2)
        shifted = Shifted(
            data.x_train, data.y_train, self.max_shift, fill=-data.mean / data.std, rng=shifts
        )
        train_dl, valid_dl = loaders(data, self.batch_size, order, shifted)
        opt = SGD(
            model.parameters(),
            self.lr,
            momentum=self.momentum,
            nesterov=True,
            weight_decay=self.weight_decay,
        )
        schedule = one_cycle(self.lr, self.epochs * len(train_dl), pct_start=self.pct_start)
        loss_fn = CrossEntropy(label_smoothing=self.label_smoothing)
        return fit(
            model,
            loss_fn,
            opt,
            train_dl,
            valid_dl,
            self.epochs,
            schedule=schedule,
            progress=False,
        )


class StepLosses(Callback):
    """The training loss of every step, in ``.losses``."""

    def before_fit(self, model: Module) -> None:
        self.losses: list[float] = []

    def after_step(self, step: int, loss: float) -> None:
        self.losses.append(loss)


@dataclass(frozen=True)
class DepthComparison:
    """Chapter 10: a shallow and a deep plain network and the deep residual one, trained briefly.

    Each trains ``steps`` steps on the same batches, from the same seed; the final loss of a
    network is the mean over its ``last`` steps. The deep plain network's should be more than
    ``target`` times the larger of the other two.
    """

    widths: tuple[int, ...] = (8, 16, 32)
    shallow_blocks: int = 3
    deep_blocks: int = 9
    batch_size: int = 32
    steps: int = 150
    lr: float = 0.1
    last: int = 20
    n_valid: int = 2000
    target: float = 2.0

    @staticmethod
    def depth(blocks: int) -> int:
        """Layers with weights: the stem, two per block in three stages, the head."""
        return 6 * blocks + 2

    def networks(self, seed: int = 0) -> dict[str, Sequential]:
        shallow, deep = self.shallow_blocks, self.deep_blocks
        return {
            f"plain, {self.depth(shallow)} layers": resnet(
                self.widths, shallow, stem_stride=2, residual=False, rng=seed
            ),
            f"plain, {self.depth(deep)} layers": resnet(
                self.widths, deep, stem_stride=2, residual=False, rng=seed
            ),
            f"residual, {self.depth(deep)} layers": resnet(
                self.widths, deep, stem_stride=2, rng=seed
            ),
        }

    def train(self, model: Module, data: MNIST, seed: int = 0) -> tuple[np.ndarray, float]:
        """The loss of every step, and the validation accuracy on ``n_valid`` images."""
        n = self.batch_size * self.steps
        train_dl = DataLoader(
            Dataset(data.x_train[:n], data.y_train[:n]), self.batch_size, shuffle=True, rng=seed
        )
        valid = Dataset(data.x_valid[: self.n_valid], data.y_valid[: self.n_valid])
        opt = SGD(model.parameters(), self.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
        recorder = StepLosses()
        history = fit(
            model,
            CrossEntropy(),
            opt,
            train_dl,
            DataLoader(valid, 1000),
            1,
            schedule=one_cycle(self.lr, self.steps),
            callbacks=[recorder],
            progress=False,
        )
        return np.array(recorder.losses), history.valid_accuracy[-1]

    def final_loss(self, losses: np.ndarray) -> float:
        return float(losses[-self.last :].mean())

    def run(self, data: MNIST, seed: int = 0) -> dict[str, tuple[np.ndarray, float]]:
        return {name: self.train(model, data, seed) for name, model in self.networks(seed).items()}

    def ratio(self, results: dict[str, tuple[np.ndarray, float]]) -> float:
        """The deep plain network's final loss over the larger of the two others'."""
        shallow, plain, residual = (self.final_loss(losses) for losses, _ in results.values())
        return plain / max(shallow, residual)
