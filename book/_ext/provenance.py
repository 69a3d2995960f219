"""Sphinx extension: each page's footer names what the book was built and checked with.

The deepfound version, the commit and the numpy and PyTorch versions are read while the book
builds, from the very packages that executed its cells, so the footer cannot go stale.
"""

from __future__ import annotations

import html
import subprocess
from importlib import metadata
from pathlib import Path


def git_commit(folder: str | Path) -> str:
    """Short hash of the checked-out commit, with ``+modified`` for uncommitted changes.

    ``"unknown"`` outside a git checkout or without git.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     print(git_commit(folder))
    unknown
    """

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(folder), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        if git("rev-parse", "--show-toplevel") == "":
            return "unknown"
        commit = git("rev-parse", "--short", "HEAD")
        modified = git("status", "--porcelain", "--untracked-files=no") != ""
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("+modified" if modified else "")


def is_exact(commit: str) -> bool:
    """Whether ``commit`` (as :func:`git_commit` gives it) names the very sources of the build.

    Examples
    --------
    >>> is_exact("abc1234"), is_exact("abc1234+modified"), is_exact("unknown")
    (True, False, False)
    """
    return commit != "unknown" and "+" not in commit


def package_version(name: str) -> str:
    """Installed version of a distribution, or ``"not installed"``.

    Examples
    --------
    >>> import numpy
    >>> package_version("numpy") == numpy.__version__
    True
    >>> package_version("no-such-distribution")
    'not installed'
    """
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance(folder: str | Path) -> dict[str, str]:
    """What the book in ``folder`` is being built with: deepfound, commit, numpy, PyTorch.

    deepfound's version is the imported package's, so a checkout on ``PYTHONPATH`` counts
    even where deepfound is not installed.

    Examples
    --------
    >>> import deepfound
    >>> info = provenance(".")
    >>> sorted(info)
    ['commit', 'deepfound', 'numpy', 'torch']
    >>> info["deepfound"] == deepfound.__version__
    True
    """
    import deepfound

    return {
        "deepfound": deepfound.__version__,
        "commit": git_commit(folder),
        "numpy": package_version("numpy"),
        "torch": package_version("torch"),
    }


def footer_html(info: dict[str, str], repository_url: str = "") -> str:
    """The footer sentence; the commit links to the repository when both are known.

    Examples
    --------
    >>> info = {"deepfound": "0.1.0", "commit": "abc1234", "numpy": "2.4.6", "torch": "2.13.0"}
    >>> print(footer_html(info))
    <p class="provenance">Built from deepfound 0.1.0, commit abc1234, and checked with
    numpy 2.4.6 and PyTorch 2.13.0.</p>
    >>> print(footer_html(info, "https://github.com/o/r"))
    <p ...commit <a href="https://github.com/o/r/commit/abc1234">abc1234</a>, and ...</p>
    """
    commit = html.escape(info["commit"])
    if repository_url and is_exact(info["commit"]):
        commit = f'<a href="{html.escape(repository_url)}/commit/{commit}">{commit}</a>'
    return (
        f'<p class="provenance">Built from deepfound {html.escape(info["deepfound"])}, '
        f"commit {commit}, and checked with numpy {html.escape(info['numpy'])} "
        f"and PyTorch {html.escape(info['torch'])}.</p>"
    )


def _add_footer(app, pagename, templatename, context, doctree) -> None:
    footer = footer_html(app.env.deepfound_provenance, context.get("theme_repository_url", ""))
    context["theme_extra_footer"] = context.get("theme_extra_footer", "") + footer


def _read_provenance(app) -> None:
    app.env.deepfound_provenance = provenance(app.srcdir)


def setup(app) -> dict:
    """Register the footer with Sphinx."""
    app.connect("builder-inited", _read_provenance)
    app.connect("html-page-context", _add_footer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
