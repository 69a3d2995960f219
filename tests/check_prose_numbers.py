"""Every number typed into the book's prose is either computed (glued) or allowed, with a reason.

A number a reader sees in a sentence must come from the code that produced it: a
``{glue:text}`` role fed by an executed cell, a doctest, or a formula in math. This check
reads the prose of ``book/*.md`` (outside the front matter, code cells and blocks,
doctests, math, inline code, roles such as ``{glue:text}`` and ``{cite}``, link targets
and HTML comments) and reports every number left, unless a pattern of the allow-list,
``book/numbers.allow``, covers it. Exercises and their solutions are prose too, read in
the chapters that ``EXERCISE_CHAPTERS`` names.

Each line of the allow-list is ``PATTERN  # reason``: a Python regular expression that
must match the text around the number (the number included), for example
``28 × 28  # MNIST's image size`` or ``et al\\. \\(\\d{4}\\)  # a paper's year``. A pattern
can be limited to one chapter by starting with its file name and a colon:
``03_init.md: 9\\.3  # ...``. Run by ``nox -s lint``; prints ``file:line: number in
"context"`` for each and exits with 1 if there is one.

    python tests/check_prose_numbers.py [FILE ...]
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ALLOW = ROOT / "book" / "numbers.allow"
FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
# Fences whose content is prose: notes, admonitions and dropdowns.
PROSE_DIRECTIVE = re.compile(r"\{(note|warning|tip|important|seealso|admonition|dropdown|hint)\}")
# Exercises and their solutions, prose read in the chapters whose file name this matches: all of
# the numbered chapters.
EXERCISE_DIRECTIVE = re.compile(r"\{(exercise|solution)\}")
EXERCISE_CHAPTERS = re.compile(r"^\d\d_")
# A digit run with an optional decimal part, not glued to letters or underscores (ch07, x2, 1e-5
# are names or code, and code belongs in backticks anyway).
NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")
# Stretches of a line that are not prose: inline code, roles with their target ({glue:text}`x`,
# {cite}`key`), inline math, link targets, HTML comments and substitutions.
NOT_PROSE = re.compile(
    r"\{[\w:-]+\}`[^`]*`"  # a role: {glue:text}`name`, {doc}`07_conv`, {math}`x^2`
    r"|`[^`]*`"  # inline code
    r"|\$\$.*?\$\$|\$[^$\s][^$]*?\$"  # inline math
    r"|\]\([^)]*\)"  # a link's target
    r"|<!--.*?-->"  # an HTML comment
    r"|\(\([^)]*\)\)="  # a label: (section)=
    r"|^\([\w-]+\)=$"
)


@dataclass(frozen=True)
class Allowed:
    pattern: re.Pattern
    file: str | None
    reason: str


def read_allowed(path: Path = ALLOW) -> list[Allowed]:
    """The allow-list's patterns; a line without a reason is an error, as is a bad pattern."""
    allowed = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        text, _, reason = line.partition("  # ")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: a pattern needs a reason: 'PATTERN  # reason'")
        file = None
        match = re.match(r"^([\w.-]+\.md):\s*(.*)$", text.strip())
        if match:
            file, text = match.groups()
        try:
            allowed.append(Allowed(re.compile(text.strip()), file, reason.strip()))
        except re.error as error:
            raise SystemExit(f"{path}:{number}: not a regular expression: {error}") from None
    return allowed


def prose_lines(text: str, exercises: bool = False):
    """(line number, line) of the prose of a chapter: no front matter, code, math or comments.

    With ``exercises``, the text of exercises and solutions is prose too; else it is skipped.
    """
    lines = text.splitlines()
    i, fence, in_math, in_comment = 0, None, False, False
    if lines and lines[0].strip() == "---":  # front matter
        i = next((j for j in range(1, len(lines)) if lines[j].strip() == "---"), len(lines)) + 1
    for number in range(i + 1, len(lines) + 1):
        line = lines[number - 1]
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence) and stripped.rstrip("`~") == "":
                fence = None
            continue
        match = FENCE.match(line)
        if match:
            # A prose directive's fences (a note, an exercise, its solution) hold prose: keep
            # reading; a bare fence outside code closes one. Every other fence opens code.
            info = stripped[len(match.group(1)) :].strip()
            is_prose = PROSE_DIRECTIVE.match(info) or (exercises and EXERCISE_DIRECTIVE.match(info))
            if info and not is_prose:
                fence = match.group(1)
            continue
        if in_comment:
            in_comment = "-->" not in line
            continue
        if "<!--" in line and "-->" not in line.split("<!--", 1)[1]:
            in_comment = True
            line = line.split("<!--", 1)[0]
        if stripped == "$$":
            in_math = not in_math
            continue
        if in_math or stripped.startswith(":") or stripped.startswith(">>>"):
            continue  # a math block, a directive's option, a stray doctest line
        yield number, line


def numbers_in(line: str):
    """(start, end, number) of each number in the prose parts of ``line``."""
    masked = NOT_PROSE.sub(lambda m: " " * len(m.group()), line)
    for match in NUMBER.finditer(masked):
        yield match.start(), match.end(), match.group()


def is_allowed(name: str, line: str, start: int, end: int, allowed: list[Allowed]) -> bool:
    """Whether a pattern for this file, or for every file, matches text that covers the number."""
    for entry in allowed:
        if entry.file not in (None, name):
            continue
        for match in entry.pattern.finditer(line):
            if match.start() <= start and end <= match.end():
                return True
    return False


def check(paths: list[Path], allowed: list[Allowed]) -> list[str]:
    problems = []
    for path in paths:
        exercises = bool(EXERCISE_CHAPTERS.match(path.name))
        for number, line in prose_lines(path.read_text(encoding="utf-8"), exercises):
            for start, end, value in numbers_in(line):
                if not is_allowed(path.name, line, start, end, allowed):
                    context = line[max(0, start - 30) : end + 30].strip()
                    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    problems.append(f"{shown}:{number}: {value} in {context!r}")
    return problems


def main(argv: list[str]) -> int:
    paths = [Path(p).resolve() for p in argv] or sorted((ROOT / "book").glob("*.md"))
    problems = check(paths, read_allowed())
    for problem in problems:
        print(problem)
    if problems:
        print(
            f"{len(problems)} number(s) typed into prose: glue them from a cell "
            f"({{glue:text}}), or list them in {ALLOW.relative_to(ROOT)} with the reason"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
