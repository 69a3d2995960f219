"""deepfound.augment: each image moved by an offset within the range, checked pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound.augment import random_shift


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
