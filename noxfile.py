"""Sessions that build the book, run its doctests and unit tests, lint, and benchmark.

``nox`` alone runs lint, tests, doctests, book and browser; ``nox -s bench`` prints the
benchmarks.
"""

import json
from pathlib import Path

import nox

nox.needs_version = ">=2024.10.9"
nox.options.sessions = ["lint", "tests", "doctests", "book", "browser"]
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
    # The book extra too: `deepfound run` executes chapters with myst-nb and nbclient.
    install(session, "test,book")
    session.run("pytest", "tests", *session.posargs)


@nox.session
def doctests(session: nox.Session) -> None:
    """Every ``>>>`` example in the chapters and in the docstrings."""
    install(session, "test")
    session.run("pytest", "book", "deepfound", *session.posargs)


# The student edition: the same book without the exercises' solutions, built from a copy of
# _config.yml. Paths in a config are read from the config's own folder: local extensions are
# made absolute.
STUDENT_CONFIG = """
import sys
from pathlib import Path

import yaml

source, target = map(Path, sys.argv[1:])
config = yaml.safe_load(source.read_text())
config["title"] += " (student edition)"
config["sphinx"]["config"]["hide_solutions"] = True
extensions = config["sphinx"].get("local_extensions", {})
for name, folder in extensions.items():
    extensions[name] = str((source.parent / folder).resolve())
target.parent.mkdir(parents=True, exist_ok=True)
target.write_text(yaml.safe_dump(config, sort_keys=False))
"""


def execute_chapters(session: nox.Session) -> None:
    """The chapters that need it, executed into the cache the book and the PDF share."""
    session.run("python", "tests/execute_book.py", *(["--all"] * ("--all" in session.posargs)))


@nox.session
def book(session: nox.Session) -> None:
    """Build the HTML book; any warning or failing cell is an error.

    The chapters run first (tests/execute_book.py): those whose code, or whose library,
    data or installed versions changed since the last build, in parallel processes, into
    Jupyter Book's cache; the others' outputs are reused. ``nox -s book -- --all``
    executes every chapter. ``nox -s book -- --student`` builds the student edition,
    without the exercises' solutions, into ``_build/student/_build/html``.
    """
    install(session, "test,book")
    execute_chapters(session)
    last_run = json.loads(Path("_build/.jupyter_cache/deepfound-last-run.json").read_text())
    args = ["jupyter-book", "build", ".", "--warningiserror", "--nitpick", "--keep-going"]
    html = Path("_build/html")
    if "--student" in session.posargs:
        config = Path("_build/student/_config.yml")
        session.run("python", "-c", STUDENT_CONFIG, "_config.yml", str(config))
        args += ["--config", str(config), "--path-output", "_build/student"]
        html = Path("_build/student/_build/html")
    # Pages read again from their sources: all of them when outputs may have changed under
    # unchanged sources (and always for the student edition, built from its own folder);
    # else only those Sphinx sees edited.
    if last_run["reread"] or "--student" in session.posargs:
        args.append("--all")
    session.run(*args)
    session.log(f"Open {(html / 'index.html').resolve()} in a browser.")


@nox.session(default=False)
def pdf(session: nox.Session) -> None:
    """The PDF edition, _build/pdf/deepfound.pdf: the book as one page, printed by Chromium.

    Needs Debian's ``chromium`` and ``chromium-driver``. The chapters' outputs come from the
    same cache as ``nox -s book`` (stale chapters execute first); a ``nox -s book`` after this
    session links the PDF from every page's download menu.
    """
    install(session, "test,book")
    execute_chapters(session)
    session.run(
        "jupyter-book", "build", ".", "--all", "--builder", "custom",
        "--custom-builder", "singlehtml", "--path-output", "_build/pdf",
    )  # fmt: skip
    html = "_build/pdf/_build/singlehtml"
    session.run("python", "tests/make_pdf.py", html, "_build/pdf/deepfound.pdf")


@nox.session
def browser(session: nox.Session) -> None:
    """Every page of the built book in headless Chromium: math, images, links, search, offline.

    Needs Debian's ``chromium`` and ``chromium-driver``; screenshots go to _build/screenshots.
    ``nox -s browser -- _build/student/_build/html`` checks the student edition.
    """
    session.install("selenium>=4.11")
    # SE_OFFLINE: selenium must never try to download a browser or a driver.
    session.run("python", "tests/browser_check.py", *session.posargs, env={"SE_OFFLINE": "true"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting; the book's code at most 80 characters wide; every number
    in the book's prose glued or allowed; the GitHub workflows against their schema (offline)."""
    session.install("ruff", "check-jsonschema")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "tests/check_code_width.py")  # the book's code fits its column
    session.run("python", "tests/check_prose_numbers.py")  # every number in prose is computed
    workflows = sorted(str(path) for path in Path(".github/workflows").glob("*.yml"))
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows", *workflows)


@nox.session(default=False)
def margins(session: nox.Session) -> None:
    """Every result a chapter asserts, rerun under other BLAS kernels, thread counts and seeds.

    Prints, per assert, the bar, the lowest, median and highest result and the worst margin;
    ``--chapters`` adds each chapter's peak memory. ``nox -s margins -- resnet --seeds 0 1``
    sweeps one assert (see ``python tests/margins.py --help``). About 45 minutes on 2 cores.
    """
    install(session, "test,book,bench")
    session.run("python", "tests/margins.py", *session.posargs)


@nox.session(default=False)
def train(session: nox.Session) -> None:
    """Chapter 11's best recipe trained on all of MNIST (``deepfound train``), with a progress bar.

    Prints the validation accuracy and the training time; the weights go to
    ``_build/train/resnet.npz``. ``nox -s train -- --seed 1`` trains another seed.
    """
    session.install("-e", ".")
    session.run("deepfound", "train", "--out", "_build/train/resnet.npz", *session.posargs)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (tests/bench_*.py), each measuring its variants side by side in one run.

    ``nox -s bench -- tests/bench_resnet.py --profile`` runs one of them, with its options.
    """
    install(session, "test,bench")
    scripts, args = sorted(Path("tests").glob("bench_*.py")), list(session.posargs)
    if args and args[0].endswith(".py"):
        script = Path(args.pop(0))
        if script not in scripts:
            session.error(f"no such benchmark: {script} (one of {', '.join(map(str, scripts))})")
        scripts = [script]
    for script in scripts:
        session.run("python", str(script), *args)
