"""MNIST ready for training, and what every recipe shares: the loaders and ``run``.

See :mod:`deepfound.recipes`, which holds the recipes and imports all of this.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from deepfound.data import load_mnist, normalize
from deepfound.learner import History
from deepfound.loader import DataLoader, Dataset
from deepfound.nn import Module


class MNIST(NamedTuple):
    """MNIST as :func:`~deepfound.data.load_mnist` gives it, normalized; and the statistics used."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_valid: np.ndarray
    y_valid: np.ndarray
    mean: float
    std: float

    @classmethod
    def load(cls, images: bool = False, data_dir=None) -> MNIST:
        """MNIST scaled by the training set's mean and standard deviation, as rows or images.

        With ``images=True`` every row of 784 pixels becomes an image (1, 28, 28).
        """
        x_train, y_train, x_valid, y_valid = load_mnist(data_dir)
        mean, std = float(x_train.mean()), float(x_train.std())
        x_train, x_valid = normalize(x_train, mean, std), normalize(x_valid, mean, std)
        if images:
            x_train, x_valid = x_train.reshape(-1, 1, 28, 28), x_valid.reshape(-1, 1, 28, 28)
        return cls(x_train, y_train, x_valid, y_valid, mean, std)


class Recipe:
    """What the recipes share: ``run(data, seed)`` builds the network, trains it, returns both."""

    def run(self, data: MNIST, seed: int = 0) -> tuple[Module, History]:
        model = self.model(seed)
        return model, self.train(model, data, seed)


def loaders(data: MNIST, batch_size: int, seed: int, train_set=None):
    """Training batches shuffled by ``seed``, and the validation set in batches of 1000."""
    train_set = Dataset(data.x_train, data.y_train) if train_set is None else train_set
    train_dl = DataLoader(train_set, batch_size, shuffle=True, rng=seed)
    return train_dl, DataLoader(Dataset(data.x_valid, data.y_valid), 1000)
