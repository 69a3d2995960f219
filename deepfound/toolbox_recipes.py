"""Chapter 11's training runs: chapter 10's ResNet recipe with the toolbox's tricks as switches.

Importable from :mod:`deepfound.recipes`, with every other recipe. :class:`Toolbox` is
chapter 10's :class:`~deepfound.resnet_recipes.ResNet` recipe with a switch for each
trick; the chapter's ablation trains it briefly with each switch turned, and
``deepfound train`` trains the best combination to the end.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepfound._checks import check_int
from deepfound.augment import MixedUp, Shifted
from deepfound.init import lsuv
from deepfound.learner import Callback, History, fit
from deepfound.loader import DataLoader, Dataset
from deepfound.losses import CrossEntropy
from deepfound.mnist import MNIST
from deepfound.nn import Module, Sequential
from deepfound.optim import SGD
from deepfound.resnet import resnet
from deepfound.resnet_recipes import ResNet
from deepfound.schedules import one_cycle


def decay_groups(model: Module, weight_decay: float) -> list[dict]:
    """Two parameter groups: weight decay on the weights of convolutions and linear layers,
    none on biases and batch-normalization scales and shifts (one-dimensional parameters).

    Examples
    --------
    >>> groups = decay_groups(resnet((4, 8), rng=0), 5e-4)
    >>> [(len(g["params"]), g["weight_decay"]) for g in groups]
    [(7, 0.0005), (13, 0.0)]
    """
    params = list(model.parameters())
    return [
        {"params": [p for p in params if p.data.ndim > 1], "weight_decay": weight_decay},
        {"params": [p for p in params if p.data.ndim <= 1], "weight_decay": 0.0},
    ]


@dataclass(frozen=True)
class Toolbox(ResNet):
    """Chapter 10's ResNet recipe with the toolbox's tricks as switches.

    Every setting of :class:`~deepfound.resnet_recipes.ResNet` keeps its meaning and
    its default; in addition:

    - ``mixup``: the Beta distribution's parameter of :func:`~deepfound.augment.mixup`,
      0 for none;
    - ``pool_shortcut``: ResNet-D's shortcuts (:class:`~deepfound.resnet.ResBlock`);
    - ``lsuv``: :func:`~deepfound.init.lsuv` on a batch of training images before training;
    - ``decay_groups``: weight decay on the weights of convolutions and linear layers
      alone (:func:`~deepfound.recipes.decay_groups`);
    - ``train_images``, ``n_valid``: train on that many images (a random subset drawn
      with the seed) and validate on the first ``n_valid`` validation images; all when
      ``None``.
    """

    mixup: float = 0.0
    pool_shortcut: bool = False
    lsuv: bool = False
    decay_groups: bool = False
    train_images: int | None = None
    n_valid: int | None = None

    def check(self) -> None:
        """A ``ValueError`` naming the first setting that cannot work."""
        check_int("Toolbox", "epochs", self.epochs, 1)
        if self.train_images is not None:
            check_int("Toolbox", "train_images", self.train_images, 1)
        if self.n_valid is not None:
            check_int("Toolbox", "n_valid", self.n_valid, 1)
        if not (isinstance(self.mixup, (int, float)) and self.mixup >= 0):
            raise ValueError(f"Toolbox: mixup must be a number >= 0, got {self.mixup!r}")

    def model(self, seed: int = 0) -> Sequential:
        return resnet(
            self.widths,
            stem_stride=self.stem_stride,
            rng=seed,
            zero_init=self.zero_init,
            pool_shortcut=self.pool_shortcut,
        )

    def train(
        self,
        model: Module,
        data: MNIST,
        seed: int = 0,
        *,
        progress: bool = False,
        callbacks: list[Callback] = (),
    ) -> History:
        shifts, order, mixing, subset = np.random.default_rng(seed).spawn(4)
        x, y = data.x_train, data.y_train
        if self.train_images is not None:
            chosen = subset.permutation(len(x))[: self.train_images]
            x, y = x[chosen], y[chosen]
        train_set = Shifted(x, y, self.max_shift, fill=-data.mean / data.std, rng=shifts)
        if self.mixup:
            train_set = MixedUp(train_set, 10, alpha=self.mixup, rng=mixing)
        train_dl = DataLoader(train_set, self.batch_size, shuffle=True, rng=order)
        n_valid = self.n_valid or len(data.x_valid)
        valid_dl = DataLoader(Dataset(data.x_valid[:n_valid], data.y_valid[:n_valid]), 1000)
        if self.lsuv:
            lsuv(model, x[: self.batch_size])
        params = decay_groups(model, self.weight_decay) if self.decay_groups else model.parameters()
        opt = SGD(
            params, self.lr, momentum=self.momentum, nesterov=True, weight_decay=self.weight_decay
        )
        schedule = one_cycle(self.lr, self.epochs * len(train_dl), pct_start=self.pct_start)
        return fit(
            model,
            CrossEntropy(label_smoothing=self.label_smoothing),
            opt,
            train_dl,
            valid_dl,
            self.epochs,
            schedule=schedule,
            progress=progress,
            callbacks=callbacks,
        )


#: The recipe ``deepfound train`` trains to the end: eight epochs, no weight decay on the
#: batch normalizations' scales and shifts and on the biases.
BEST = Toolbox(epochs=8, decay_groups=True)
