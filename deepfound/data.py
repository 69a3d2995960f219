"""MNIST: fetched from a public mirror, checked by sha256, parsed from the IDX format by hand.

The data directory is ``data_dir`` when given, else ``$DEEPFOUND_DATA_DIR``, else
the user cache directory. The mirrors are ``mirrors`` when given, else the
whitespace-separated URLs in ``$DEEPFOUND_MNIST_MIRRORS``, else :data:`MIRRORS`.
"""

from __future__ import annotations

import gzip
import os
import warnings
from pathlib import Path

import numpy as np
import requests

with warnings.catch_warnings():
    # pooch imports tqdm.auto, which warns inside Jupyter when ipywidgets is missing and then
    # falls back to the plain text progress bar: exactly the bar wanted here.
    warnings.filterwarnings("ignore", message="IProgress not found")
    import pooch

#: The canonical MNIST files and their sha256.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
}

#: Public mirrors of the canonical files, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

N_TRAIN = 50_000  # training images 0-49999; 50000-59999 are the validation set

# IDX type codes (third byte of the magic number) and the big-endian dtype they name.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where the MNIST files live: ``path``, else ``$DEEPFOUND_DATA_DIR``, else the user cache."""
    if path is None:
        path = os.environ.get("DEEPFOUND_DATA_DIR") or pooch.os_cache("deepfound") / "mnist"
    return Path(path).expanduser()


def mirrors(urls: list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The mirrors to try: ``urls``, else ``$DEEPFOUND_MNIST_MIRRORS``, else :data:`MIRRORS`."""
    if urls is None:
        urls = os.environ.get("DEEPFOUND_MNIST_MIRRORS", "").split() or MIRRORS
    return tuple(url if url.endswith("/") else url + "/" for url in urls)


def fetch_mnist(
    path: str | os.PathLike | None = None,
    *,
    files: tuple[str, ...] = tuple(MNIST_FILES),
    urls: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Make sure each of ``files`` is in the data directory with the right sha256.

    A file already there with the right hash is used as it is. A missing file, or
    one whose hash is wrong (truncated, corrupted), is downloaded again from the
    first mirror that answers. Downloads go to a temporary file that replaces the
    target only once its hash is right, so a broken download leaves nothing behind.

    Returns
    -------
    dict of str to pathlib.Path
        Each file name and its verified path.

    Raises
    ------
    OSError
        If the data directory cannot be created or written to.
    RuntimeError
        If a file is missing or corrupt and no mirror supplied a good copy.
    """
    folder = resolve_data_dir(path)
    found = {}
    for name in files:
        if name not in MNIST_FILES:
            raise ValueError(
                f"fetch_mnist: unknown file {name!r}; expected one of {list(MNIST_FILES)}"
            )
        found[name] = _fetch_one(folder, name, mirrors(urls), progress, timeout)
    return found


def _fetch_one(folder: Path, name: str, urls: tuple[str, ...], progress: bool, timeout: float):
    target = folder / name
    known_hash = MNIST_FILES[name]
    if target.is_file() and pooch.file_hash(str(target)) == known_hash:
        return target
    why = "is corrupt (its sha256 is wrong)" if target.exists() else "is missing"
    try:
        pooch.utils.make_local_storage(folder)
    except OSError as error:
        raise OSError(
            f"MNIST file {target} {why}, and the data directory {folder} cannot be written "
            f"({error}). Pass a writable data_dir or set DEEPFOUND_DATA_DIR."
        ) from error
    failures = []
    for url in urls:
        downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)
        try:
            pooch.retrieve(url + name, known_hash, fname=name, path=folder, downloader=downloader)
            return target
        except (ValueError, requests.RequestException, OSError) as error:
            failures.append(f"  {url}{name}: {type(error).__name__}: {error}")
    raise RuntimeError(
        f"MNIST file {target} {why} and no mirror supplied a good copy:\n"
        + "\n".join(failures)
        + "\nCopy the canonical file there by hand, point DEEPFOUND_DATA_DIR at a folder that "
        "holds it, or list working mirrors in DEEPFOUND_MNIST_MIRRORS."
    )


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Parse an IDX file (gzipped or raw) into an array of the type and shape its header gives.

    The header is two zero bytes, a type code, the number of dimensions ``d``,
    then ``d`` big-endian 32-bit sizes; the data follow in big-endian order.

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
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError) as error:
            raise ValueError(
                f"{path}: broken gzip data ({error}); delete the file and fetch it again"
            ) from error
    if len(raw) < 4 or raw[:2] != b"\0\0" or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path}: not an IDX file (magic number {raw[:4].hex() or 'missing'}, "
            "expected 0000 then a type code and a dimension count)"
        )
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{path}: truncated IDX header ({len(raw)} bytes for {ndim} dimensions)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    expected = header_size + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise ValueError(
            f"{path}: IDX file of shape {shape} should be {expected} bytes, it is {len(raw)}; "
            "delete the file and fetch it again"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


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
