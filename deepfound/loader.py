"""Mini-batches: a dataset of (x, y) pairs, an order to visit it in, and a loader that batches it.

A :class:`Sampler` decides the order (sequential, or shuffled by an explicit random
generator) and cuts it into batches of indices; a :class:`DataLoader` turns each
batch of indices into an ``(x, y)`` pair of arrays. The last batch holds whatever
is left, so it may be smaller than the others.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class Dataset:
    """Inputs ``x`` and targets ``y`` of the same length, indexed together.

    ``dataset[i]`` is ``(x[i], y[i])``; ``i`` may be an integer, a slice or an
    array of indices, so a whole batch is one indexing operation.

    Examples
    --------
    >>> ds = Dataset(np.arange(10).reshape(5, 2), np.array([0, 1, 0, 1, 1]))
    >>> len(ds)
    5
    >>> ds[np.array([4, 0])]
    (array([[8, 9],
           [0, 1]]), array([1, 0]))
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(x) != len(y):
            raise ValueError(f"Dataset: x and y differ in length: {np.shape(x)} and {np.shape(y)}")
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i) -> tuple[np.ndarray, np.ndarray]:
        return self.x[i], self.y[i]

    def __repr__(self) -> str:
        return f"Dataset(x={np.shape(self.x)}, y={np.shape(self.y)})"


def _check_batch_size(name: str, batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{name}: batch_size must be an integer, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{name}: batch_size must be at least 1, got {batch_size}")


class Sampler:
    """Batches of indices into a dataset of ``n`` items, each index once per pass.

    Parameters
    ----------
    n : int
        Number of items.
    batch_size : int
        Indices per batch; the last batch has ``n % batch_size`` of them if that is not zero.
    shuffle : bool
        Visit the items in a new random order on every pass (every ``iter``).
    rng : int or numpy.random.Generator, optional
        Source of the random orders: the same seed gives the same sequence of epochs.

    Examples
    --------
    >>> list(Sampler(5, 2))
    [array([0, 1]), array([2, 3]), array([4])]
    >>> sampler = Sampler(5, 2, shuffle=True, rng=0)
    >>> sorted(np.concatenate(list(sampler)).tolist())
    [0, 1, 2, 3, 4]
    """

    def __init__(self, n: int, batch_size: int, *, shuffle: bool = False, rng=None) -> None:
        _check_batch_size("Sampler", batch_size)
        if n < 0:
            raise ValueError(f"Sampler: the number of items must not be negative, got {n}")
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.rng = np.random.default_rng(rng)

    def __len__(self) -> int:
        return -(-self.n // self.batch_size)

    def __iter__(self) -> Iterator[np.ndarray]:
        order = self.rng.permutation(self.n) if self.shuffle else np.arange(self.n)
        for start in range(0, self.n, self.batch_size):
            yield order[start : start + self.batch_size]


class DataLoader:
    """``(x, y)`` batches of a :class:`Dataset`, in the order a :class:`Sampler` gives.

    Each batch is gathered with one indexing operation, which copies the rows into
    a new contiguous array, ready for a fast matrix multiply.

    Parameters
    ----------
    dataset : Dataset
        Anything with ``len`` whose ``dataset[indices]`` returns an ``(x, y)`` batch.
    batch_size : int
        Rows per batch; the last batch is smaller when ``batch_size`` does not divide the length.
    shuffle : bool
        A new random order every epoch.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the shuffling.

    Examples
    --------
    >>> ds = Dataset(np.arange(10).reshape(5, 2), np.array([0, 1, 0, 1, 1]))
    >>> dl = DataLoader(ds, batch_size=2)
    >>> len(dl)
    3
    >>> [y.tolist() for x, y in dl]
    [[0, 1], [0, 1], [1]]
    """

    def __init__(
        self, dataset: Dataset, batch_size: int, *, shuffle: bool = False, rng=None
    ) -> None:
        self.dataset = dataset
        self.sampler = Sampler(len(dataset), batch_size, shuffle=shuffle, rng=rng)

    @property
    def batch_size(self) -> int:
        """Rows per batch (all but possibly the last)."""
        return self.sampler.batch_size

    def __len__(self) -> int:
        return len(self.sampler)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for indices in self.sampler:
            yield self.dataset[indices]

    def __repr__(self) -> str:
        return (
            f"DataLoader({self.dataset!r}, batch_size={self.batch_size}, "
            f"shuffle={self.sampler.shuffle})"
        )
