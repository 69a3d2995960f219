"""The checks of tests/browser_check.py that need no browser, on small sites made here.

``nox -s browser`` runs them on the real build; here each is shown to catch what it is for.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from browser_check import (
    RAW_TEX,
    external_resources,
    html_pages,
    is_redirect,
    link_problems,
    notebook_problems,
)

BASE = "http://127.0.0.1:8000/"


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A build with two pages, an asset folder holding a template, and a local stylesheet."""
    write(tmp_path, "index.html", '<meta http-equiv="refresh" content="0; url=book/a.html">')
    write(
        tmp_path,
        "book/a.html",
        '<link rel="stylesheet" href="../_static/local.css"><script src="../_static/x.js">'
        '</script><h1 id="top">A</h1><p id="part">text</p>',
    )
    write(tmp_path, "book/b.html", '<img src="../_images/plot.png" alt="plot">')
    write(tmp_path, "_static/template.html", "<p>not a page</p>")
    write(tmp_path, "_static/local.css", "body { background: url(img.png); }")
    return tmp_path


def test_pages_are_found_on_disk_and_assets_are_not_pages(site):
    pages = [page.relative_to(site).as_posix() for page in html_pages(site)]
    assert pages == ["book/a.html", "book/b.html", "index.html"]
    assert is_redirect(site / "index.html") and not is_redirect(site / "book/a.html")


def test_a_local_site_loads_nothing_from_outside(site):
    assert external_resources(site) == []


@pytest.mark.parametrize(
    "page, text",
    [
        ("book/c.html", '<script src="https://cdn.example.org/mathjax.js"></script>'),
        ("book/c.html", '<link rel="stylesheet" href="//fonts.example.org/css">'),
        ("book/c.html", '<img src="http://example.org/plot.png">'),
        ("book/c.html", '<img srcset="a.png 1x, https://example.org/plot.png 2x">'),
        ("book/c.html", '<link rel="shortcut icon" href="https://example.org/favicon.ico">'),
        ("book/c.html", '<div style="background: url(https://example.org/a.png)"></div>'),
        ("_static/font.css", '@import "https://fonts.example.org/roboto.css";'),
        ("_static/font.css", "@font-face { src: url('https://example.org/a.woff2'); }"),
    ],
)
def test_every_kind_of_external_resource_is_reported(site, page, text):
    write(site, page, text)
    found = external_resources(site)
    assert len(found) == 1 and found[0].startswith(page), found


def test_links_out_of_the_site_are_not_resources(site):
    write(site, "book/c.html", '<a href="https://en.wikipedia.org/wiki/MNIST_database">MNIST</a>')
    write(site, "book/d.html", '<link rel="canonical" href="https://example.org/book/d.html">')
    assert external_resources(site) == []


def test_links_must_reach_a_file_and_an_anchor(site):
    page = site / "book/a.html"
    good = [f"{BASE}book/b.html", f"{BASE}book/a.html#part", f"{BASE}book/a.html?x=1", BASE]
    assert link_problems(site, page, BASE, good) == []
    bad = [f"{BASE}book/missing.html", f"{BASE}book/a.html#nowhere"]
    problems = link_problems(site, page, BASE, bad)
    assert problems == [
        f"link to a missing file: {BASE}book/missing.html",
        f"link to a missing anchor: {BASE}book/a.html#nowhere",
    ]


def test_launch_buttons_must_open_a_notebook_of_the_build(site):
    write(site, "_sources/book/a.ipynb", "{}")
    binder = "https://mybinder.org/v2/gh/o/r/notebooks?urlpath=tree/book/{}"
    colab = "https://colab.research.google.com/github/o/r/blob/notebooks/book/{}"
    page = site / "book/a.html"
    assert (
        link_problems(site, page, BASE, [binder.format("a.ipynb"), colab.format("a.ipynb")]) == []
    )
    problems = link_problems(site, page, BASE, [binder.format("a.md"), colab.format("b.ipynb")])
    assert len(problems) == 2 and all("launch button" in problem for problem in problems)


def notebook(*cells: dict) -> str:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": list(cells)})


def code(count: int | None, tags: tuple[str, ...] = ()) -> dict:
    return {"cell_type": "code", "execution_count": count, "metadata": {"tags": list(tags)}}


def test_notebooks_must_have_been_executed(site):
    assert notebook_problems(site) == ["no chapter notebooks under _sources/"]
    write(site, "_sources/book/a.ipynb", notebook(code(None, ("deepfound-setup",)), code(1)))
    assert notebook_problems(site) == []
    write(site, "_sources/book/b.ipynb", notebook(code(1), code(None)))
    write(site, "_sources/book/c.ipynb", "not json")
    problems = notebook_problems(site)
    assert problems[0] == "_sources/book/b.ipynb: code cells [1] were not executed"
    assert problems[1].startswith("_sources/book/c.ipynb: not a notebook")


@pytest.mark.parametrize(
    "text",
    [r"where \(x^2\) is", r"\[ \bar x_{ik} = \sum_j \]", "$$ L = 1 $$", r"$\sqrt{n}$", "$x_i$"],
)
def test_raw_tex_is_found(text):
    assert RAW_TEX.search(f"The formula {text} again.")


@pytest.mark.parametrize("text", ["costs $5 and $10", "a shell prompt $ ls", "x = (a[0])"])
def test_text_that_is_not_tex_passes(text):
    assert not RAW_TEX.search(text)
