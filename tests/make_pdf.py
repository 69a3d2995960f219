"""Print the book's single-page HTML build to a PDF with headless Chromium, then check the PDF.

``nox -s pdf`` runs this after building ``singlehtml``::

    python tests/make_pdf.py _build/pdf/_build/singlehtml _build/pdf/deepfound.pdf

The page is served on 127.0.0.1 and opened in Debian's Chromium (as ``nox -s browser``
does); once MathJax has typeset every formula and every image has loaded, a print style sheet
hides the site's navigation, starts each chapter on a new page and wraps code that is wider
than the page, and Chromium prints it (DevTools' ``Page.printToPDF``): A4, page numbers in the
footer, PDF bookmarks from the headings. The pages' text tells on which page each chapter
starts (at the top of a page of its own); a table of contents with those numbers is printed
next and put in front of the book.

The PDF is then read back with pypdf: its text must hold every chapter's title and no raw TeX
(``\\frac``, ``$$``: a formula MathJax did not typeset). Exits with 1, naming what is wrong,
if not; the PDF is written only when it passes (to a temporary file first).
"""

from __future__ import annotations

import argparse
import base64
import io
import re
import sys
import tempfile
import time
from pathlib import Path

from browser_check import chromium, serve

# Left in the text of a PDF, these mean a formula was printed before MathJax typeset it.
RAW_TEX = re.compile(r"\\frac|\\sum|\\mathbf|\\left|\$\$|\\\(|\\\[")

PREPARE = """
const done = arguments[arguments.length - 1];
async function prepare() {
  for (const img of document.images) img.loading = "eager";
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));
  if (document.querySelector('script[src*="mathjax"]')) {
    const started = Date.now();
    while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
      if (Date.now() - started > 30000) throw new Error("MathJax did not start");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await MathJax.startup.promise;
  }
  const style = document.createElement("style");
  style.textContent = `
    .bd-header, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article,
    .prev-next-area, .bd-footer, .bd-footer-article, .bd-footer-content, footer,
    .headerlink, #pst-back-to-top, .copybtn { display: none !important; }
    .bd-main .bd-content .bd-article-container, .bd-page-width { max-width: none !important; }
    pre { white-space: pre-wrap !important; overflow-wrap: anywhere; }
    .chapter-start { break-before: page; }
    img { max-width: 100% !important; break-inside: avoid; }
  `;
  document.head.appendChild(style);
  // Each included page of the single-page build starts after a <span id="document-NAME">.
  const titles = [];
  for (const span of document.querySelectorAll('span[id^="document-"]')) {
    const section = span.nextElementSibling;
    const heading = section && section.querySelector("h1, h2");
    if (!heading) continue;
    section.classList.add("chapter-start");
    titles.push(heading.textContent.replace(/#$/, "").trim());
  }
  const headings = [...document.querySelectorAll("h1, h2, h3, h4, h5, h6")]
    .map((h) => h.textContent.replace(/#$/, "").trim());
  return {titles, headings};
}
prepare().then(done, (error) => done({error: String(error)}));
"""

# Replaces the page once the book is printed: the contents, from the chapters' start pages.
CONTENTS = """
const [titles, pages] = arguments;
const style = document.createElement("style");
style.textContent = `
  #pdf-contents { font-size: 1.1em; padding: 2em 0; }
  #pdf-contents li { display: flex; list-style: none; margin: 0.4em 0; }
  #pdf-contents .title { flex: 1; }`;
document.head.appendChild(style);
const contents = document.createElement("div");
contents.id = "pdf-contents";
contents.innerHTML = "<h1>Contents</h1><ol></ol>";
titles.forEach((title, i) => {
  const item = document.createElement("li");
  item.innerHTML = '<span class="title"></span><span class="page"></span>';
  item.querySelector(".title").textContent = title;
  item.querySelector(".page").textContent = pages[i];
  contents.querySelector("ol").appendChild(item);
});
document.body.replaceChildren(contents);
"""

FOOTER = (
    '<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
    '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
)


def print_pdf(driver, numbered: bool = True) -> bytes:
    """The page as Chromium prints it: A4, numbered pages, bookmarks from the headings."""
    result = driver.execute_cdp_cmd(
        "Page.printToPDF",
        {
            "paperWidth": 8.27,
            "paperHeight": 11.69,
            "marginTop": 0.6,
            "marginBottom": 0.7,
            "marginLeft": 0.6,
            "marginRight": 0.6,
            "printBackground": True,
            "displayHeaderFooter": numbered,
            "headerTemplate": "<span></span>",
            "footerTemplate": FOOTER,
            "generateDocumentOutline": True,
            "generateTaggedPDF": True,
        },
    )
    return base64.b64decode(result["data"])


