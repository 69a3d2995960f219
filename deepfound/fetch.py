"""Fetching the MNIST files: from a public mirror, checked by sha256, never over a file not ours.

Taught with :mod:`deepfound.data`, from which :func:`fetch_mnist` is importable too.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

import platformdirs

from deepfound.download import clean_stale, download, new_temporary
from deepfound.idx import _cannot_read

#: The canonical MNIST files and their sha256.
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",  # noqa: E501
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",  # noqa: E501
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",  # noqa: E501
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",  # noqa: E501
}
#: The size of each file in bytes; a download that grows past it is stopped there.
MNIST_SIZES = {
    "train-images-idx3-ubyte.gz": 9_912_422,
    "train-labels-idx1-ubyte.gz": 28_881,
    "t10k-images-idx3-ubyte.gz": 1_648_877,
    "t10k-labels-idx1-ubyte.gz": 4_542,
}

#: Public mirrors of the canonical files, tried in order.
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """Where the MNIST files live: ``path``, else ``$DEEPFOUND_DATA_DIR``, else the user cache."""
    if path is None:
        path = os.environ.get("DEEPFOUND_DATA_DIR") or (
            Path(platformdirs.user_cache_dir("deepfound")) / "mnist"
        )
    return Path(path).expanduser()


def mirrors(urls: list[str] | tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The mirrors to try: ``urls``, else ``$DEEPFOUND_MNIST_MIRRORS``, else :data:`MIRRORS`."""
    if urls is None:
        urls = os.environ.get("DEEPFOUND_MNIST_MIRRORS", "").split() or MIRRORS
    return tuple(url if url.endswith("/") else url + "/" for url in urls)


def fetch_mnist(
    path: str | os.PathLike | None = None,
    *,
    files: str | Iterable[str] = tuple(MNIST_FILES),
    urls: list[str] | tuple[str, ...] | None = None,
    progress: bool = True,
    timeout: float = 30.0,
    deadline: float | None = 600.0,
) -> dict[str, Path]:
    """Make sure each of ``files`` is in the data directory with the right sha256.

    A file already there with the right hash is used as it is. A missing file is
    downloaded from the first mirror that supplies a good copy, into a temporary
    file that replaces the target only once its size and hash are right, so a
    broken download leaves nothing behind (and one killed outright leaves a
    temporary that the next fetch removes). A download stops at once when it
    grows past its file's size, and is abandoned when it has not finished
    ``deadline`` seconds after it started; the next mirror is then tried.

    deepfound never overwrites a file it did not write. A file under a canonical
    name whose hash is wrong is replaced only if it is a truncated copy of the
    canonical file (checked against the download, with a warning); any other,
    such as Fashion-MNIST's files, which bear the same names, is left as it is
    and reported with :class:`FileExistsError`.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The data directory; see :func:`~deepfound.fetch.resolve_data_dir`.
    files : str or tuple of str
        Names of the files wanted (keys of :data:`~deepfound.fetch.MNIST_FILES`), or one name.
    urls : list of str, optional
        The mirrors; see :func:`~deepfound.fetch.mirrors`.
    progress : bool
        Show a progress bar for each download, on standard error.
    timeout : float
        Seconds that connecting to a mirror, or any one read, may wait.
    deadline : float or None
        Seconds one download (one file from one mirror) may take; ``None`` for no limit.

    Returns
    -------
    dict of str to pathlib.Path
        Each file name and its verified path.

    Raises
    ------
    FileExistsError
        If a file under a canonical name is not MNIST's and not a truncated copy of it.
    IsADirectoryError
        If a directory stands where a file should be.
    PermissionError
        If a file in the data directory cannot be read.
    OSError
        If the data directory cannot be created or written to.
    RuntimeError
        If a file is missing or truncated and no mirror supplied a good copy.

    Examples
    --------
    >>> paths = fetch_mnist(files="train-labels-idx1-ubyte.gz", progress=False)
    >>> [(name, path.stat().st_size) for name, path in paths.items()]
    [('train-labels-idx1-ubyte.gz', 28881)]
    """
    if isinstance(files, str):
        files = (files,)
    elif not isinstance(files, Iterable):
        raise TypeError(
            f"fetch_mnist: files must be a file name or a sequence of them, "
            f"got {type(files).__name__}"
        )
    files = tuple(files)
    for what, seconds in (("timeout", timeout), ("deadline", deadline)):
        if seconds is not None and not seconds > 0:
            raise ValueError(
                f"fetch_mnist: {what} must be a positive number of seconds, got {seconds}"
            )
    for name in files:
        if name not in MNIST_FILES:
            raise ValueError(
                f"fetch_mnist: unknown file {name!r}; expected one of {list(MNIST_FILES)}"
            )
    folder = resolve_data_dir(path)
    clean_stale(folder)
    found = {}
    for name in files:
        found[name] = _fetch_one(folder, name, mirrors(urls), progress, timeout, deadline)
    return found


