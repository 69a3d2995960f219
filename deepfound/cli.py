"""The ``deepfound`` command: fetch the data, run a chapter's doctests or its code, train.

``deepfound fetch`` downloads and verifies MNIST; ``deepfound test book/01_data.md``
runs one chapter's examples as tests, the way a notebook is run to check it;
``deepfound run book/06_training.md`` executes the chapter's code cells as a notebook;
``deepfound train`` trains chapter 11's best recipe on all of MNIST and saves its weights.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

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


#: The escape sequences that colour a traceback (IPython's) on a terminal.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


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
    pytest's status when any example fails; a named file without examples is an error.

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
    pytest = _import_pytest()
    ExitCode = pytest.ExitCode
    collected = _Collected()
    status = pytest.main([*PYTEST_ARGS, *chapters], plugins=[collected])
    # Only once every file was collected (no collection error) are the ones without examples known.
    all_collected = status in (ExitCode.OK, ExitCode.TESTS_FAILED, ExitCode.NO_TESTS_COLLECTED)
    empty = [chapter for chapter in chapters if Path(chapter).resolve() not in collected.paths]
    if all_collected and empty:
        raise ValueError(f"deepfound test: no examples (>>> lines) found in {', '.join(empty)}")
    if status != ExitCode.OK:
        raise SystemExit(int(status))


test.__test__ = False  # a command named test, not a test for pytest to collect


def _import_pytest() -> ModuleType:
    """pytest, once it and pytest-doctestplus (which reads ``--doctest-plus``) are both found.

    The plugin is looked for, not imported: pytest must be the first to import its plugins.
    """
    for module in ("pytest", "pytest_doctestplus"):
        if importlib.util.find_spec(module) is None:
            raise ImportError(
                f"deepfound test needs {module.replace('_', '-')}, which is not installed: "
                "pip install 'deepfound[test]'"
            )
    import pytest

    return pytest


class _Collected:
    """A pytest plugin that notes the files the examples it collects come from."""

    def __init__(self) -> None:
        self.paths: set[Path] = set()

    def pytest_itemcollected(self, item) -> None:
        self.paths.add(Path(item.path).resolve())


def run(chapter: str, timeout: int = 900) -> None:
    """Execute the code cells of a chapter (``.md``) in order, in a fresh notebook kernel.

    The chapter is read as the book's build reads it, and run in its own folder, with a
    progress bar that advances cell by cell. Needs the ``book`` extra (myst-nb, nbclient).
    Exits with status 1 at the first cell that raises, naming it and showing the error
    (in colour on a terminal only, so that a log of the run holds plain text).

    Parameters
    ----------
    chapter : str
        Path of the chapter, e.g. ``book/06_training.md``.
    timeout : int
        Seconds one cell may take.

    Examples
    --------
    >>> run("book/no_such_chapter.md")
    Traceback (most recent call last):
    FileNotFoundError: deepfound run: no such file: book/no_such_chapter.md
    """
    path = Path(chapter)
    if not path.is_file():
        raise FileNotFoundError(f"deepfound run: no such file: {chapter}")
    try:
        from myst_nb.core.read import read_myst_markdown_notebook
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError
    except ImportError:
        raise ImportError(
            "deepfound run needs myst-nb and nbclient: pip install 'deepfound[book]'"
        ) from None
    from tqdm.auto import tqdm

    text = path.read_text(encoding="utf-8")
    notebook = read_myst_markdown_notebook(text, add_source_map=True, path=path)
    lines = notebook.metadata.pop("source_map")  # where each cell starts in the file
    cells = [(i, cell) for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    if not cells:
        raise ValueError(f"deepfound run: no code cells (```{{code-cell}}) in {chapter}")
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    with client.setup_kernel(), tqdm(total=len(cells), desc=path.name, unit="cell") as bar:
        for number, (index, cell) in enumerate(cells, start=1):
            first_line = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            bar.set_postfix_str(first_line[:40])
            try:
                client.execute_cell(cell, index)
            except CellExecutionError as error:
                bar.close()
                print(
                    f"deepfound run: code cell {number} of {len(cells)} failed, at "
                    f"{chapter}:{lines[index] + 1} ({first_line!r}):\n{_for_stderr(str(error))}",
                    file=sys.stderr,
                )
                raise SystemExit(1) from None
            bar.update()


def train(
    out: str = "resnet.npz",
    seed: int = 0,
    data_dir: str | None = None,
    progress: bool = True,
    epochs: int | None = None,
    train_images: int | None = None,
    n_valid: int | None = None,
) -> None:
    """Train chapter 11's best recipe (``deepfound.recipes.BEST``), save the weights.

    Prints the recipe, the validation accuracy after each epoch (with a progress bar),
    the final accuracy and the training time, and writes the weights to ``out``, an
    ``.npz`` file that :func:`~deepfound.checkpoint.load_weights` reads back into
    ``BEST.model()``. A file at ``out`` that is not a deepfound weights file is left
    alone: the command stops before training.

    Parameters
    ----------
    out : str
        Where to write the weights (``.npz``).
    seed : int
        The seed of the initial weights, the batches' order and the augmentation.
    data_dir : str, optional
        The data directory; else ``$DEEPFOUND_DATA_DIR``, else the user cache.
    progress : bool
        Show a progress bar over the batches.
    epochs, train_images, n_valid : int, optional
        Override the recipe's settings of the same names, for a shorter trial run.
    """
    import dataclasses

    from deepfound.checkpoint import check_writable, save_weights
    from deepfound.mnist import MNIST
    from deepfound.toolbox_recipes import BEST

    changes = {"epochs": epochs, "train_images": train_images, "n_valid": n_valid}
    recipe = dataclasses.replace(BEST, **{k: v for k, v in changes.items() if v is not None})
    recipe.check()
    path = check_writable(out)
    data = MNIST.load(images=True, data_dir=data_dir)
    print(recipe)
    model = recipe.model(seed)
    history = recipe.train(model, data, seed, progress=progress)
    seconds = sum(history.train_seconds)
    save_weights(model, path)
    print(
        f"validation accuracy {history.valid_accuracy[-1]:.2%} after {recipe.epochs} "
        f"epochs, {seconds:.0f} s of training; weights in {path}"
    )


def _for_stderr(text: str) -> str:
    """``text`` without its colours (ANSI escape sequences) unless standard error is a terminal."""
    return text if sys.stderr.isatty() else ANSI_ESCAPE.sub("", text)


def main() -> None:
    """Entry point of the ``deepfound`` command."""
    commands = {"fetch": fetch, "test": test, "run": run, "train": train}
    try:
        fire.Fire(commands, name="deepfound")
    except (ValueError, ImportError, OSError, RuntimeError) as error:
        print(error, file=sys.stderr)
        sys.exit(2)
