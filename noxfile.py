"""Sessions that build the book, run its doctests and unit tests, lint, and benchmark.

``nox`` alone runs lint, tests, doctests and book; ``nox -s bench`` prints the benchmarks.
"""

from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.sessions = ["lint", "tests", "doctests", "book"]
nox.options.default_venv_backend = "virtualenv"
# Keep each session's environment between runs; the package itself is reinstalled every time.
nox.options.reuse_venv = "yes"

# Exactly this CPU build: it is the one available offline on the project's machines, and an
# unpinned torch pulls a multi-GB CUDA build. torch is only the reference the tests compare with.
TORCH = "torch==2.13.0"


def install(session: nox.Session, extras: str) -> None:
    session.install(TORCH)
    session.install("-e", f".[{extras}]")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests: deepfound against numpy and PyTorch."""
    install(session, "test")
    session.run("pytest", "tests", *session.posargs)


@nox.session
def doctests(session: nox.Session) -> None:
    """Every ``>>>`` example in the chapters and in the docstrings."""
    install(session, "test")
    session.run("pytest", "book", "deepfound", *session.posargs)


@nox.session
def book(session: nox.Session) -> None:
    """Build the HTML book, re-executing every page; any warning or failing cell is an error."""
    install(session, "test,book")
    session.run(
        "jupyter-book", "build", ".", "--all", "--warningiserror", "--nitpick", "--keep-going"
    )
    session.log(f"Open {Path('_build/html/index.html').resolve()} in a browser.")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (tests/bench_*.py), each measuring its variants side by side in one run."""
    install(session, "test")
    for script in sorted(Path("tests").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
