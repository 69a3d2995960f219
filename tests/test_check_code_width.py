"""The lint check that keeps the book's code within the text column."""

import subprocess
import sys
from pathlib import Path

from check_code_width import WIDTH, long_lines

LONG = "x = " + "1 + " * 30 + "1"


def page(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "chapter.md"
    path.write_text(text)
    return path


def test_long_code_lines_are_found_and_prose_is_left_alone(tmp_path):
    assert len(LONG) > WIDTH
    text = "\n".join(
        [
            "# A chapter",
            "Prose may be as long as it likes: " + "word " * 40,  # line 2
            "```{code-cell} ipython3",
            ":tags: [hide-input]",
            LONG,  # line 5
            "short = 1",
            "```",
            "```{code-block} pycon",
            ">>> " + LONG,  # line 9
            "```",
            "```{note}",
            "A note's text is prose: " + "word " * 40,
            "```",
            "````{exercise}",
            "```python",
            LONG,  # line 16: code inside a directive
            "```",
            "````",
        ]
    )
    assert [number for number, _ in long_lines(page(tmp_path, text))] == [5, 9, 16]


def test_the_script_exits_with_1_and_names_the_line(tmp_path):
    path = page(tmp_path, "```{code-cell} ipython3\n" + LONG + "\n```\n")
    script = Path(__file__).with_name("check_code_width.py")
    command = [sys.executable, str(script), str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 1
    assert f"{path}:2: {len(LONG)} characters" in result.stdout
    path.write_text("```{code-cell} ipython3\nx = 1\n```\n")
    ok = subprocess.run(command, capture_output=True, text=True)
    assert ok.returncode == 0 and ok.stdout == ""
