"""The prose check: a number typed into a paragraph fails lint unless glued or allowed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from check_prose_numbers import ROOT, check, read_allowed  # noqa: E402

CHAPTER = """---
kernelspec:
  name: python3
---

# A chapter

The network reaches {glue:text}`accuracy:.1f`% on `x[:100]`, in $2^{10}$ steps.

```{code-cell} ipython3
print(42)
```

```{code-block} pycon
>>> 6 * 7
42

```

$$
y = 3 x
$$
"""


def _check(tmp_path: Path, text: str, allow: str = "") -> list[str]:
    chapter = tmp_path / "book" / "99_test.md"
    chapter.parent.mkdir(exist_ok=True)
    chapter.write_text(text)
    allow_file = tmp_path / "numbers.allow"
    allow_file.write_text(allow)
    problems = []
    for problem in check([chapter], read_allowed(allow_file)):
        problems.append(problem.split(": ", 1)[1])
    return problems


@pytest.fixture(autouse=True)
def _root(tmp_path, monkeypatch):
    monkeypatch.setattr("check_prose_numbers.ROOT", tmp_path)


def test_glued_numbers_code_math_and_front_matter_pass(tmp_path):
    assert _check(tmp_path, CHAPTER) == []


def test_a_number_typed_into_a_paragraph_fails(tmp_path):
    typed = CHAPTER.replace("in $2^{10}$ steps.", "in $2^{10}$ steps, about 97.5% of the time.")
    (problem,) = _check(tmp_path, typed)
    assert problem.startswith("97.5 in ") and "about 97.5% of the time" in problem


def test_an_allowed_pattern_passes_only_where_it_covers_the_number(tmp_path):
    typed = CHAPTER + "\nEach image is 28 × 28 pixels, 28 of them per row.\n"
    allow = r"28 × 28  # MNIST's image size" + "\n"
    (problem,) = _check(tmp_path, typed, allow)  # the third 28 only
    assert problem.startswith("28 in ") and "28 of them" in problem
    assert (
        _check(tmp_path, typed, allow + "99_test.md: 28 of them  # in words, this chapter\n") == []
    )
    assert _check(tmp_path, typed, allow + "other.md: 28 of them  # in another chapter\n")


def test_a_pattern_without_a_reason_is_refused(tmp_path):
    with pytest.raises(SystemExit, match="needs a reason"):
        _check(tmp_path, CHAPTER, "28 × 28\n")


def test_the_script_exits_1_naming_the_line(tmp_path):
    chapter = tmp_path / "typed.md"
    chapter.write_text("# T\n\nIt takes 12 seconds.\n")
    script = Path(__file__).with_name("check_prose_numbers.py")
    result = subprocess.run(
        [sys.executable, str(script), str(chapter)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 1
    assert f"{chapter}:3: 12 in 'It takes 12 seconds.'" in result.stdout


def test_prose_inside_and_after_a_note_is_read(tmp_path):
    note = CHAPTER + "\n````{note}\nA note of 3 lines.\n````\n\nAfter it, 4 more.\n"
    problems = _check(tmp_path, note)
    assert [p.split(" in ")[0] for p in problems] == ["3", "4"]


EXERCISE = """
````{exercise} A sum
:label: ex-99-sum

Add the numbers from $1$ to $n$ for {glue:text}`n` values of $n$.
````

````{solution} ex-99-sum
:class: dropdown

The sum is $n (n + 1) / 2$:

```{code-block} pycon
>>> sum(range(1, 11))
55

```
````
"""


def test_a_number_typed_into_an_exercise_or_its_solution_fails(tmp_path, monkeypatch):
    monkeypatch.setattr("check_prose_numbers.EXERCISE_CHAPTERS", re.compile(r"^99_"))
    assert _check(tmp_path, CHAPTER + EXERCISE) == []
    typed = EXERCISE.replace("for {glue:text}`n` values", "for 12 values").replace(
        "The sum is", "For 10 it is 55, and the sum is"
    )
    problems = _check(tmp_path, CHAPTER + typed)
    assert [p.split(" in ")[0] for p in problems] == ["12", "10", "55"]


def test_exercises_are_read_only_in_the_chapters_named(tmp_path, monkeypatch):
    typed = CHAPTER + EXERCISE.replace("for {glue:text}`n` values", "for 12 values")
    monkeypatch.setattr("check_prose_numbers.EXERCISE_CHAPTERS", re.compile(r"^0[0-6]_"))
    assert _check(tmp_path, typed) == []  # 99_test.md is not among them
    monkeypatch.setattr("check_prose_numbers.EXERCISE_CHAPTERS", re.compile(r"^99_"))
    assert _check(tmp_path, typed) != []
