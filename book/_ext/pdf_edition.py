"""The PDF edition: what the single-page build it is printed from needs, and its download link.

``nox -s pdf`` builds the book as one HTML page (Sphinx's ``singlehtml`` builder) and prints
it with Chromium (``tests/make_pdf.py``). myst-nb teaches only the ``html`` builder its
collapsible code cells; this extension teaches ``singlehtml`` the same. And when the PDF
exists (``pdf_edition`` in the configuration, relative to the project), the HTML build
copies it into the site and adds it to every page's download menu.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PDF_NAME = "deepfound.pdf"


def _pdf_source(app) -> Path | None:
    path = Path(app.confdir, app.config.pdf_edition) if app.config.pdf_edition else None
    return path if path is not None and path.is_file() else None


def _add_download(app, pagename, templatename, context, doctree) -> None:
    if app.builder.name != "html" or _pdf_source(app) is None:
        return
    for group in context.get("header_buttons", []):
        if group.get("label") == "download-buttons":
            group["buttons"].append(
                {
                    "type": "link",
                    "url": context["pathto"](PDF_NAME, 1),  # at the root of the site
                    "text": ".pdf (the book)",
                    "tooltip": "Download the whole book as a PDF",
                    "icon": "fas fa-file-pdf",
                    "label": "download-book-pdf-button",
                }
            )


def _copy_pdf(app, exception) -> None:
    source = _pdf_source(app)
    if exception is None and app.builder.name == "html" and source is not None:
        shutil.copyfile(source, Path(app.outdir, PDF_NAME))


def setup(app) -> dict:
    # Imported here: the doctests collect this module without the book's tools installed.
    from myst_nb.sphinx_ import HideCodeCellNode, depart_HideCellInput, visit_HideCellInput

    app.add_config_value("pdf_edition", "", "html")
    app.add_node(
        HideCodeCellNode,
        override=True,
        html=(visit_HideCellInput, depart_HideCellInput),
        singlehtml=(visit_HideCellInput, depart_HideCellInput),
    )
    # After the theme's download buttons (priority 501).
    app.connect("html-page-context", _add_download, priority=600)
    app.connect("build-finished", _copy_pdf)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
