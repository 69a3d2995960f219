"""Downloads that cannot hang, fill the disk, or leave a file behind when they fail.

A download streams into a temporary file beside its target, named
``.deepfound-download-<host>-<pid>-<random>-<name>.part``. It stops as soon as it
holds more bytes than the file it should be, or when its deadline has passed, and
it is verified by sha256 before anyone renames it into place. A process killed
mid-download cannot delete its temporary file; :func:`clean_stale` removes such
leftovers on the next fetch, and nothing that does not match that pattern.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import secrets
import socket
import ssl
import sys
import time
import urllib.request
from pathlib import Path
from typing import BinaryIO

from tqdm import tqdm

_CHUNK = 1 << 16
#: A temporary file untouched for this long is stale whoever wrote it (seconds).
STALE_SECONDS = 30 * 60
_TEMPORARY = re.compile(r"\.deepfound-download-([0-9a-f]{8})-(\d+)-[0-9a-f]{8}-.+\.part\Z")


def _host() -> str:
    """This machine, in 8 hex digits: process ids only mean something on their own machine."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def new_temporary(folder: Path, name: str) -> tuple[Path, BinaryIO]:
    """Create a temporary file for ``name`` in ``folder``; return its path and the open file.

    The file is created with mode ``0o666`` less the umask, as any other new file
    (not the ``0o600`` of ``tempfile.mkstemp``), so that a data directory shared
    between users stays readable by all of them once the file is renamed into place.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path, file = new_temporary(Path(folder), "labels.gz")
    ...     file.close()
    ...     print(path.name[:20], path.name[-14:])
    .deepfound-download- labels.gz.part
    """
    path = (
        folder / f".deepfound-download-{_host()}-{os.getpid()}-{secrets.token_hex(4)}-{name}.part"
    )
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    return path, os.fdopen(os.open(path, flags, 0o666), "wb")


def _alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would send CTRL_C_EVENT there: rely on age alone
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to another user
        return True
    return True


def clean_stale(folder: Path, *, max_age: float = STALE_SECONDS) -> list[Path]:
    """Delete the temporary files of downloads that died; return their paths.

    Only names matching :func:`new_temporary`'s pattern are considered. One is
    stale if the process that wrote it, on this machine, is gone, or if it has not
    been written to for ``max_age`` seconds (the writer may be on another machine
    that shares the folder). Files that cannot be removed are left in place.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = Path(tmp)
    ...     path, file = new_temporary(folder, "labels.gz")
    ...     file.close()
    ...     _ = (folder / "notes.part").write_text("not deepfound's")
    ...     before = clean_stale(folder)  # written by this very process: not stale
    ...     after = clean_stale(folder, max_age=-1)
    ...     print(before == [], after == [path], sorted(p.name for p in folder.iterdir()))
    True True ['notes.part']
    """
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = _TEMPORARY.match(entry.name)
        if match is None:
            continue
        try:
            idle = time.time() - entry.stat(follow_symlinks=False).st_mtime
            if not entry.is_file(follow_symlinks=False):
                continue
            if idle > max_age or (match[1] == _host() and not _alive(int(match[2]))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:  # gone already, or not ours to remove: either way, leave it
            continue
    return removed


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Some Python builds (python.org's for macOS) cannot see the system's certificate
    # authorities; certifi's bundle, when installed, fills the gap.
    context = ssl.create_default_context()
    try:
        import certifi
    except ImportError:
        return context
    context.load_verify_locations(certifi.where())
    return context


def download(
    url: str,
    file: BinaryIO,
    *,
    size: int,
    sha256: str,
    timeout: float = 30.0,
    deadline: float | None = None,
    progress: bool = False,
) -> None:
    """Write the ``size`` bytes at ``url`` into ``file`` and check their sha256.

    ``file`` is emptied first, so that it can be reused for the next mirror.

    Parameters
    ----------
    url : str
        What to download (``http``, ``https``, ``file``).
    file : typing.BinaryIO
        Where the bytes go: a file open for writing in binary mode.
    size : int
        Bytes in the file expected; more, announced or received, stop the download at once.
    sha256 : str
        Hex digest of the file expected.
    timeout : float
        Seconds that connecting, or any one read, may wait.
    deadline : float, optional
        Seconds the whole download may take. It is checked after each read, and a
        read waits at most ``timeout``: a download ends at the latest ``timeout``
        seconds after its deadline, however slowly the server sends.
    progress : bool
        Show a progress bar on standard error.

    Raises
    ------
    ValueError
        If the response is longer or shorter than ``size``, or its sha256 is wrong.
    TimeoutError
        If the deadline or a read's timeout passed.
    OSError
        If the server cannot be reached or breaks off (or ``http.client.HTTPException``).

    Examples
    --------
    >>> import io, tempfile
    >>> data = b"some bytes"
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     source = Path(folder) / "source"
    ...     _ = source.write_bytes(data)
    ...     copy = io.BytesIO()
    ...     download(source.as_uri(), copy, size=10, sha256=hashlib.sha256(data).hexdigest())
    ...     download(source.as_uri(), io.BytesIO(), size=4, sha256="")
    Traceback (most recent call last):
    ValueError: the server announces 10 bytes for a file of 4 bytes
    >>> copy.getvalue()
    b'some bytes'
    """
    start = time.monotonic()
    file.seek(0)
    file.truncate()
    wait = timeout if deadline is None else min(timeout, deadline)
    with (
        urllib.request.urlopen(url, timeout=wait, context=_tls_context()) as response,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=url.rsplit("/", 1)[-1],
            file=sys.stderr,
            disable=not progress,
        ) as bar,
    ):
        announced = response.headers.get("Content-Length")
        if announced is not None and announced.isdigit() and int(announced) != size:
            raise ValueError(f"the server announces {announced} bytes for a file of {size} bytes")
        digest = hashlib.sha256()
        received = 0
        # read1 returns what one read of the socket gives: read(n) would wait for all n bytes,
        # however slowly they come, and the deadline would not be checked in between.
        while chunk := response.read1(min(_CHUNK, size + 1 - received)):
            received += len(chunk)
            if received > size:
                raise ValueError(f"the response is longer than the file's {size} bytes; stopped")
            file.write(chunk)
            digest.update(chunk)
            bar.update(len(chunk))
            if deadline is not None and time.monotonic() - start > deadline:
                raise TimeoutError(
                    f"not finished after the {deadline:g} s deadline ({received} of {size} bytes)"
                )
    if received < size:
        raise ValueError(f"the response ended after {received} of the file's {size} bytes")
    if digest.hexdigest() != sha256:
        raise ValueError(f"the sha256 of the download is {digest.hexdigest()}, not {sha256}")
    file.flush()
