"""Execute the book's chapters into Jupyter Book's cache: the stale ones, in parallel.

``nox -s book`` runs this before ``jupyter-book build``, which then finds every chapter's
outputs in the cache (``execute.cache`` in ``_config.yml``) and executes nothing itself.

A chapter's cached outputs are reused only while nothing that could change them has changed.
jupyter-cache matches a notebook by its code cells alone, so a chapter whose prose changed is
reused, one whose code changed is executed again. It cannot see what the chapters import: the
*fingerprint* here covers the files of the package (``deepfound/``), the data files, the
versions of the package's requirements (with its ``test`` and ``book`` extras, and theirs,
all the way down) and the Python version. When any of it differs from
the fingerprint of the build that filled the cache, the cache is emptied and every chapter runs
again; the log names what changed.

Chapters run in separate processes, each pinned to cores of its own (``os.sched_setaffinity``),
which the chapter's kernel inherits: two chapters never share a core, so BLAS threads never
wait for each other. A chapter gets one core, or as many as its front matter asks for
(``deepfound_cores: 4``, up to all there are), and counts them with
``os.sched_getaffinity``. The number of processes is bounded by the cores and by the memory
(``--memory-per-job``); the chapters that took longest last time start first.

    python tests/execute_book.py           # the stale chapters
    python tests/execute_book.py --all     # every chapter

Exits with 1, naming the chapter and its failing cell, if a chapter fails; the chapters that
succeeded stay in the cache.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import yaml

try:
    import resource
except ImportError:  # POSIX only: no peak memory on Windows
    resource = None

ROOT = Path(__file__).resolve().parent.parent
GIB = 2**30


def chapters(root: Path) -> list[Path]:
    """The pages of ``_toc.yml`` that are notebooks (a ``kernelspec`` in their front matter)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]
    stack = list(toc.get("parts", [])) + list(toc.get("chapters", []))
    while stack:
        entry = stack.pop(0)
        if "file" in entry:
            files.append(entry["file"])
        stack[:0] = list(entry.get("chapters", [])) + list(entry.get("sections", []))
    pages = [root / f"{name}.md" for name in files]
    return [page for page in pages if page.exists() and "kernelspec" in front_matter(page)]


def front_matter(page: Path) -> dict:
    """The YAML block at the top of a page, between its ``---`` lines (empty if none)."""
    text = page.read_text()
    if not text.startswith("---"):
        return {}
    return yaml.safe_load(text.split("---", 2)[1]) or {}


