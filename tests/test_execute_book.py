"""The book's executor: cached outputs are reused only while nothing they depend on changed.

Each test builds a small book of its own (two notebook chapters importing a one-file library)
and runs ``tests/execute_book.py`` on it, as ``nox -s book`` does on the real one.
"""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("execute_book.py")

CHAPTER = """---
jupytext:
  text_representation:
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Chapter {name}

Some prose.

```{{code-cell}} ipython3
import sys

sys.path.insert(0, "..")
import lib

print(lib.VALUE * {factor})
```
"""


@pytest.fixture
def book(tmp_path: Path) -> Path:
    (tmp_path / "book").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "_config.yml").write_text("execute:\n  cache: _build/.jupyter_cache\n")
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nchapters:\n  - file: book/a\n  - file: book/b\n"
    )
    (tmp_path / "book" / "intro.md").write_text("# A book\n\nNo code here.\n")
    for name, factor in (("a", 2), ("b", 3)):
        (tmp_path / "book" / f"{name}.md").write_text(CHAPTER.format(name=name, factor=factor))
    return tmp_path


def run(book: Path, *args: str) -> subprocess.CompletedProcess:
    """The executor run on ``book``, as ``nox -s book`` runs it on the real one."""
    command = [sys.executable, str(SCRIPT), "--root", str(book), "--package", "lib", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def execute(book: Path, *args: str) -> tuple[list[str], bool, str]:
    """Run the executor on ``book``: the chapters it executed, whether to reread pages, its log."""
    result = run(book, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    last_run = json.loads((book / "_build/.jupyter_cache/deepfound-last-run.json").read_text())
    return sorted(last_run["executed"]), last_run["reread"], result.stdout


def cached_output(book: Path, chapter: str) -> str:
    """The text the cached notebook of ``chapter`` printed."""
    from jupyter_cache import get_cache

    sys.path.insert(0, str(SCRIPT.parent))
    try:
        from execute_book import read_notebook
    finally:
        sys.path.remove(str(SCRIPT.parent))
    cache = get_cache(book / "_build/.jupyter_cache")
    _, notebook = cache.merge_match_into_notebook(read_notebook(book / "book" / f"{chapter}.md"))
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    return "".join(out.get("text", "") for out in outputs).strip()


def test_a_change_to_the_library_executes_every_chapter_again(book):
    executed, reread, log = execute(book, "--jobs", "2")
    assert executed == ["book/a.md", "book/b.md"] and reread
    if sys.version_info >= (3, 11) and sys.platform == "linux":  # each chapter's own peak
        assert re.search(r"book/a\.md executed in [0-9.]+ s, peak memory [0-9.]+ GB", log)
    assert (cached_output(book, "a"), cached_output(book, "b")) == ("2", "3")

    # Nothing changed: nothing runs, and the pages need not be read again.
    assert execute(book)[:2] == ([], False)

    # A chapter's code cells hash the same, but what they print changes: both must run again.
    (book / "lib" / "__init__.py").write_text("VALUE = 10\n")
    executed, reread, log = execute(book)
    assert executed == ["book/a.md", "book/b.md"] and reread
    assert "lib/__init__.py" in log  # the log says why
    assert (cached_output(book, "a"), cached_output(book, "b")) == ("20", "30")


def test_prose_edits_reuse_the_outputs_and_code_edits_execute_that_chapter(book):
    execute(book)
    page = book / "book" / "a.md"
    page.write_text(page.read_text().replace("Some prose.", "Other, better prose."))
    assert execute(book)[:2] == ([], False)

    page.write_text(page.read_text().replace("lib.VALUE * 2", "lib.VALUE * 5"))
    executed, reread, _ = execute(book)
    assert executed == ["book/a.md"] and not reread
    assert cached_output(book, "a") == "5"


def test_all_executes_every_chapter(book):
    execute(book)
    executed, reread, log = execute(book, "--all")
    assert executed == ["book/a.md", "book/b.md"] and reread
    assert "--all" in log


def test_a_failing_chapter_is_named_and_not_cached(book):
    page = book / "book" / "b.md"
    page.write_text(page.read_text().replace("print(lib.VALUE * 3)", "1 / 0"))
    result = run(book)
    assert result.returncode == 1
    assert "book/b.md FAILED" in result.stdout and "ZeroDivisionError" in result.stdout
    # The chapter that worked is cached; the failed one runs again next time.
    page.write_text(page.read_text().replace("1 / 0", "print(lib.VALUE * 3)"))
    assert execute(book)[0] == ["book/b.md"]


def test_each_chapter_runs_on_cores_of_its_own_as_many_as_it_asks_for(book):
    import os

    usable = len(os.sched_getaffinity(0))
    page = book / "book" / "a.md"
    # Chapter a asks for two cores; b asks for nothing: one.
    page.write_text(page.read_text().replace("---\n\n#", "deepfound_cores: 2\n---\n\n#", 1))
    for name in ("a", "b"):
        chapter = book / "book" / f"{name}.md"
        chapter.write_text(
            chapter.read_text().replace(
                "import lib\n", "import lib\nimport os\nprint(len(os.sched_getaffinity(0)))\n"
            )
        )
    execute(book)
    assert cached_output(book, "a").split()[0] == str(min(2, usable))
    assert cached_output(book, "b").split()[0] == "1"


def test_without_a_last_build_the_chapter_asking_for_more_cores_starts_first(book):
    import os

    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two usable cores")
    page = book / "book" / "a.md"
    page.write_text(page.read_text().replace("---\n\n#", "deepfound_cores: 2\n---\n\n#", 1))
    lines = run(book).stdout.splitlines()
    started = [line.split()[1] for line in lines if line.endswith(" ...")]
    # Otherwise the later chapter, b, would start first and a would wait for its core.
    assert started[0] == "book/a.md"


def test_a_bad_request_for_cores_is_named(book):
    page = book / "book" / "a.md"
    page.write_text(page.read_text().replace("---\n\n#", "deepfound_cores: many\n---\n\n#", 1))
    result = run(book)
    assert result.returncode == 1
    assert "deepfound_cores must be a whole number" in result.stderr


@pytest.mark.parametrize("failures", [1, 2, 3])
def test_a_kernel_that_dies_before_it_answers_is_started_again(book, monkeypatch, failures):
    # Two kernels started at once can be given the same TCP port: the second dies before it
    # answers, which nbclient raises as a RuntimeError. The chapter is started again, up to
    # KERNEL_STARTS times in all.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import execute_book
        from jupyter_cache.executors import utils
    finally:
        sys.path.remove(str(SCRIPT.parent))
    real, calls = utils.single_nb_execution, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) <= failures:
            raise RuntimeError(execute_book.KERNEL_DIED)
        return real(*args, **kwargs)

    monkeypatch.setattr(utils, "single_nb_execution", flaky)
    page = str(book / "book" / "a.md")
    if failures >= execute_book.KERNEL_STARTS:
        with pytest.raises(RuntimeError, match=execute_book.KERNEL_DIED):
            execute_book._execute(page, set(), 60)
        assert len(calls) == execute_book.KERNEL_STARTS
        return
    _, notebook, _, error, _ = execute_book._execute(page, set(), 60)
    assert error is None and len(calls) == failures + 1
    assert "2" in notebook.cells[-1].outputs[0]["text"]
