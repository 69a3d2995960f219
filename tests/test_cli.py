"""The deepfound command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from deepfound.data import MNIST_FILES

ROOT = Path(__file__).resolve().parents[1]

PASSING = """# A chapter

```{code-block} pycon
>>> 1 + 1
2

```
"""


def deepfound(*args: str, env: dict | None = None, cwd: Path = ROOT):
    return subprocess.run(
        [sys.executable, "-m", "deepfound", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


def test_fetch_downloads_into_the_data_dir(tmp_path, mirror):
    result = deepfound(
        "fetch", "--data_dir", str(tmp_path / "cache"), env={"DEEPFOUND_MNIST_MIRRORS": mirror}
    )
    assert result.returncode == 0, result.stderr
    for name in MNIST_FILES:
        assert f"{name}: {tmp_path / 'cache' / name}" in result.stdout
        assert (tmp_path / "cache" / name).is_file()


def test_fetch_without_network_fails_with_a_message(tmp_path, refused_url):
    result = deepfound(
        "fetch", "--data_dir", str(tmp_path), env={"DEEPFOUND_MNIST_MIRRORS": refused_url}
    )
    assert result.returncode == 2
    assert "is missing and no mirror supplied a good copy" in result.stderr


def test_test_runs_a_chapter_and_reports_success(tmp_path):
    chapter = tmp_path / "good.md"
    chapter.write_text(PASSING)
    result = deepfound("test", str(chapter), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_test_fails_when_an_output_is_wrong(tmp_path):
    chapter = tmp_path / "bad.md"
    chapter.write_text(PASSING.replace("\n2\n", "\n3\n"))
    result = deepfound("test", str(chapter), cwd=tmp_path)
    assert result.returncode == 1
    assert "1 failed" in result.stdout


def test_test_runs_a_real_chapter():
    result = deepfound("test", "book/01_data.md")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout


def test_test_names_a_missing_chapter():
    result = deepfound("test", "book/no_such_chapter.md")
    assert result.returncode == 2
    assert "no such file: book/no_such_chapter.md" in result.stderr


def test_fetch_gives_up_at_the_deadline_it_is_given(tmp_path, drip_url):
    start = time.monotonic()
    result = deepfound(
        "fetch",
        "--data_dir",
        str(tmp_path / "cache"),
        "--deadline",
        "0.5",
        "--timeout",
        "5",
        env={"DEEPFOUND_MNIST_MIRRORS": drip_url},
    )
    assert result.returncode == 2, result.stderr
    assert "not finished after the 0.5 s deadline" in result.stderr
    assert time.monotonic() - start < 20  # the drip alone would take 24 minutes per file
    assert os.listdir(tmp_path / "cache") == []


def test_test_runs_only_the_examples_of_a_module():
    # cli.py defines a function named `test`: it is a command, not a test to collect.
    result = deepfound("test", "deepfound/cli.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_test_runs_a_txt_chapter(tmp_path):
    chapter = tmp_path / "notes.txt"
    chapter.write_text(">>> 1 + 1\n2\n")
    result = deepfound("test", str(chapter), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_test_names_what_it_cannot_run(tmp_path):
    chapter = tmp_path / "notes.ipynb"
    chapter.write_text("{}")
    result = deepfound("test", str(chapter), cwd=tmp_path)
    assert result.returncode == 2
    assert f"deepfound test: cannot run {chapter}" in result.stderr and ".md" in result.stderr


# Passes only with the project's options: FLOAT_CMP (0.1 + 0.2), ELLIPSIS, NORMALIZE_WHITESPACE.
NEEDS_THE_OPTIONS = """# A chapter

```{code-block} pycon
>>> 0.1 + 0.2
0.3
>>> list(range(30))
[0, 1, 2, ..., 29]
>>> print("a  b")
a b

```
"""


def test_test_uses_the_project_options_outside_the_project(tmp_path):
    chapter = tmp_path / "options.md"  # no pyproject.toml here nor above: no pytest settings
    chapter.write_text(NEEDS_THE_OPTIONS)
    result = deepfound("test", str(chapter), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