def page_texts(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages]


def _squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def start_pages(texts: list[str], titles: list[str]) -> list[int]:
    """The 1-based page each title opens, in order: the first, after the previous one's, whose
    text starts with it (every chapter starts on a new page)."""
    pages, current = [], 0
    squeezed = [_squeeze(text) for text in texts]
    for title in titles:
        wanted = _squeeze(title)
        for number in range(current + 1, len(texts) + 1):
            if squeezed[number - 1].startswith(wanted):
                pages.append(number)
                current = number
                break
        else:
            raise ValueError(f"chapter {title!r} not found in the printed pages")
    return pages


def merge(contents: bytes, body: bytes, headings: list[str]) -> bytes:
    """The contents' pages, then the book's, with bookmarks: the contents, then the book's.

    Chromium drops the space where a heading's text wraps onto a second line; the bookmarks
    take their titles from ``headings``, the headings' texts in the page.
    """
    from pypdf import PdfReader, PdfWriter

    book = PdfReader(io.BytesIO(body))
    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(contents)), import_outline=False)
    offset = len(writer.pages)
    writer.append(book, import_outline=False)
    writer.add_outline_item(title="Contents", page_number=0)
    spelled = {"".join(text.split()): text for text in headings}
    outline = list(book.outline)
    # Chromium nests every heading under the page's one <h1>, the book's title: the chapters
    # become its siblings instead, so that the bookmarks open on them.
    if len(outline) == 2 and isinstance(outline[1], list):
        outline = [outline[0], *outline[1]]

    def add(items: list, parent) -> None:
        last = None
        for item in items:
            if isinstance(item, list):
                add(item, last)
            else:
                page = book.get_destination_page_number(item) + offset
                title = spelled.get("".join(item.title.split()), item.title)
                last = writer.add_outline_item(title=title, page_number=page, parent=parent)

    add(outline, None)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def problems(texts: list[str], titles: list[str]) -> list[str]:
    """What is wrong with the PDF's text: a chapter title missing, raw TeX."""
    text = "\n".join(texts)
    squeezed = _squeeze(text)
    found = [f"chapter title missing: {t!r}" for t in titles if _squeeze(t) not in squeezed]
    for match in RAW_TEX.finditer(text):
        context = text[max(match.start() - 40, 0) : match.end() + 40]
        found.append(f"raw TeX in the text: ...{_squeeze(context)}...")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html", type=Path, help="the singlehtml build's folder")
    parser.add_argument("output", type=Path, help="the PDF to write")
    args = parser.parse_args(argv)
    page = args.html / "book" / "intro.html"
    if not page.is_file():
        print(f"make_pdf: {page} not found: build the singlehtml edition first", file=sys.stderr)
        return 1
    # The single page is written to book/intro.html, but its links and images are relative to
    # the build's root: a copy at the root sees them all.
    at_root = args.html / "deepfound-print.html"
    at_root.write_bytes(page.read_bytes())
    start = time.perf_counter()
    with (
        tempfile.TemporaryDirectory() as profile,
        serve(args.html) as base,
        chromium(Path(profile)) as driver,
    ):
        driver.set_script_timeout(120)
        driver.get(f"{base}{at_root.name}")
        page_info = driver.execute_async_script(PREPARE)
        if "error" in page_info:
            print(f"make_pdf: the page did not get ready: {page_info['error']}", file=sys.stderr)
            return 1
        titles = page_info["titles"]
        body = print_pdf(driver)
        texts = page_texts(body)
        numbers = start_pages(texts, titles)
        driver.execute_script(CONTENTS, titles, numbers)
        contents = print_pdf(driver, numbered=False)
    pdf = merge(contents, body, page_info["headings"])
    found = problems(texts + page_texts(contents), titles)
    if found:
        print("make_pdf: the PDF is not right:", *found, sep="\n  ", file=sys.stderr)
        return 1
    args.output.parent.mkdir(parents=True, exist_ok=True)
    partial = args.output.with_suffix(".pdf.partial")
    partial.write_bytes(pdf)
    partial.replace(args.output)
    print(
        f"make_pdf: {args.output}: {len(texts)} pages and the contents, {len(titles)} chapters, "
        f"{len(pdf) / 2**20:.1f} MiB, in {time.perf_counter() - start:.0f} s"
    )
    for title, number in zip(titles, numbers, strict=True):
        print(f"  {number:4}  {title}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
