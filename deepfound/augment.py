"""Data augmentation: more training images, made from the ones there are.

A transformation that does not change what an image shows (a digit moved by a
pixel is the same digit) gives a new training example for free. Applied afresh
every time a batch is drawn, it shows the network a slightly different copy of
each image in every epoch, so that it cannot learn any one copy by heart.
"""

from __future__ import annotations

import numpy as np

from deepfound.loader import Dataset


def random_shift(images: np.ndarray, max_shift: int, *, fill: float = 0.0, rng=None) -> np.ndarray:
    """Each image of ``images`` (n, c, h, w) moved by its own random offset: data augmentation.

    The offsets ``(dy, dx)`` are drawn uniformly from ``-max_shift`` to ``max_shift``
    pixels on each axis, independently for every image; the pixels moved in from
    beyond the border are ``fill`` (the background, zero before normalization). A
    digit moved by a pixel or two is still the same digit: training on such copies
    teaches a network that the position does not matter, with no new data.

    Parameters
    ----------
    images : ndarray
        A batch of images (n, c, h, w).
    max_shift : int
        The largest offset, in pixels, on each axis; 0 returns a copy.
    fill : float
        The value of the pixels that come in from outside the image.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the offsets.

    Examples
    --------
    >>> image = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> moved = random_shift(np.repeat(image, 20, axis=0), 1, fill=-1.0, rng=0)
    >>> moved[0, 0]  # one pixel up and one to the right
    array([[-1.,  3.,  4.],
           [-1.,  6.,  7.],
           [-1., -1., -1.]])
    >>> len({m.tobytes() for m in moved})  # up to nine different offsets
    9
    """
    if np.ndim(images) != 4:
        raise ValueError(
            f"random_shift: images of shape (n, c, h, w) expected, got {np.shape(images)}"
        )
    if isinstance(max_shift, bool) or not isinstance(max_shift, (int, np.integer)) or max_shift < 0:
        raise ValueError(f"random_shift: max_shift must be an integer >= 0, got {max_shift!r}")
    n, c, h, w = images.shape
    s = max_shift
    padded = np.full((n, c, h + 2 * s, w + 2 * s), fill, images.dtype)
    padded[:, :, s : s + h, s : s + w] = images
    # Window (oy, ox) of the padded image is the image moved by (s - oy, s - ox). One copy per
    # offset, of all the images drawn for it, instead of one per image.
    oy, ox = np.random.default_rng(rng).integers(0, 2 * s + 1, (2, n))
    out = np.empty_like(images)
    for y in range(2 * s + 1):
        for x in range(2 * s + 1):
            chosen = np.flatnonzero((oy == y) & (ox == x))
            out[chosen] = padded[chosen, :, y : y + h, x : x + w]
    return out


class Shifted(Dataset):
    """A dataset whose images come out moved by fresh random offsets every time they are drawn.

    ``shifted[i]`` is ``(random_shift(x[i], max_shift, fill=fill, rng=rng), y[i])``: a
    :class:`~deepfound.loader.DataLoader` over it gives the network a new copy of
    each image in every epoch.

    Examples
    --------
    >>> images = np.arange(18.0).reshape(2, 1, 3, 3)
    >>> shifted = Shifted(images, np.array([0, 1]), 1, fill=-1.0, rng=0)
    >>> x, y = shifted[np.array([1])]
    >>> x[0, 0], y
    (array([[12., 13., 14.],
           [15., 16., 17.],
           [-1., -1., -1.]]), array([1]))
    """

    def __init__(self, x, y, max_shift: int, *, fill: float = 0.0, rng=None) -> None:
        super().__init__(x, y)
        self.max_shift, self.fill = max_shift, fill
        self.rng = np.random.default_rng(rng)

    def __getitem__(self, i) -> tuple[np.ndarray, np.ndarray]:
        x, y = super().__getitem__(i)
        return random_shift(x, self.max_shift, fill=self.fill, rng=self.rng), y


