"""deepfound.loader: every index once per epoch, reproducible shuffles, a last partial batch."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepfound.loader import DataLoader, Dataset, Sampler
from deepfound.testing import test_eq


def dataset(n: int) -> Dataset:
    return Dataset(np.arange(2 * n, dtype=np.float32).reshape(n, 2), np.arange(n))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 200), batch_size=st.integers(1, 64), shuffle=st.booleans())
def test_every_index_once_per_epoch_in_full_batches_then_the_rest(n, batch_size, shuffle):
    loader = DataLoader(dataset(n), batch_size, shuffle=shuffle, rng=0)
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader) == -(-n // batch_size)
        sizes = [len(y) for _, y in batches]
        assert all(size == batch_size for size in sizes[:-1])
        assert sizes[-1:] == ([n % batch_size or batch_size] if n else [])
        seen = np.concatenate([y for _, y in batches]) if batches else np.array([], int)
        test_eq(np.sort(seen), np.arange(n))
        for x, y in batches:
            test_eq(x, np.stack([2 * y, 2 * y + 1], axis=1).astype(np.float32))


def test_sequential_order_without_shuffle():
    test_eq(np.concatenate([y for _, y in DataLoader(dataset(10), 3)]), np.arange(10))


def test_shuffles_reproduce_for_a_seed_and_change_every_epoch():
    def epochs(rng):
        loader = DataLoader(dataset(50), 8, shuffle=True, rng=rng)
        return [np.concatenate([y for _, y in loader]) for _ in range(3)]

    first, again = epochs(42), epochs(np.random.default_rng(42))
    for a, b in zip(first, again, strict=True):
        test_eq(a, b)
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], np.arange(50))
    assert not np.array_equal(first[0], epochs(43)[0])


def test_dataset_smaller_than_a_batch_gives_one_partial_batch():
    batches = list(DataLoader(dataset(3), batch_size=64, shuffle=True, rng=0))
    assert len(batches) == 1
    x, y = batches[0]
    assert x.shape == (3, 2)
    test_eq(np.sort(y), np.arange(3))


def test_batches_are_contiguous_copies():
    ds = dataset(10)
    x, _ = next(iter(DataLoader(ds, 4, shuffle=True, rng=0)))
    assert x.flags.c_contiguous
    assert not np.shares_memory(x, ds.x)


def test_sampler_yields_index_batches():
    test_eq([b.tolist() for b in Sampler(7, 3)], [[0, 1, 2], [3, 4, 5], [6]])
    assert len(Sampler(0, 3)) == 0


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match=r"differ in length: \(3, 2\) and \(4,\)"):
        Dataset(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least 1, got 0"):
        DataLoader(dataset(3), 0)
    with pytest.raises(TypeError, match="must be an integer, got 2.5"):
        Sampler(3, 2.5)
    with pytest.raises(ValueError, match="must not be negative, got -1"):
        Sampler(-1, 2)
