"""Sphinx extension: what a reader's browser would otherwise report as errors on every page.

- The theme reads the colour mode from the browser's storage, falling back on the page's
  ``default_mode``; left empty, a first visit logs "Got invalid theme mode".
- Some extensions add their inline configuration script once per build phase, so a page can
  carry it twice, and the second ``const`` declaration is a JavaScript error.
- The site's ``index.html`` only sends the browser on to the first chapter. Left as a bare
  ``<meta>`` redirect, it names no icon, and the browser asks for ``/favicon.ico``, which the
  site does not have: a 404 in the console. It is written here as a whole page instead.
- Code 80 characters wide must fit the text column without a scrollbar: ``static/deepfound.css``
  sets the size of code's font (and wraps the package's longer lines).
"""

from __future__ import annotations

import html
from pathlib import Path


def unique_scripts(scripts: list) -> list:
    """``scripts`` without repeats of a script already listed (same file, same attributes).

    An inline script has no file: Sphinx records that as ``None`` or as ``""``, depending on
    when it was added, so the two count as the same.

    Examples
    --------
    >>> unique_scripts(["a.js", "b.js", "a.js"])
    ['a.js', 'b.js']
    """
    seen, kept = set(), []
    for script in scripts:
        attributes = getattr(script, "attributes", {})
        key = (getattr(script, "filename", script) or "", tuple(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    return kept


def _fix_page(app, pagename, templatename, context, doctree) -> None:
    if not context.get("default_mode"):
        context["default_mode"] = "auto"  # follow the reader's system setting
    if "script_files" in context:
        context["script_files"] = unique_scripts(context["script_files"])


def redirect_page(target: str, title: str, icon: str | None) -> str:
    """A page that sends the browser on to ``target``, with a link for one that does not follow.

    Examples
    --------
    >>> page = redirect_page("book/intro.html", "deepfound", "_static/favicon.svg")
    >>> '<link rel="icon" href="_static/favicon.svg">' in page
    True
    >>> '<meta http-equiv="refresh" content="0; url=book/intro.html">' in page
    True
    """
    target, title = html.escape(target), html.escape(title)
    icon_link = f'<link rel="icon" href="{html.escape(icon)}">\n' if icon else ""
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n{icon_link}"
        f'<meta http-equiv="refresh" content="0; url={target}">\n</head>\n'
        f'<body><p><a href="{target}">{title}</a></p></body>\n</html>\n'
    )


def _write_index(app, exception) -> None:
    root = app.config.root_doc
    if exception is not None or app.builder.name != "html" or root == "index":
        return
    favicon = app.config.html_favicon
    icon = f"_static/{Path(favicon).name}" if favicon else None
    page = redirect_page(f"{root}.html", app.config.html_title or app.config.project, icon)
    Path(app.outdir, "index.html").write_text(page, encoding="utf-8")


def _add_static(app, config) -> None:
    config.html_static_path.append(str(Path(__file__).with_name("static")))


def setup(app) -> dict:
    """Register the fixes with Sphinx."""
    app.connect("config-inited", _add_static)
    app.add_css_file("deepfound.css")
    app.connect("html-page-context", _fix_page)
    # Before sphinx-external-toc's handler (priority 500), which writes a bare redirect when
    # it finds no index.html.
    app.connect("build-finished", _write_index, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