def read_notebook(page: Path):
    """The page as myst-nb reads it, so that its cache key is the one the build looks for."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(page.read_text(), add_source_map=True, path=page)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(root: Path, package: str = "deepfound", data_dir: Path | None = None) -> dict:
    """What the chapters' outputs depend on besides their own code, as ``{item: digest}``."""
    items = {}
    for path in sorted((root / package).rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            items[path.relative_to(root).as_posix()] = _digest(path.read_bytes())
    if data_dir is not None and data_dir.is_dir():
        # The data files are checked against their sha256 when loaded: name and size suffice.
        for path in sorted(data_dir.iterdir()):
            if path.is_file():
                items[f"data/{path.name}"] = str(path.stat().st_size)
    versions = requirements_closure(package, ("test", "book"))
    items["installed versions"] = _digest("\n".join(versions).encode())
    items["python"] = platform.python_version()
    return items


def requirements_closure(name: str, extras: tuple[str, ...] = ()) -> list[str]:
    """``name==version`` of the distribution ``name`` (with ``extras``) and of everything it
    requires, installed here: what the chapters can import, and no tool beside them."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    seen: dict[str, set[str]] = {}
    todo = [(name, set(extras))]
    while todo:
        wanted, wanted_extras = todo.pop()
        key = canonicalize_name(wanted)
        if key in seen and wanted_extras <= seen[key]:
            continue
        try:
            dist = metadata.distribution(wanted)
        except metadata.PackageNotFoundError:
            continue
        seen[key] = seen.get(key, set()) | wanted_extras
        environments = [{"extra": extra} for extra in seen[key] or {""}]
        for text in dist.requires or []:
            requirement = Requirement(text)
            marker = requirement.marker
            if marker is None or any(marker.evaluate(env) for env in environments):
                todo.append((requirement.name, set(requirement.extras)))
    return sorted(f"{key}=={metadata.version(key)}" for key in seen)


def changes(old: dict, new: dict) -> list[str]:
    """The items whose digest differs, appeared or disappeared, sorted."""
    return sorted(key for key in old.keys() | new.keys() if old.get(key) != new.get(key))


def _chapters(n: int) -> str:
    return f"{n} chapter" + "s" * (n != 1)


def usable_cores() -> list[int]:
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def max_processes(cores: list[int], jobs: int | None, memory_per_job: float) -> int:
    """How many chapters may run at once: ``jobs``, else as many as cores and memory allow."""
    if jobs is None:
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        jobs = min(len(cores) or 1, int(available // (memory_per_job * GIB)))
    return max(1, jobs)


def cores_wanted(page: Path) -> int:
    """The cores a chapter asks for in its front matter (``deepfound_cores``), else 1."""
    wanted = front_matter(page).get("deepfound_cores", 1)
    if isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
        raise ValueError(f"{page}: deepfound_cores must be a whole number >= 1, got {wanted!r}")
    return wanted


# How many times a chapter's kernel is started before a kernel that dies at once is an error.
KERNEL_STARTS = 3
KERNEL_DIED = "Kernel died before replying to kernel_info"


def _execute(page: str, cores: set[int], timeout: int) -> tuple:
    """Run in a worker: execute one chapter on ``cores``; its kernel inherits the affinity."""
    from jupyter_cache.executors.utils import single_nb_execution

    if cores:
        os.sched_setaffinity(0, cores)
    path = Path(page)
    for attempt in range(KERNEL_STARTS):
        notebook = read_notebook(path)
        # A kernel that dies before it answers has run no cell: most often the TCP port it was
        # given was taken meanwhile by another process's kernel. Starting again is safe. nbclient
        # raises that as a RuntimeError, which jupyter-cache lets through (it catches only a
        # cell's errors); the last attempt's is raised.
        try:
            result = single_nb_execution(
                notebook,
                cwd=str(path.parent),
                timeout=timeout,
                allow_errors=False,
                meta_override=True,
            )
        except RuntimeError as exc:
            if KERNEL_DIED not in str(exc) or attempt == KERNEL_STARTS - 1:
                raise
            print(
                f"execute_book: {page}: the kernel did not start (attempt {attempt + 1})",
                flush=True,
            )
            continue
        error = result.exc_string if result.err is not None else None
        if error is None or KERNEL_DIED not in error:
            break
        print(f"execute_book: {page}: the kernel did not start (attempt {attempt + 1})", flush=True)
    # The kernel has exited and been waited for: the largest resident size of this process's
    # children is its peak (each chapter runs in a fresh process, see main).
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 if resource else None
    return page, notebook, result.time, error, peak


def main(argv: list[str] | None = None, root: Path = ROOT, package: str = "deepfound") -> list[str]:
    """Execute the stale chapters; return their names (and exit 1 if one failed)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--all", action="store_true", help="execute every chapter")
    parser.add_argument("--jobs", type=int, help="processes (default: cores and memory allow)")
    parser.add_argument(
        "--memory-per-job",
        type=float,
        default=2.5,
        help="GiB of available memory each process may need (default 2.5: a chapter's peak "
        "stays under 2)",
    )
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    parser.add_argument("--root", type=Path, default=root, help="the book's folder")
    parser.add_argument(
        "--package", default=package, help="the library the chapters import (its folder)"
    )
    args = parser.parse_args(argv)
    root, package = args.root.resolve(), args.package

    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    config = yaml.safe_load((root / "_config.yml").read_text())
    cache_path = root / config["execute"]["cache"]
    cache = get_cache(cache_path)
    prints_path = cache_path / "deepfound-fingerprint.json"
    times_path = cache_path / "deepfound-execution-seconds.json"

    data_dir = None
    if package == "deepfound":
        from deepfound.data import resolve_data_dir

        data_dir = resolve_data_dir()
    now = fingerprint(root, package, data_dir)
    before = json.loads(prints_path.read_text()) if prints_path.exists() else None
    if args.all:
        print("execute_book: --all: every chapter executes", flush=True)
        cache.clear_cache()
    elif before is not None and before != now:
        changed = changes(before, now)
        more = f" and {len(changed) - 8} more" if len(changed) > 8 else ""
        shown = ", ".join(changed[:8]) + more
        print(f"execute_book: changed since the cache was filled: {shown}", flush=True)
        print("execute_book: every chapter executes again", flush=True)
        cache.clear_cache()
    elif before is None and cache.list_cache_records():
        print("execute_book: the cache has no fingerprint: every chapter executes", flush=True)
        cache.clear_cache()
    # Pages whose source did not change but whose outputs may: the build must read them again.
    reread = args.all or before != now
    cache_path.mkdir(parents=True, exist_ok=True)
    prints_path.write_text(json.dumps(now, indent=1, sort_keys=True))

    pages = chapters(root)
    stale = []
    for page in pages:
        try:
            cache.match_cache_notebook(read_notebook(page))
        except KeyError:
            stale.append(page)
    for page in pages:
        if page not in stale:
            print(f"execute_book: {page.relative_to(root)} unchanged: its cached outputs are used")
    last_run = cache_path / "deepfound-last-run.json"
    last_run.write_text(json.dumps({"executed": [], "reread": reread}))
    if not stale:
        return []

    times = json.loads(times_path.read_text()) if times_path.exists() else {}
    cores = usable_cores()
    at_once = max_processes(cores, args.jobs, args.memory_per_job)
    # A chapter runs on cores of its own: one, or as many as it asks for, up to all there are.
    wanted = {page: min(cores_wanted(page), len(cores) or 1) for page in stale}
    # Longest first, as long as the last build took. Without a last build (a fresh clone), the
    # chapters that ask for more cores first, so that none waits for the others to free them,
    # then the later chapters, the heavier ones.
    order = sorted(
        stale, key=lambda p: (times.get(p.name, 0), wanted[p], pages.index(p)), reverse=True
    )
    print(
        f"execute_book: executing {_chapters(len(stale))}, up to {at_once} at once, on cores "
        f"{cores or 'any'}",
        flush=True,
    )
    failed, done = [], []
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    free = list(cores)
    # A fresh process for every chapter, so that its peak memory is its own (Python 3.11+).
    fresh = {"max_tasks_per_child": 1} if sys.version_info >= (3, 11) else {}
    with concurrent.futures.ProcessPoolExecutor(at_once, mp_context=context, **fresh) as pool:
        waiting, running = list(order), {}
        while waiting or running:
            # In order: the next chapter starts once there are cores enough for it.
            while (
                waiting
                and len(running) < at_once
                and (not cores or wanted[waiting[0]] <= len(free))
            ):
                page = waiting.pop(0)
                mine, free = set(free[: wanted[page]]), free[wanted[page] :]
                where = f"cores {sorted(mine)}" if mine else "any core"
                print(f"execute_book: {page.relative_to(root)} on {where} ...", flush=True)
                future = pool.submit(_execute, str(page), mine, args.timeout)
                running[future] = (page, mine)
            finished, _ = concurrent.futures.wait(
                running, return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                page, mine = running.pop(future)
                free = sorted(free + list(mine))
                name = page.relative_to(root)
                try:
                    _, notebook, seconds, error, peak = future.result()
                except Exception as exc:  # the worker itself failed
                    seconds, error, peak = 0.0, f"{type(exc).__name__}: {exc}", None
                if error is not None:
                    print(f"execute_book: {name} FAILED:\n{error}", flush=True)
                    failed.append(str(name))
                    continue
                cache.cache_notebook_bundle(
                    CacheBundleIn(notebook, str(page), data={"execution_seconds": seconds}),
                    check_validity=False,
                    overwrite=True,
                )
                times[page.name] = round(seconds, 1)
                done.append(str(name))
                memory = f", peak memory {peak / 1e9:.2f} GB" if peak and fresh else ""
                print(f"execute_book: {name} executed in {seconds:.1f} s{memory}", flush=True)
    times_path.write_text(json.dumps(times, indent=1, sort_keys=True))
    last_run.write_text(json.dumps({"executed": done, "reread": reread}))
    print(
        f"execute_book: {_chapters(len(done))} executed in "
        f"{time.perf_counter() - start:.0f} s of wall clock",
        flush=True,
    )
    if failed:
        print(f"execute_book: failed: {', '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)
    return done


if __name__ == "__main__":
    main()