def mixup(x: np.ndarray, y: np.ndarray, n_classes: int, *, alpha: float = 0.4, rng=None):
    """A batch blended with itself shuffled, and the blended targets: mixup (Zhang et al. 2018).

    Row ``i`` becomes ``lam_i * x[i] + (1 - lam_i) * x[j]`` for a row ``j = perm[i]`` of a
    random permutation of the batch, and its target the same blend of the two one-hot
    vectors, a distribution over the classes that
    :func:`~deepfound.losses.soft_cross_entropy` takes. Each ``lam_i`` is drawn from
    Beta(alpha, alpha), then replaced by ``max(lam_i, 1 - lam_i)``, so that a row stays
    mostly itself (as fastai does; the paper draws one ``lam`` per batch).

    Parameters
    ----------
    x : ndarray
        A batch of inputs, first axis the rows.
    y : ndarray of int
        Their class labels (n,), in ``[0, n_classes)``.
    n_classes : int
        The number of classes, the width of the targets.
    alpha : float
        The Beta distribution's parameter, positive: small values keep most ``lam``
        near 1, ``alpha=1`` draws them uniformly.
    rng : int or numpy.random.Generator, optional
        Seed or generator for the blend.

    Returns
    -------
    tuple of ndarray
        The blended inputs, in ``x``'s dtype, and targets (n, n_classes), float32.

    Examples
    --------
    Three images that are one-hot rows, so that each blended image is its own target:

    >>> mixed, target = mixup(np.eye(3), np.array([0, 1, 2]), 3, alpha=1.0, rng=2)
    >>> target.round(2)
    array([[0.53, 0.  , 0.47],
           [0.1 , 0.9 , 0.  ],
           [0.  , 0.23, 0.77]], dtype=float32)
    >>> bool(np.allclose(mixed, target))
    True
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or y.ndim != 1:
        raise ValueError(
            f"mixup: x with a row for each label of y (n,) expected, got {x.shape} and {y.shape}"
        )
    if not (isinstance(alpha, (int, float, np.number)) and np.isfinite(alpha) and alpha > 0):
        raise ValueError(f"mixup: alpha must be a positive number, got {alpha!r}")
    if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() >= n_classes)):
        raise ValueError(f"mixup: y must hold integer labels in [0, {n_classes}), got {y!r}")
    rng = np.random.default_rng(rng)
    lam = rng.beta(alpha, alpha, len(y))
    lam = np.maximum(lam, 1 - lam)
    perm = rng.permutation(len(y))
    one_hot = np.eye(n_classes, dtype=np.float32)[y]
    lam_x = lam.astype(x.dtype).reshape(-1, *[1] * (x.ndim - 1))
    lam_y = lam.astype(np.float32)[:, None]
    return (
        lam_x * x + (1 - lam_x) * x[perm],
        lam_y * one_hot + (1 - lam_y) * one_hot[perm],
    )


class MixedUp(Dataset):
    """A dataset whose batches come out blended by :func:`mixup`, afresh each time.

    ``mixed[indices]`` draws the batch ``dataset[indices]`` and returns
    ``mixup(x, y, n_classes, alpha=alpha, rng=rng)``: inputs blended in pairs and
    targets that are distributions over the classes. Any dataset can be wrapped, a
    :class:`Shifted` one too. Train with :class:`~deepfound.losses.CrossEntropy`,
    which takes those targets, and validate on the plain labels.

    Examples
    --------
    >>> from deepfound.loader import DataLoader
    >>> data = Dataset(np.eye(4, dtype=np.float32), np.array([0, 1, 2, 3]))
    >>> x, target = next(iter(DataLoader(MixedUp(data, 4, rng=0), batch_size=4)))
    >>> target.shape, target.sum(axis=1).round(6).tolist()
    ((4, 4), [1.0, 1.0, 1.0, 1.0])
    """

    def __init__(self, dataset: Dataset, n_classes: int, *, alpha: float = 0.4, rng=None) -> None:
        self.dataset, self.n_classes, self.alpha = dataset, n_classes, alpha
        self.rng = np.random.default_rng(rng)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i) -> tuple[np.ndarray, np.ndarray]:
        x, y = self.dataset[i]
        return mixup(x, y, self.n_classes, alpha=self.alpha, rng=self.rng)

    def __repr__(self) -> str:
        return f"MixedUp({self.dataset!r}, {self.n_classes}, alpha={self.alpha})"
