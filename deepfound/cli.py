"""The ``deepfound`` command: fetch the data, run a chapter's doctests.

``deepfound fetch`` downloads and verifies MNIST; ``deepfound test book/01_data.md``
runs one chapter's examples as tests, the way a notebook is run to check it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import fire

from deepfound.data import MNIST_FILES, fetch_mnist

#: What ``deepfound test`` can run: chapters (``.md``, ``.txt``) and modules (``.py``).
RUNNABLE = (".md", ".txt", ".py")

# The project's doctest settings (pyproject.toml), passed explicitly so that a file outside
# the project is tested exactly as one inside. Only the examples are collected: a function
# named like a test (such as `test` below) is not one.
PYTEST_ARGS = [
    "--doctest-plus",
    "--doctest-glob=*.md",
    "--doctest-glob=*.txt",
    "-o",
    "doctest_optionflags=FLOAT_CMP ELLIPSIS NORMALIZE_WHITESPACE",
    "-o",
    "python_functions=",
    "-o",
    "python_classes=",
    "-p",
    "no:cacheprovider",
    "-q",
]


def fetch(
    data_dir: str | None = None,
    progress: bool = True,
    deadline: float | None = 600.0,
    timeout: float = 30.0,
) -> None:
    """Download the four MNIST files into the data directory and verify their sha256.

    Parameters
    ----------
    data_dir : str, optional
        The data directory; else ``$DEEPFOUND_DATA_DIR``, else the user cache.
    progress : bool
        Show a progress bar for each download.
    deadline : float or None
        Seconds each download may take (``--deadline None`` for no limit).
    timeout : float
        Seconds a connection, or any one read, may wait.

    Examples
    --------
    >>> fetch(progress=False)
    train-images-idx3-ubyte.gz: .../train-images-idx3-ubyte.gz
    train-labels-idx1-ubyte.gz: .../train-labels-idx1-ubyte.gz
    t10k-images-idx3-ubyte.gz: .../t10k-images-idx3-ubyte.gz
    t10k-labels-idx1-ubyte.gz: .../t10k-labels-idx1-ubyte.gz
    """
    paths = fetch_mnist(
        data_dir, files=tuple(MNIST_FILES), progress=progress, deadline=deadline, timeout=timeout
    )
    for name, path in paths.items():
        print(f"{name}: {path}")


def test(*chapters: str) -> None:
    """Run the doctests of the given chapters (``.md``, ``.txt``) or modules (``.py``).

    The project's doctest options apply wherever the files are. Exits with
    pytest's status when any example fails.

    Examples
    --------
    >>> test()
    Traceback (most recent call last):
    ValueError: deepfound test: name at least one chapter, e.g. book/01_data.md
    >>> test("notes.ipynb")
    Traceback (most recent call last):
    ValueError: deepfound test: cannot run notes.ipynb: a chapter is .md or .txt, a module .py
    """
    if not chapters:
        raise ValueError("deepfound test: name at least one chapter, e.g. book/01_data.md")
    for chapter in chapters:
        if Path(chapter).suffix not in RUNNABLE:
            raise ValueError(
                f"deepfound test: cannot run {chapter}: a chapter is .md or .txt, a module .py"
            )
    missing = [chapter for chapter in chapters if not Path(chapter).is_file()]
    if missing:
        raise FileNotFoundError(f"deepfound test: no such file: {', '.join(missing)}")
    try:
        import pytest
    except ImportError:
        raise ImportError(
            "deepfound test needs pytest and pytest-doctestplus: pip install 'deepfound[test]'"
        ) from None
    status = int(pytest.main([*PYTEST_ARGS, *chapters]))
    if status == pytest.ExitCode.NO_TESTS_COLLECTED:
        raise ValueError(f"deepfound test: no examples (>>> lines) found in {', '.join(chapters)}")
    if status != 0:
        raise SystemExit(status)


test.__test__ = False  # a command named test, not a test for pytest to collect


def main() -> None:
    """Entry point of the ``deepfound`` command."""
    commands = {"fetch": fetch, "test": test}
    try:
        fire.Fire(commands, name="deepfound")
    except (ValueError, ImportError, OSError, RuntimeError) as error:
        print(error, file=sys.stderr)
        sys.exit(2)
