"""Sphinx extension: what a reader's browser would otherwise report as errors on every page.

- The theme reads the colour mode from the browser's storage, falling back on the page's
  ``default_mode``; left empty, a first visit logs "Got invalid theme mode".
- Some extensions add their inline configuration script once per build phase, so a page can
  carry it twice, and the second ``const`` declaration is a JavaScript error.
"""

from __future__ import annotations


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


def setup(app) -> dict:
    """Register the fixes with Sphinx."""
    app.connect("html-page-context", _fix_page)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
