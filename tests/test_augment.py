"""deepfound.augment: each image moved by an offset within the range, checked pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound.augment import MixedUp, Shifted, mixup, random_shift
from deepfound.loader import DataLoader, Dataset


def shifted(image: np.ndarray, dy: int, dx: int, fill: float) -> np.ndarray:
    """``image`` (c, h, w) moved down by ``dy`` and right by ``dx``, pixel by pixel."""
    c, h, w = image.shape
    out = np.full_like(image, fill)
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                out[:, y, x] = image[:, y - dy, x - dx]
    return out


@settings(max_examples=30, deadline=None)
@given(
    shape=st.tuples(*(st.integers(1, k) for k in (6, 2, 5, 5))),
    max_shift=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_random_shift_moves_each_image_within_the_range(shape, max_shift, seed) -> None:
    images = np.random.default_rng(seed).standard_normal(shape)
    moved = random_shift(images, max_shift, fill=-7.0, rng=seed)
    assert moved.shape == images.shape and moved.dtype == images.dtype
    offsets = range(-max_shift, max_shift + 1)
    for image, result in zip(images, moved, strict=True):
        assert any(
            np.array_equal(result, shifted(image, dy, dx, -7.0)) for dy in offsets for dx in offsets
        )
    np.testing.assert_array_equal(moved, random_shift(images, max_shift, fill=-7.0, rng=seed))


def test_random_shift_draws_every_offset_and_copies() -> None:
    image = np.random.default_rng(0).standard_normal((1, 1, 6, 6))
    moved = random_shift(np.repeat(image, 400, axis=0), 2, rng=1)
    assert len({m.tobytes() for m in moved}) == 25
    unmoved = random_shift(image, 0)
    assert np.array_equal(unmoved, image) and not np.shares_memory(unmoved, image)


@pytest.mark.parametrize(
    ("shape", "max_shift", "message"),
    [
        ((3, 4, 4), 1, r"images of shape \(n, c, h, w\) expected, got \(3, 4, 4\)"),
        ((1, 1, 4, 4), -1, "max_shift must be an integer >= 0, got -1"),
        ((1, 1, 4, 4), 1.5, "max_shift must be an integer >= 0, got 1.5"),
    ],
)
def test_random_shift_rejects_bad_arguments(shape, max_shift, message) -> None:
    with pytest.raises(ValueError, match="random_shift: " + message):
        random_shift(np.zeros(shape), max_shift)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 9),
    n_classes=st.integers(2, 10),
    alpha=st.floats(0.05, 5),
    seed=st.integers(0, 99),
)
def test_mixup_blends_each_row_with_one_partner_and_its_target_alike(n, n_classes, alpha, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 1, 3, 3)).astype(np.float32)
    y = rng.integers(0, n_classes, n)
    mixed, target = mixup(x, y, n_classes, alpha=alpha, rng=seed)
    assert mixed.dtype == np.float32 and mixed.shape == x.shape
    assert target.dtype == np.float32 and target.shape == (n, n_classes)
    np.testing.assert_allclose(target.sum(axis=1), 1, rtol=1e-6)
    for i in range(n):
        # Some row j and a weight lam >= 1/2 make both: x[i] and y[i] keep the larger share.
        found = []
        for j in range(n):
            d = x[i] - x[j]
            lam = 1.0 if not d.any() else float(((mixed[i] - x[j]) * d).sum() / (d * d).sum())
            if np.allclose(lam * x[i] + (1 - lam) * x[j], mixed[i], atol=1e-5):
                found.append((j, lam))
        assert found, f"row {i} is no blend of two rows"
        j, lam = found[0]
        assert lam >= 0.5 - 1e-5
        expected = lam * np.eye(n_classes)[y[i]] + (1 - lam) * np.eye(n_classes)[y[j]]
        np.testing.assert_allclose(target[i], expected, atol=1e-5)


def test_mixup_draws_its_blend_afresh_and_reproducibly():
    x, y = np.eye(4, dtype=np.float32), np.arange(4)
    first, second = mixup(x, y, 4, rng=0), mixup(x, y, 4, rng=0)
    np.testing.assert_array_equal(first[0], second[0])
    ds = MixedUp(Dataset(x, y), 4, alpha=1.0, rng=0)
    a, b = ds[np.arange(4)], ds[np.arange(4)]
    assert not np.array_equal(a[1], b[1])


def test_mixed_up_wraps_a_shifted_dataset_and_batches_as_a_loader_expects():
    x = np.random.default_rng(0).normal(size=(10, 1, 4, 4)).astype(np.float32)
    ds = MixedUp(Shifted(x, np.arange(10) % 3, 1, rng=0), 3, rng=0)
    batches = list(DataLoader(ds, 4, shuffle=True, rng=0))
    assert [len(t) for _, t in batches] == [4, 4, 2] and len(ds) == 10
    assert all(t.shape[1] == 3 for _, t in batches)


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((np.zeros((3, 2)), np.arange(2), 3), {}, "a row for each label"),
        ((np.zeros((2, 2)), np.arange(2), 3), {"alpha": 0}, "alpha must be a positive number"),
        ((np.zeros((2, 2)), np.arange(2), 3), {"alpha": np.nan}, "alpha must be"),
        ((np.zeros((2, 2)), np.array([0, 3]), 3), {}, r"labels in \[0, 3\)"),
        ((np.zeros((2, 2)), np.array([0.0, 1.0]), 3), {}, "integer labels"),
    ],
)
def test_mixup_bad_arguments_are_errors_naming_them(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        mixup(*args, **kwargs)
