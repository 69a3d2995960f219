"""Fixtures shared by the tests: the canonical MNIST files and local HTTP mirrors serving them.

Besides a faithful mirror there are hostile ones: a server that never answers, one that sends
a file a byte at a time, one whose response never ends. All listen on 127.0.0.1 only, and
each stops within seconds of the end of its test.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
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


@pytest.fixture
def respond() -> Iterator[Callable]:
    """``respond(handle)`` serves every GET with ``handle(request, stopping)``; returns the URL.

    ``request`` is the :class:`http.server.BaseHTTPRequestHandler` of the GET; ``stopping`` is
    a :class:`threading.Event` set when the test ends, at which point a handler must return.
    """
    stopping = threading.Event()
    servers = []

    def start(handle: Callable) -> str:
        class Handler(_QuietHandler):
            def do_GET(self):
                try:
                    handle(self, stopping)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up: expected
                    pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/"

    yield start
    stopping.set()
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def drip_url(respond, canonical_files: dict[str, Path]) -> str:
    """A mirror that sends the right file with the right length, one byte every 50 ms.

    28,881 bytes of labels would take 24 minutes: the server gives up after 20 seconds.
    """

    def drip(request, stopping):
        data = canonical_files[Path(request.path).name].read_bytes()
        request.send_response(200)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        give_up = time.monotonic() + 20
        for i in range(len(data)):
            if stopping.wait(0.05) or time.monotonic() > give_up:
                return
            request.wfile.write(data[i : i + 1])

    return respond(drip)


@dataclass
class Endless:
    """A server whose response never ends (up to ``limit`` bytes), and how much it sent."""

    url: str
    limit: int
    sent: int = 0


@pytest.fixture(params=["no length", "announced length too long"])
def endless(request, respond) -> Endless:
    """A mirror streaming zeros until the client hangs up or ``limit`` bytes are out.

    Without a Content-Length (the response ends when the connection closes), or with one
    that announces far more than any MNIST file.
    """
    server = Endless(url="", limit=64 << 20)
    chunk = bytes(1 << 16)

    def stream(handler, stopping):
        handler.send_response(200)
        if request.param == "announced length too long":
            handler.send_header("Content-Length", str(server.limit))
        handler.end_headers()
        while server.sent < server.limit and not stopping.is_set():
            handler.wfile.write(chunk)
            server.sent += len(chunk)

    server.url = respond(stream)
    return server
