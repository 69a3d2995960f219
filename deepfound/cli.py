"""The ``deepfound`` command: fetch the data, run a chapter's doctests.

``deepfound fetch`` downloads and verifies MNIST; ``deepfound test book/01_data.md``
runs one chapter's examples as tests, the way a notebook is run to check it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import fire

from deepfound.data import MNIST_FILES, fetch_mnist


def fetch(data_dir: str | None = None, progress: bool = True) -> None:
    """Download the four MNIST files into the data directory and verify their sha256."""
    for name, path in fetch_mnist(data_dir, files=tuple(MNIST_FILES), progress=progress).items():
        print(f"{name}: {path}")


def test(*chapters: str) -> None:
    """Run the doctests of the given chapters (``.md``) or modules (``.py``).

    Exits with pytest's status when any example fails.
    """
    if not chapters:
        raise ValueError("deepfound test: name at least one chapter, e.g. book/01_data.md")
    missing = [chapter for chapter in chapters if not Path(chapter).is_file()]
    if missing:
        raise FileNotFoundError(f"deepfound test: no such file: {', '.join(missing)}")
    try:
        import pytest
    except ImportError:
        raise ImportError(
            "deepfound test needs pytest and pytest-doctestplus: pip install 'deepfound[test]'"
        ) from None
    args = ["--doctest-plus", "--doctest-glob=*.md", "-p", "no:cacheprovider", "-q", *chapters]
    status = int(pytest.main(args))
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise ValueError(f"deepfound test: no examples (>>> lines) found in {', '.join(chapters)}")
    if status != 0:
        raise SystemExit(status)


def main() -> None:
    """Entry point of the ``deepfound`` command."""
    commands = {"fetch": fetch, "test": test}
    try:
        fire.Fire(commands, name="deepfound")
    except (ValueError, ImportError, OSError, RuntimeError) as error:
        print(error, file=sys.stderr)
        sys.exit(2)
