"""Fixtures shared by the tests: the canonical MNIST files and local HTTP mirrors serving them."""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from deepfound.data import MNIST_FILES, fetch_mnist


@pytest.fixture(scope="session")
def canonical_files() -> dict[str, Path]:
    """The four verified MNIST files from the data directory ($DEEPFOUND_DATA_DIR)."""
    return fetch_mnist(files=tuple(MNIST_FILES), progress=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # the test output is not the place for access logs
        pass


@pytest.fixture
def serve() -> Iterator:
    """``serve(folder)`` starts an HTTP server on 127.0.0.1 for ``folder`` and returns its URL."""
    servers = []

    def start(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def mirror(tmp_path: Path, canonical_files: dict[str, Path], serve) -> str:
    """URL of a local mirror holding exact copies of the canonical files."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    for name, path in canonical_files.items():
        shutil.copy(path, folder / name)
    return serve(folder)


@pytest.fixture
def silent_url() -> Iterator[str]:
    """URL of a socket that accepts connections but never answers (a hung server)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


@pytest.fixture
def refused_url() -> str:
    """URL of a port on which nothing listens (no network)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
