"""deepfound.data: IDX parsing, the MNIST split, and fetching through real local HTTP mirrors."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pooch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepfound.data import (
    MNIST_FILES,
    fetch_mnist,
    load_mnist,
    mirrors,
    normalize,
    random_shift,
    read_idx,
    resolve_data_dir,
)

LABELS = "train-labels-idx1-ubyte.gz"  # the smallest training file: quick to serve
TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format, independently of the parser under test."""
    header = bytes([0, 0, TYPE_CODES[array.dtype.type], array.ndim])
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def is_valid(path: Path) -> bool:
    return path.is_file() and pooch.file_hash(str(path)) == MNIST_FILES[path.name]


# --- read_idx -------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from(list(TYPE_CODES)),
        shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6),
    ),
    st.booleans(),
)
def test_read_idx_round_trip(tmp_path_factory, array, zipped):
    data = idx_bytes(array)
    path = tmp_path_factory.mktemp("idx") / "a.idx"
    path.write_bytes(gzip.compress(data) if zipped else data)
    result = read_idx(path)
    assert result.dtype == array.dtype and result.shape == array.shape
    np.testing.assert_array_equal(result, array)


def test_read_idx_on_mnist_headers(canonical_files):
    images = read_idx(canonical_files["t10k-images-idx3-ubyte.gz"])
    labels = read_idx(canonical_files["t10k-labels-idx1-ubyte.gz"])
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and set(np.unique(labels)) == set(range(10))


def test_read_idx_rejects_wrong_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x00\x01\x08\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match=r"bad\.idx: not an IDX file \(magic number 00010801"):
        read_idx(path)


def test_read_idx_rejects_unknown_type_code(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


def test_read_idx_rejects_truncated_data(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))[:-1])
    with pytest.raises(
        ValueError, match=r"short\.idx: IDX file of shape \(3, 4\) should be 24 bytes"
    ):
        read_idx(path)


def test_read_idx_rejects_truncated_header(tmp_path):
    path = tmp_path / "short.idx"
    path.write_bytes(b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"))
    with pytest.raises(ValueError, match="truncated IDX header"):
        read_idx(path)


def test_read_idx_rejects_truncated_gzip(tmp_path, canonical_files):
    path = tmp_path / LABELS
    path.write_bytes(canonical_files[LABELS].read_bytes()[:5000])
    with pytest.raises(ValueError, match=f"{LABELS}: broken gzip data"):
        read_idx(path)


# --- load_mnist and normalize -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(progress=False)


def test_load_mnist_shapes_types_and_range(mnist):
    x_train, y_train, x_valid, y_valid = mnist
    assert x_train.shape == (50000, 784) and x_valid.shape == (10000, 784)
    assert y_train.shape == (50000,) and y_valid.shape == (10000,)
    assert x_train.dtype == x_valid.dtype == np.float32
    assert y_train.dtype == y_valid.dtype == np.int64
    assert x_train.min() == 0 and x_train.max() == 1
    assert set(np.unique(y_valid)) == set(range(10))


def test_validation_set_is_training_images_50000_to_59999(mnist, canonical_files):
    images = read_idx(canonical_files["train-images-idx3-ubyte.gz"])
    labels = read_idx(canonical_files["train-labels-idx1-ubyte.gz"])
    x_train, y_train, x_valid, y_valid = mnist
    np.testing.assert_array_equal(x_valid * 255, images[50000:].reshape(10000, 784))
    np.testing.assert_array_equal(x_train[:3] * 255, images[:3].reshape(3, 784))
    np.testing.assert_array_equal(y_valid, labels[50000:])
    np.testing.assert_array_equal(y_train, labels[:50000])


def test_normalize_with_training_statistics(mnist):
    x_train, _, x_valid, _ = mnist
    mean, std = float(x_train.mean()), float(x_train.std())
    train = normalize(x_train, mean, std)
    assert abs(train.mean()) < 1e-4 and abs(train.std() - 1) < 1e-4
    assert abs(normalize(x_valid, mean, std).mean()) < 0.05


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan")])
def test_normalize_rejects_non_positive_std(std):
    with pytest.raises(ValueError, match="std must be positive"):
        normalize(np.ones(3), 0.0, std)


# --- where the data and the mirrors come from ---------------------------------------------------


def test_data_dir_argument_then_environment_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFOUND_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DEEPFOUND_DATA_DIR")
    assert resolve_data_dir() == Path(pooch.os_cache("deepfound")) / "mnist"


def test_mirrors_argument_then_environment_then_defaults(monkeypatch):
    monkeypatch.setenv("DEEPFOUND_MNIST_MIRRORS", "http://a.example/x http://b.example/y/")
    assert mirrors(["http://c.example"]) == ("http://c.example/",)
    assert mirrors() == ("http://a.example/x/", "http://b.example/y/")
    monkeypatch.delenv("DEEPFOUND_MNIST_MIRRORS")
    assert len(mirrors()) >= 2


# --- fetching through local HTTP mirrors ---------------------------------------------------------


def test_fetch_downloads_verifies_and_caches(tmp_path, mirror, refused_url):
    cache = tmp_path / "cache"
    paths = fetch_mnist(cache, urls=[mirror], progress=False)
    assert sorted(paths) == sorted(MNIST_FILES)
    assert all(is_valid(path) and path.parent == cache for path in paths.values())
    # Cached: a second fetch needs no network at all.
    assert fetch_mnist(cache, urls=[refused_url], progress=False) == paths


def test_fetch_reads_mirrors_from_the_environment(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("DEEPFOUND_MNIST_MIRRORS", mirror)
    paths = fetch_mnist(tmp_path / "cache", files=(LABELS,), progress=False)
    assert is_valid(paths[LABELS])


def test_missing_file_without_network_names_file_and_remedy(tmp_path, refused_url):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError) as error:
        fetch_mnist(cache, files=(LABELS,), urls=[refused_url], progress=False)
    message = str(error.value)
    assert f"{cache / LABELS} is missing" in message
    assert refused_url + LABELS in message and "DEEPFOUND_DATA_DIR" in message
    assert not (cache / LABELS).exists()


def test_hung_mirror_times_out_then_next_mirror_is_used(tmp_path, silent_url, mirror):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="Timeout"):
        fetch_mnist(cache, files=(LABELS,), urls=[silent_url], progress=False, timeout=0.5)
    assert list(cache.iterdir()) == []
    paths = fetch_mnist(cache, files=(LABELS,), urls=[silent_url, mirror], timeout=0.5)
    assert is_valid(paths[LABELS])


