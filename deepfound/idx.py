"""The IDX format of the MNIST files, parsed by hand: a header of sizes, then the data.

:func:`read_idx` is also importable from :mod:`deepfound.data`, beside the MNIST files it reads.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

# IDX type codes (third byte of the magic number) and the big-endian dtype they name.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzipped or raw) into an array of the type and shape its header gives.

    The header is two zero bytes, a type code, the number of dimensions ``d``,
    then ``d`` big-endian 32-bit sizes; the data follow in big-endian order. The
    header is read first, and no more than the size it declares (plus one byte,
    to notice a longer file) is ever read or decompressed.

    Raises
    ------
    ValueError
        If the file is not IDX, is shorter or longer than its header says, declares more
        dimensions than numpy allows, or its gzip data are broken; the message names the file.
    PermissionError
        If the file cannot be read.

    Examples
    --------
    >>> import tempfile
    >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "tiny.idx"
    ...     _ = path.write_bytes(header + bytes(range(6)))
    ...     read_idx(path)
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    path = Path(path)
    try:
        with path.open("rb") as file:
            zipped = file.read(2) == b"\x1f\x8b"
            file.seek(0)
            if not zipped:
                return _parse_idx(path, file)
            with gzip.GzipFile(fileobj=file) as stream:
                return _parse_idx(path, stream)
    except PermissionError as error:
        raise _cannot_read("read_idx", path, error) from error
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        raise ValueError(
            f"{path}: broken gzip data ({error}); delete the file and fetch it again"
        ) from error


def _parse_idx(path: Path, stream: BinaryIO) -> np.ndarray:
    magic = _read_up_to(stream, 4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: not an IDX file (magic number {magic.hex() or 'missing'}, "
            "expected 0000 then a type code and a dimension count)"
        )
    ndim = magic[3]
    sizes = _read_up_to(stream, 4 * ndim)
    header_size = 4 + len(sizes)
    if len(sizes) < 4 * ndim:
        raise ValueError(
            f"{path}: truncated IDX header ({header_size} bytes for {ndim} dimensions)"
        )
    shape = tuple(int.from_bytes(sizes[4 * i : 4 * i + 4], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[magic[2]])
    expected = header_size + math.prod(shape) * dtype.itemsize  # Python ints: no overflow
    data = _read_up_to(stream, expected - header_size + 1)
    total = header_size + len(data)
    if total != expected:
        actual = f"it is {total}" if total < expected else "it is longer"
        raise ValueError(
            f"{path}: IDX file of shape {shape} should be {expected} bytes, {actual}; "
            "delete the file and fetch it again"
        )
    return _to_array(path, data, dtype, shape)


def _to_array(path: Path, data: bytes, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """The array of ``shape`` in ``data``, whose size is known to match, in native byte order."""
    try:
        array = np.frombuffer(data, dtype=dtype).reshape(shape)
    except ValueError as error:  # the sizes add up, so only the dimensions can be too many
        raise ValueError(
            f"{path}: IDX header declares {len(shape)} dimensions, more than a numpy array can "
            f"have ({error}); delete the file and fetch it again"
        ) from error
    return array.astype(dtype.newbyteorder("="))


def _read_up_to(stream: BinaryIO, n: int) -> bytes:
    """At most ``n`` bytes of ``stream``, fewer at its end; read in pieces, as ``n`` may be huge."""
    pieces = []
    while n > 0 and (piece := stream.read(min(n, 1 << 24))):
        pieces.append(piece)
        n -= len(piece)
    return b"".join(pieces)


def _cannot_read(name: str, path: Path, error: OSError) -> PermissionError:
    return PermissionError(
        f"{name}: cannot read {path} ({error.strerror}); ask its owner to make it readable "
        f"(chmod a+r {path}), or point DEEPFOUND_DATA_DIR at a folder of your own"
    )