def _state(target: Path) -> str:
    """``"valid"``, ``"missing"`` or ``"short"`` (perhaps truncated); an error for anything else."""
    name = target.name
    try:
        if not target.exists():
            if target.is_symlink():
                raise FileNotFoundError(
                    f"fetch_mnist: {target} is a broken symbolic link; remove it or fix it"
                )
            return "missing"
        if target.is_dir():
            raise IsADirectoryError(
                f"fetch_mnist: {target} is a directory, not the MNIST file {name}; move it "
                "away, or point DEEPFOUND_DATA_DIR at another folder"
            )
        if not target.is_file():
            raise FileExistsError(f"fetch_mnist: {target} is not a regular file; move it away")
        size = target.stat().st_size
        if size == MNIST_SIZES[name] and _sha256(target) == MNIST_FILES[name]:
            return "valid"
    except PermissionError as error:
        raise _cannot_read("fetch_mnist", target, error) from error
    if size < MNIST_SIZES[name]:
        return "short"
    raise _not_ours(target)


def _not_ours(target: Path) -> FileExistsError:
    return FileExistsError(
        f"fetch_mnist: {target} is not MNIST's {target.name} (its sha256 is wrong) nor a "
        "truncated copy of it, and deepfound never overwrites a file it did not write. If it "
        "belongs to another dataset (Fashion-MNIST uses the same file names), point "
        "DEEPFOUND_DATA_DIR or data_dir at another folder; if it is a damaged copy of MNIST, "
        "delete it and fetch again"
    )


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_one(
    folder: Path,
    name: str,
    urls: tuple[str, ...],
    progress: bool,
    timeout: float,
    deadline: float | None,
) -> Path:
    target = folder / name
    state = _state(target)
    if state == "valid":
        return target
    why = "is missing"
    if state == "short":
        why = f"is shorter than MNIST's ({target.stat().st_size} of {MNIST_SIZES[name]} bytes)"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        part, file = new_temporary(folder, name)
    except OSError as error:
        raise OSError(
            f"MNIST file {target} {why}, and the data directory {folder} cannot be written "
            f"({error}). Pass a writable data_dir or set DEEPFOUND_DATA_DIR."
        ) from error
    try:
        with file:
            _download_from_a_mirror(file, target, why, urls, progress, timeout, deadline)
        _install(part, target)
    finally:
        part.unlink(missing_ok=True)
    return target


def _download_from_a_mirror(
    file: BinaryIO,
    target: Path,
    why: str,
    urls: tuple[str, ...],
    progress: bool,
    timeout: float,
    deadline: float | None,
) -> None:
    name = target.name
    failures = []
    for url in urls:
        try:
            download(
                url + name,
                file,
                size=MNIST_SIZES[name],
                sha256=MNIST_FILES[name],
                timeout=timeout,
                deadline=deadline,
                progress=progress,
            )
            return
        except (OSError, ValueError, http.client.HTTPException) as error:
            failures.append(f"  {url}{name}: {type(error).__name__}: {error}")
    left = "" if why == "is missing" else "; it was left as it is"
    raise RuntimeError(
        f"MNIST file {target} {why} and no mirror supplied a good copy{left}:\n"
        + "\n".join(failures)
        + "\nCopy the canonical file there by hand, point DEEPFOUND_DATA_DIR at a folder that "
        "holds it, or list working mirrors in DEEPFOUND_MNIST_MIRRORS."
    )


def _install(part: Path, target: Path) -> None:
    """Rename the verified download ``part`` to ``target``, unless that would destroy a file."""
    # Looked at again: another fetch may have put the file in place during the download.
    state = _state(target)
    if state == "valid":
        return
    if state == "short":
        size = target.stat().st_size
        try:
            with target.open("rb") as theirs, part.open("rb") as canonical:
                if theirs.read() != canonical.read(size):
                    raise _not_ours(target)
        except PermissionError as error:
            raise _cannot_read("fetch_mnist", target, error) from error
    os.replace(part, target)
    if state == "short":
        warnings.warn(
            f"fetch_mnist: {target} was a truncated copy ({size} of {MNIST_SIZES[target.name]} "
            "bytes) of the canonical file; it was replaced by a verified download",
            stacklevel=4,
        )