@pytest.mark.parametrize("fault", ["truncated", "bit flipped"])
def test_corrupt_download_leaves_nothing_behind(tmp_path, canonical_files, serve, fault):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    data = bytearray(canonical_files[LABELS].read_bytes())
    if fault == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    (bad / LABELS).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="ValueError: .*hash"):
        fetch_mnist(cache, files=(LABELS,), urls=[serve(bad)], progress=False)
    assert list(cache.iterdir()) == []  # no file and no temporary file


def test_corrupt_mirror_falls_back_to_the_next(tmp_path, canonical_files, serve, mirror):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    (bad / LABELS).write_bytes(canonical_files[LABELS].read_bytes()[:100])
    paths = fetch_mnist(tmp_path / "cache", files=(LABELS,), urls=[serve(bad), mirror])
    assert is_valid(paths[LABELS])


def test_corrupt_cached_file_is_downloaded_again(tmp_path, canonical_files, mirror):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / LABELS).write_bytes(canonical_files[LABELS].read_bytes()[:-10])
    paths = fetch_mnist(cache, files=(LABELS,), urls=[mirror], progress=False)
    assert is_valid(paths[LABELS])


def test_corrupt_cached_file_without_network_is_reported(tmp_path, canonical_files, refused_url):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(canonical_files[LABELS], cache / LABELS)
    with (cache / LABELS).open("r+b") as file:
        file.seek(100)
        file.write(b"\0" * 8)
    with pytest.raises(RuntimeError, match=r"is corrupt \(its sha256 is wrong\)"):
        fetch_mnist(cache, files=(LABELS,), urls=[refused_url], progress=False)


def test_unwritable_data_dir_names_the_directory(tmp_path, mirror):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match=r"data directory .*a-file/mnist cannot be written"):
        fetch_mnist(blocker / "mnist", files=(LABELS,), urls=[mirror], progress=False)


def test_unknown_file_name_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown file 'mnist.npz'"):
        fetch_mnist(tmp_path, files=("mnist.npz",))


# --- random_shift ---------------------------------------------------------------------------


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
