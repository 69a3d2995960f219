"""Check the built book the way a reader gets it: every page, in a real browser, offline.

``nox -s browser`` runs this after ``nox -s book``::

    python tests/browser_check.py [_build/html] [--screenshots _build/screenshots]

First, without a browser, every page of the build is scanned for scripts, stylesheets, fonts
or images fetched from outside the site, and every chapter notebook offered for download is
checked to have been executed. Then the build is served on 127.0.0.1 and every page found in
it is opened in headless Chromium (Debian's ``chromium`` and ``chromium-driver``), which must
show: no JavaScript console errors; no request to any other host; every image loaded; every
formula typeset by MathJax and no raw TeX (``\\(``, ``\\[``, ``$$``, ``$...$``) left in the
text; no displayed formula and no code (outputs aside) wider than the text column of a
1280-pixel window; every link
within the site pointing at a file of the build, and every ``#anchor`` at an element of that
page; every Binder or Colab launch button at a notebook of the build. A
screenshot of each page is saved, and the search page must find "Kaiming". The script exits
with status 1 and lists every problem if anything is wrong.
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Debian's, unless the environment names others (as on a CI runner with Google Chrome).
CHROMIUM = os.environ.get("DEEPFOUND_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("DEEPFOUND_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
]
# Folders of the build that hold assets, not pages (theme templates end in .html too).
NOT_PAGES = {"_static", "_sources", "_images", "_downloads"}
SEARCH_WORD = "Kaiming"
# A launch button opens a notebook of the `notebooks` branch, which the publishing workflow
# fills with the build's _sources/**/*.ipynb: the path after the branch is a file there.
LAUNCH_URLS = [
    re.compile(r"^https://mybinder\.org/v2/gh/[^/]+/[^/]+/[^/?]+\?urlpath=tree/(?P<path>.+)$"),
    re.compile(
        r"^https://colab\.research\.google\.com/github/[^/]+/[^/]+/blob/[^/]+/(?P<path>.+)$"
    ),
]
# Raw TeX in the text of a page: a formula MathJax did not typeset. A `$...$` pair counts only
# when what is between looks like TeX, so that prices and shell prompts do not.
RAW_TEX = re.compile(r"\\\(|\\\[|\$\$|\$[^$\s][^$]*?[\\^_{}][^$]*?\$")


class _Tags(HTMLParser):
    """The start tags of an HTML file, as (tag, attributes) pairs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))


