"""Every line of the book's code, as a reader sees it, fits the text column: at most 80 characters.

Checks the code cells, the code blocks and the doctest blocks of ``book/*.md`` (the prose may
run longer: the browser wraps it). Run by ``nox -s lint``; prints each longer line as
``file:line: length`` and exits with 1 if there is one.

    python tests/check_code_width.py [FILE ...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

WIDTH = 80
FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
# Fences whose content is not code: directives of prose and figures.
PROSE = re.compile(
    r"\{(admonition|note|warning|tip|important|seealso|figure|glue:figure|"
    r"dropdown|exercise|solution|margin|sidebar|toctree|math|eval-rst|"
    r"literalinclude)\}"
)


def long_lines(path: Path) -> list[tuple[int, int]]:
    """(line number, length) of every line of code in ``path`` longer than WIDTH."""
    found, fences = [], []  # the stack of open fences: directives nest
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = FENCE.match(line.strip())
        if match:
            marks, info = match.groups()
            if fences and not info.strip() and marks == fences[-1][0]:
                fences.pop()
                continue
            if info.strip() or not fences:
                fences.append((marks, info.strip()))
                continue
        if fences and not PROSE.search(fences[-1][1]) and len(line) > WIDTH:
            found.append((number, len(line)))
    return found


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(Path("book").glob("*.md"))
    failures = 0
    for path in paths:
        for number, length in long_lines(path):
            print(f"{path}:{number}: {length} characters (at most {WIDTH})")
            failures += 1
    if failures:
        print(f"{failures} lines of code wider than {WIDTH} characters")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
