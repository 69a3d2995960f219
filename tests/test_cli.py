"""The deepfound command, run as a user runs it: in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

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


CHAPTER = """---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# A chapter

```{code-cell} ipython3
from pathlib import Path

answer = 6 * 7
```

Text between the cells, and an example that `run` leaves to `test`:

```{code-block} pycon
>>> 1 + 1
3

```

```{code-cell} ipython3
assert answer == 42, f"answer is {answer}"
Path("ran.txt").write_text(str(answer))
```
"""


def needs_book_extra():
    pytest.importorskip("myst_nb", reason="deepfound run needs the book extra")
    pytest.importorskip("nbclient", reason="deepfound run needs the book extra")


def test_run_executes_the_code_cells_in_order_in_the_chapters_folder(tmp_path):
    needs_book_extra()
    chapter = tmp_path / "good.md"
    chapter.write_text(CHAPTER)
    result = deepfound("run", str(chapter))
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "ran.txt").read_text() == "42"
    assert "2/2" in result.stderr  # the progress bar reached the last cell


def test_run_names_the_failing_cell_and_shows_the_error(tmp_path):
    needs_book_extra()
    chapter = tmp_path / "bad.md"
    chapter.write_text(CHAPTER.replace("answer == 42", "answer == 41"))
    result = deepfound("run", str(chapter))
    assert result.returncode == 1
    line = CHAPTER.splitlines().index('assert answer == 42, f"answer is {answer}"') + 1
    assert f"code cell 2 of 2 failed, at {chapter}:{line}" in result.stderr
    assert "assert answer == 41" in result.stderr
    assert "AssertionError" in result.stderr and "answer is 42" in result.stderr
    assert not (tmp_path / "ran.txt").exists()


def test_run_without_the_book_extra_says_which_extra(tmp_path):
    # A module that fails to import stands in for nbclient not being installed.
    (tmp_path / "nbclient.py").write_text("raise ImportError('No module named nbclient')\n")
    chapter = tmp_path / "good.md"
    chapter.write_text(CHAPTER)
    result = deepfound("run", str(chapter), env={"PYTHONPATH": f"{tmp_path}:{ROOT}"})
    assert result.returncode == 2
    assert (
        "deepfound run needs myst-nb and nbclient: pip install 'deepfound[book]'" in result.stderr
    )


def test_run_names_a_chapter_without_code_cells(tmp_path):
    needs_book_extra()
    chapter = tmp_path / "prose.md"
    chapter.write_text("# Only prose\n")
    result = deepfound("run", str(chapter))
    assert result.returncode == 2
    assert f"deepfound run: no code cells (```{{code-cell}}) in {chapter}" in result.stderr


def test_test_without_doctestplus_says_what_to_install(tmp_path):
    # Python's way to block an import stands in for pytest-doctestplus not being installed,
    # and pytest loads no plugin by itself, as when the plugin is missing.
    (tmp_path / "sitecustomize.py").write_text(
        "import sys\n\nsys.modules['pytest_doctestplus'] = None\n"
    )
    chapter = tmp_path / "good.md"
    chapter.write_text(PASSING)
    env = {"PYTHONPATH": f"{tmp_path}:{ROOT}", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = deepfound("test", str(chapter), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "unrecognized arguments" not in result.stderr
    assert "deepfound test needs pytest-doctestplus" in result.stderr
    assert "pip install 'deepfound[test]'" in result.stderr


def test_test_fails_on_a_named_file_without_examples_beside_one_with_examples(tmp_path):
    (tmp_path / "pass.md").write_text(PASSING)
    (tmp_path / "empty.md").write_text("# Only prose\n")
    result = deepfound("test", "pass.md", "empty.md", cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "deepfound test: no examples (>>> lines) found in empty.md" in result.stderr
    assert "pass.md" not in result.stderr


def test_run_writes_no_colour_codes_into_a_redirected_log(tmp_path):
    needs_book_extra()
    chapter = tmp_path / "bad.md"
    chapter.write_text(CHAPTER.replace("answer == 42", "answer == 41"))
    result = deepfound("run", str(chapter))
    assert result.returncode == 1
    assert "AssertionError: answer is 42" in result.stderr
    assert "\x1b[" not in result.stderr


def test_train_saves_weights_that_load_back_into_the_recipe_s_model(tmp_path):
    from deepfound.checkpoint import load_weights
    from deepfound.toolbox_recipes import BEST

    out = tmp_path / "weights" / "resnet.npz"
    result = deepfound(
        "train", "--out", str(out), "--epochs", "1", "--train_images", "256",
        "--n_valid", "200", "--progress", "False",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "validation accuracy" in result.stdout and str(out) in result.stdout
    assert "Toolbox(" in result.stdout  # the recipe, printed before training
    load_weights(BEST.model(1), out)
    assert [p.name for p in out.parent.iterdir()] == ["resnet.npz"]


def test_train_leaves_a_file_it_did_not_write_alone_and_stops_before_training(tmp_path):
    out = tmp_path / "notes.npz"
    out.write_text("my notes")
    start = time.perf_counter()
    result = deepfound("train", "--out", str(out), "--progress", "False")
    assert result.returncode == 2
    assert "is not a deepfound weights file" in result.stderr
    assert out.read_text() == "my notes"
    assert time.perf_counter() - start < 60  # it did not train for minutes first


def test_train_names_a_bad_setting(tmp_path):
    result = deepfound("train", "--out", str(tmp_path / "w.npz"), "--epochs", "0")
    assert result.returncode == 2
    assert "epochs must be an integer of at least 1, got 0" in result.stderr
    assert not (tmp_path / "w.npz").exists()