@functools.cache
def tags_of(path: Path) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of the HTML file at ``path``."""
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.tags


def ids_of(path: Path) -> set[str]:
    """The ``id`` and ``name`` values of the HTML file: the anchors a link can point at."""
    return {attrs[key] for _, attrs in tags_of(path) for key in ("id", "name") if key in attrs}


def html_pages(root: Path) -> list[Path]:
    """Every page of the build under ``root``, found on disk rather than listed."""
    return sorted(
        path
        for path in root.rglob("*.html")
        if not NOT_PAGES.intersection(path.relative_to(root).parts[:-1])
    )


def is_external(url: str) -> bool:
    """Whether a URL in a page reaches outside the site (another host, or scheme-relative)."""
    return url.startswith("//") or urlsplit(url).scheme in {"http", "https", "ftp", "ws", "wss"}


# <link rel=...> kinds the browser fetches on its own (a canonical or next link it does not).
LOADED_LINKS = {"stylesheet", "icon", "preload", "modulepreload", "prefetch", "manifest"}
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


def external_resources(root: Path) -> list[str]:
    """Scripts, stylesheets, fonts, images and frames that the build loads from outside.

    Links a reader follows (``<a href>``) are not resources and are not reported.
    """
    found = []
    for page in html_pages(root):
        for tag, attrs in tags_of(page):
            urls = [attrs.get("src", "")]
            urls += [choice.split()[0] for choice in attrs.get("srcset", "").split(",") if choice]
            if tag == "link" and LOADED_LINKS.intersection(attrs.get("rel", "").lower().split()):
                urls.append(attrs.get("href", ""))
            urls += [a or b for a, b in CSS_URL.findall(attrs.get("style", ""))]
            found += [
                f"{page.relative_to(root)}: <{tag}> {url}" for url in urls if is_external(url)
            ]
    for sheet in sorted(root.rglob("*.css")):
        for a, b in CSS_URL.findall(sheet.read_text(encoding="utf-8", errors="replace")):
            if is_external(a or b):
                found.append(f"{sheet.relative_to(root)}: {a or b}")
    return found


def notebook_problems(root: Path) -> list[str]:
    """Problems of the chapter notebooks offered for download (``_sources/**/*.ipynb``).

    Each must be a notebook whose code cells were all executed by the build (the cell that
    installs deepfound elsewhere excepted).
    """
    problems = []
    notebooks = sorted((root / "_sources").rglob("*.ipynb"))
    if not notebooks:
        problems.append("no chapter notebooks under _sources/")
    for path in notebooks:
        name = path.relative_to(root)
        try:
            notebook = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as error:
            problems.append(f"{name}: not a notebook: {error}")
            continue
        if notebook.get("nbformat") != 4:
            problems.append(f"{name}: not an nbformat 4 notebook")
            continue
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        unrun = [
            i
            for i, cell in enumerate(code)
            if cell.get("execution_count") is None
            and "deepfound-setup" not in cell.get("metadata", {}).get("tags", [])
        ]
        if unrun:
            problems.append(f"{name}: code cells {unrun} were not executed")
    return problems


def link_problems(root: Path, page: Path, base: str, links: list[str]) -> list[str]:
    """Problems of the links of ``page`` (URLs as the browser resolved them)."""
    problems = []
    for link in links:
        parts = urlsplit(link)
        if link.startswith(base):
            path = unquote(parts.path)
            target = root / path.lstrip("/")
            if path.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                problems.append(f"link to a missing file: {link}")
            elif parts.fragment and target.suffix == ".html":
                if unquote(parts.fragment) not in ids_of(target):
                    problems.append(f"link to a missing anchor: {link}")
            continue
        for pattern in LAUNCH_URLS:
            match = pattern.match(link)
            if match and not (root / "_sources" / unquote(match["path"])).is_file():
                problems.append(f"launch button for a notebook not in the build: {link}")
    return problems


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # one line per request would bury the report
        pass


class _Server(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The browser hangs up on answers it no longer wants (a 404 for /favicon.ico, which
        # Chromium asks for on its own): nothing to report. Any other error is.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1, on a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def chromium(profile: Path) -> Iterator:
    """Headless Debian Chromium through its own chromedriver; nothing is downloaded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for program in (CHROMIUM, CHROMEDRIVER):
        if not Path(program).is_file():
            raise SystemExit(
                f"browser_check: {program} not found: apt-get install chromium chromium-driver"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


# Runs in the page: waits for MathJax (if the page loads it) and for every image, then reports.
INSPECT = """
const done = arguments[arguments.length - 1];
const report = {};
const started = Date.now();
async function mathjax() {
  if (!document.querySelector('script[src*="mathjax"]')) return "not loaded";
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (Date.now() - started > 20000) return "did not start";
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await MathJax.startup.promise;
  return "ready";
}
async function inspect() {
  for (const img of document.images) img.loading = "eager";
  await Promise.all([...document.images].map((img) => img.decode().catch(() => null)));
  report.mathjax = await mathjax();
  report.images = [...document.images].map((img) => ({
    src: img.currentSrc || img.src, loaded: img.complete && img.naturalWidth > 0,
  }));
  const maths = [...document.querySelectorAll(".math")];
  report.maths = maths.length;
  report.untypeset = maths.filter((m) => !m.querySelector("mjx-container"))
    .map((m) => m.textContent.slice(0, 80));
  report.mathErrors = [...document.querySelectorAll("mjx-merror")]
    .map((m) => m.textContent.slice(0, 80));
  // A displayed formula wider than the column shows a scrollbar and hides its end.
  report.wideMath = [...document.querySelectorAll('mjx-container[display="true"]')]
    .filter((m) => m.scrollWidth > m.clientWidth + 1)
    .map((m) => ({width: m.scrollWidth, column: m.clientWidth,
      text: (m.querySelector("mjx-assistive-mml") || m).textContent.slice(0, 60)}));
  // Code that scrolls sideways hides the end of its lines (outputs may: they are not code).
  report.wideCode = [...document.querySelectorAll(".bd-article div.highlight pre")]
    .filter((p) => !p.closest(".cell_output") && p.scrollWidth > p.clientWidth + 1)
    .map((p) => ({width: p.scrollWidth, column: p.clientWidth,
      line: p.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), "")}));
  const skip = "script, style, pre, code, kbd, samp, textarea, mjx-container";
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  report.text = [];
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    if (parent && !parent.closest(skip)) report.text.push(walker.currentNode.textContent);
  }
  report.text = report.text.join(" ");
  report.links = [...document.querySelectorAll("a[href]")]
    .filter((a) => /^https?:/.test(a.href)).map((a) => a.href);
  return report;
}
inspect().then(done, (error) => done({error: String(error)}));
"""


def screenshot(driver, path: Path) -> None:
    """A PNG of the whole page, not only the window (capped at 20,000 pixels high)."""
    width, height = driver.execute_script(
        "return [window.innerWidth, document.documentElement.scrollHeight]"
    )
    # A window as tall as the page: the layout stays the one a reader sees at this width.
    metrics = {
        "width": width,
        "height": min(height, 20000),
        "deviceScaleFactor": 1,
        "mobile": False,
    }
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    try:
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    path.write_bytes(base64.b64decode(shot["data"]))


def requests_elsewhere(driver, base: str) -> list[str]:
    """URLs the page requested from anywhere but the local server, since the last call."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            # The browser's own pages (chrome://, data:, about:blank) are not the site's.
            if is_external(url) and not url.startswith(base):
                urls.append(url)
    return urls


def is_redirect(page: Path) -> bool:
    """Whether the page only sends the browser on to another (``<meta http-equiv=refresh>``)."""
    return any(
        tag == "meta" and attrs.get("http-equiv", "").lower() == "refresh"
        for tag, attrs in tags_of(page)
    )


def open_page(driver, url: str, redirect: bool) -> None:
    """Load ``url`` and wait until the page, or the page it redirects to, has loaded."""
    from selenium.common.exceptions import WebDriverException

    driver.get(url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            arrived = not redirect or driver.current_url != url
            if arrived and driver.execute_script(
                "return document.readyState === 'complete' && document.body !== null"
            ):
                return
        except WebDriverException:  # the document went away mid-script: a redirect
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not finish loading in 30 s")


def check_page(driver, root: Path, page: Path, base: str, shots: Path) -> tuple[list[str], str]:
    """Open one page; list what is wrong with it, and say what was checked."""
    relative = page.relative_to(root).as_posix()
    open_page(driver, base + relative, is_redirect(page))
    report = driver.execute_async_script(INSPECT)
    if "error" in report:
        return [f"the page could not be inspected: {report['error']}"], ""
    links = report["links"]
    launch = [link for link in links if any(p.match(link) for p in LAUNCH_URLS)]
    checked = (
        f"{report['maths']} formulas, {len(report['images'])} images, "
        f"{sum(link.startswith(base) for link in links)} links within the site, "
        f"{len(launch)} launch buttons"
    )
    problems = [
        f"console error: {entry['message']}"
        for entry in driver.get_log("browser")
        if entry["level"] == "SEVERE"
    ]
    problems += [f"request outside the site: {url}" for url in requests_elsewhere(driver, base)]
    problems += [
        f"image not loaded: {image['src']}" for image in report["images"] if not image["loaded"]
    ]
    if report["maths"] and report["mathjax"] != "ready":
        problems.append(f"{report['maths']} formulas but MathJax {report['mathjax']}")
    problems += [f"formula not typeset: {text}" for text in report["untypeset"]]
    problems += [f"MathJax error: {text}" for text in report["mathErrors"]]
    problems += [
        f"formula wider than the text column ({m['width']} px in {m['column']} px): {m['text']}"
        for m in report["wideMath"]
    ]
    problems += [
        f"code wider than the text column ({c['width']} px in {c['column']} px): {c['line']}"
        for c in report["wideCode"]
    ]
    for match in RAW_TEX.finditer(report["text"]):
        context = report["text"][max(match.start() - 30, 0) : match.end() + 30]
        problems.append(f"raw TeX in the text: ...{' '.join(context.split())}...")
    problems += link_problems(root, page, base, report["links"])
    shot = shots / (relative.replace("/", "__").removesuffix(".html") + ".png")
    screenshot(driver, shot)
    return problems, checked


def check_search(driver, base: str) -> list[str]:
    """The search page, asked for SEARCH_WORD, must list at least one page."""
    driver.get(f"{base}search.html?q={SEARCH_WORD}")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        summary = driver.execute_script(
            "const s = document.querySelector('#search-results .search-summary');"
            "return s ? s.textContent : '';"
        )
        if summary and "Searching" not in summary:
            break
        time.sleep(0.2)
    results = driver.execute_script(
        "return [...document.querySelectorAll('#search-results ul.search li a')]"
        ".map((a) => a.getAttribute('href'));"
    )
    print(f"search for {SEARCH_WORD!r}: {len(results)} results {sorted(set(results))[:6]}")
    if not results:
        return [f"search for {SEARCH_WORD!r} found nothing (summary: {summary!r})"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", nargs="?", default="_build/html", type=Path)
    parser.add_argument(
        "--screenshots",
        default=None,
        type=Path,
        help="folder for the screenshots (default: beside the html folder)",
    )
    args = parser.parse_args(argv)
    root = args.html.resolve()
    if not (root / "index.html").is_file():
        print(f"browser_check: no built book in {root}: run `nox -s book` first", file=sys.stderr)
        return 2
    shots = args.screenshots or root.parent / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    problems = {"(build)": external_resources(root) + notebook_problems(root)}
    pages = html_pages(root)
    with tempfile.TemporaryDirectory() as profile, serve(root) as base:
        with chromium(Path(profile)) as driver:
            driver.get_log("performance")  # the new-tab page's requests are the browser's own
            for page in pages:
                found, checked = check_page(driver, root, page, base, shots)
                problems[page.relative_to(root).as_posix()] = found
                verdict = "ok " if not found else "BAD"
                print(f"{verdict} {page.relative_to(root)}: {checked}", flush=True)
            problems[f"search.html?q={SEARCH_WORD}"] = check_search(driver, base)
    failed = {name: found for name, found in problems.items() if found}
    for name, found in failed.items():
        print(f"\n{name}:")
        for problem in found:
            print(f"  {problem}")
    seconds = time.perf_counter() - start
    print(f"\n{len(pages)} pages checked in {seconds:.1f} s, screenshots in {shots}")
    # The build scan, each page and the search are one check each.
    print(f"browser: {len(problems) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
