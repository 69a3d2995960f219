"""deepfound.idx: read_idx against an independent IDX writer, MNIST headers, hostile files."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepfound.data import read_idx

LABELS = "train-labels-idx1-ubyte.gz"
TYPE_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` in the IDX format, independently of the parser under test."""
    header = bytes([0, 0, TYPE_CODES[array.dtype.type], array.ndim])
    header += b"".join(size.to_bytes(4, "big") for size in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


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


# --- hostile files (issue 14, item 6) ---------------------------------------------------------


def test_read_idx_names_the_file_when_the_gzip_payload_is_corrupt(tmp_path):
    data = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8))))
    data[10] = 0xFF  # the first deflate block header: block type 3 does not exist
    path = tmp_path / "corrupt.idx.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"corrupt\.idx\.gz: broken gzip data \(.*invalid"):
        read_idx(path)


def test_read_idx_computes_sizes_in_python_integers(tmp_path):
    path = tmp_path / "huge.idx"
    path.write_bytes(b"\x00\x00\x0c\x03" + (2**32 - 1).to_bytes(4, "big") * 3)
    declared = 16 + 4 * (2**32 - 1) ** 3
    with pytest.raises(ValueError, match=rf"should be {declared} bytes, it is 16;"):
        read_idx(path)


@pytest.mark.parametrize("zipped", [True, False], ids=["gzip", "raw"])
def test_read_idx_stops_at_the_size_its_header_declares(tmp_path, zipped):
    # A header promising 10 bytes, then 64 MB more: a small gzip bomb (64 kB on disk).
    head = idx_bytes(np.arange(10, dtype=np.uint8))
    megabyte = gzip.compress(bytes(1 << 20)) if zipped else bytes(1 << 20)
    path = tmp_path / "bomb.idx"
    path.write_bytes((gzip.compress(head) if zipped else head) + megabyte * 64)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.idx: IDX file of shape \(10,\) should be 18"):
            read_idx(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


def test_read_idx_names_the_file_when_the_header_declares_too_many_dimensions(tmp_path):
    path = tmp_path / "deep.idx"
    path.write_bytes(b"\x00\x00\x08\x41" + (1).to_bytes(4, "big") * 65 + b"\x07")
    with pytest.raises(ValueError, match=r"deep\.idx: IDX header declares 65 dimensions"):
        read_idx(path)
