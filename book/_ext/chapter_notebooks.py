"""Sphinx extension: each chapter as a notebook to download, or to open on Binder or Colab.

The chapters' outputs come from jupyter-cache, and the theme offers each chapter's notebook
in the page's download menu (``_sources/<page>.ipynb``). MyST-NB writes that notebook
without the outputs it took from the cache: this extension merges them back in from the
cache, so that the download is the executed notebook. It also puts a first cell into it,
which installs deepfound where it is missing (Colab, Binder, a reader's own Jupyter), and
points the theme's launch buttons at the same notebooks, which the publishing workflow
pushes to the branch ``notebooks_branch``.
"""

from __future__ import annotations

import json
from pathlib import Path

from provenance import is_exact

SETUP_TAG = "deepfound-setup"


def setup_cell(requirement: str) -> dict:
    """The notebook's first cell: install ``requirement`` unless deepfound imports already.

    Examples
    --------
    >>> cell = setup_cell("deepfound")
    >>> cell["cell_type"], cell["metadata"]["tags"]
    ('code', ['deepfound-setup'])
    >>> print(cell["source"].splitlines()[-1])
        %pip install --quiet "deepfound" myst-nb matplotlib
    """
    source = (
        "# Outside a checkout of the book (Colab, Binder, a download), install the deepfound\n"
        "# this page was built from, and the notebook tools its cells use.\n"
        "import importlib.util\n"
        "\n"
        'if importlib.util.find_spec("deepfound") is None:\n'
        f'    %pip install --quiet "{requirement}" myst-nb matplotlib'
    )
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {"tags": [SETUP_TAG]},
        "outputs": [],
        "source": source,
    }


def add_setup_cell(path: str | Path, requirement: str) -> None:
    """Insert :func:`setup_cell` at the top of the notebook at ``path``, once.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = Path(folder) / "page.ipynb"
    ...     _ = path.write_text(json.dumps({"cells": [], "nbformat": 4}))
    ...     add_setup_cell(path, "deepfound")
    ...     add_setup_cell(path, "deepfound")
    ...     print(len(json.loads(path.read_text())["cells"]))
    1
    """
    path = Path(path)
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = notebook["cells"]
    if cells and SETUP_TAG in cells[0].get("metadata", {}).get("tags", []):
        return
    cells.insert(0, setup_cell(requirement))
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def notebook_launch_url(url: str, branch: str, notebooks_branch: str) -> str:
    """Point a Binder or Colab launch URL made for ``<page>.md`` on ``branch`` at the notebook.

    Examples
    --------
    >>> notebook_launch_url(
    ...     "https://mybinder.org/v2/gh/o/r/main?urlpath=tree/book/01_data.md", "main", "nb"
    ... )
    'https://mybinder.org/v2/gh/o/r/nb?urlpath=tree/book/01_data.ipynb'
    >>> notebook_launch_url(
    ...     "https://colab.research.google.com/github/o/r/blob/main/book/01_data.md", "main", "nb"
    ... )
    'https://colab.research.google.com/github/o/r/blob/nb/book/01_data.ipynb'
    >>> notebook_launch_url("https://example.org/x.md", "main", "nb")
    Traceback (most recent call last):
    ValueError: notebook_launch_url: not a Binder or Colab URL for a page on 'main': https://example.org/x.md
    """
    for before, after in (
        (f"/{branch}?urlpath=", f"/{notebooks_branch}?urlpath="),
        (f"/blob/{branch}/", f"/blob/{notebooks_branch}/"),
    ):
        if before in url and url.endswith(".md"):
            return url.replace(before, after, 1).removesuffix(".md") + ".ipynb"
    raise ValueError(
        f"notebook_launch_url: not a Binder or Colab URL for a page on {branch!r}: {url}"
    )


def fill_outputs(path: str | Path, cache_path: str | Path) -> bool:
    """Give the notebook at ``path`` the outputs the cache holds for its code; whether it had any.

    A notebook that already starts with the setup cell was filled before: its code is no
    longer the chapter's, and it is left alone.
    """
    import nbformat
    from jupyter_cache import get_cache

    notebook = nbformat.read(str(path), as_version=4)
    cells = notebook.cells
    if cells and SETUP_TAG in cells[0].get("metadata", {}).get("tags", []):
        return False
    try:
        _, merged = get_cache(cache_path).merge_match_into_notebook(notebook)
    except KeyError:  # not in the cache: the build executed it itself, outputs in place
        return False
    nbformat.write(merged, str(path))
    return True


def _point_at_notebooks(app, pagename, templatename, context, doctree) -> None:
    ipynb = context.get("ipynb_source")
    if not ipynb:
        return
    config = app.env.mystnb_config
    if config.execution_mode == "cache":
        fill_outputs(Path(app.outdir, "_sources", ipynb), config.execution_cache_path)
    commit = app.env.deepfound_provenance["commit"]
    repository = context.get("theme_repository_url", "")
    pinned = commit if is_exact(commit) else "main"
    add_setup_cell(Path(app.outdir, "_sources", ipynb), f"deepfound @ git+{repository}@{pinned}")
    branch = context.get("theme_repository_branch") or "main"
    for group in context.get("header_buttons", []):
        if group.get("label") == "launch-buttons":
            for button in group["buttons"]:
                if button.get("type") == "link":
                    button["url"] = notebook_launch_url(
                        button["url"], branch, app.config.notebooks_branch
                    )


def setup(app) -> dict:
    """Register the notebook cell and the launch links with Sphinx (after the theme's)."""
    app.setup_extension("provenance")
    app.add_config_value("notebooks_branch", "notebooks", "html")
    # The theme adds the launch buttons and copies the notebook at priority 501.
    app.connect("html-page-context", _point_at_notebooks, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
