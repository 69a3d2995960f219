"""MNIST: fetched from a public mirror, checked by sha256, parsed from the IDX format by hand.

The data directory is ``data_dir`` when given, else ``$DEEPFOUND_DATA_DIR``, else
the user cache directory. The mirrors are ``mirrors`` when given, else the
whitespace-separated URLs in ``$DEEPFOUND_MNIST_MIRRORS``, else :data:`~deepfound.fetch.MIRRORS`.
Fetching is written in :mod:`deepfound.fetch`, reading the files in :mod:`deepfound.idx`;
:func:`fetch_mnist`, :data:`~deepfound.fetch.MNIST_FILES` and :func:`read_idx` are importable
from here.
"""

from __future__ import annotations

import os

import numpy as np

# Importable from here as before fetching had a module of its own.
from deepfound.fetch import MIRRORS as MIRRORS
from deepfound.fetch import MNIST_FILES as MNIST_FILES
from deepfound.fetch import fetch_mnist
from deepfound.fetch import mirrors as mirrors
from deepfound.fetch import resolve_data_dir as resolve_data_dir
from deepfound.idx import read_idx

__all__ = ["fetch_mnist", "load_mnist", "normalize", "read_idx"]

N_TRAIN = 50_000  # training images 0-49999; 50000-59999 are the validation set


def load_mnist(
    data_dir: str | os.PathLike | None = None, *, progress: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST's 60,000 training images split 50,000 / 10,000 into training and validation sets.

    Returns
    -------
    tuple of ndarray
        ``x_train`` (50000, 784) and ``x_valid`` (10000, 784), float32 pixels in
        [0, 1]; ``y_train`` (50000,) and ``y_valid`` (10000,), int64 digits.

    Examples
    --------
    >>> x_train, y_train, x_valid, y_valid = load_mnist()
    >>> x_train.shape, y_train.shape, x_valid.shape, y_valid.shape
    ((50000, 784), (50000,), (10000, 784), (10000,))
    """
    paths = fetch_mnist(
        data_dir,
        files=("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        progress=progress,
    )
    images = read_idx(paths["train-images-idx3-ubyte.gz"])
    labels = read_idx(paths["train-labels-idx1-ubyte.gz"])
    x = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    y = labels.astype(np.int64)
    return x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:]


def normalize(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(x - mean) / std``: zero mean and unit variance when ``mean`` and ``std`` are ``x``'s own.

    Examples
    --------
    >>> normalize(np.array([1.0, 3.0]), 2.0, 1.0)
    array([-1.,  1.])
    """
    if not std > 0:
        raise ValueError(f"normalize: std must be positive, got {std}")
    return (x - mean) / std
