"""deepfound.download: which leftover temporaries are removed, and which files are never touched.

Downloads themselves are tested through ``fetch_mnist`` against local mirrors, in test_data.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from deepfound.download import STALE_SECONDS, _host, clean_stale, new_temporary


def dead_pid() -> int:
    """The process id of a process that has exited (and been waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_clean_stale_removes_only_stale_temporaries_of_its_own_pattern(tmp_path):
    live, file = new_temporary(tmp_path, "labels.gz")
    file.close()
    here, elsewhere = _host(), "0123abcd" if _host() != "0123abcd" else "abcd0123"
    dead = f".deepfound-download-{here}-{dead_pid()}-00c0ffee-labels.gz.part"
    old = f".deepfound-download-{elsewhere}-1-00c0ffee-labels.gz.part"
    fresh_elsewhere = f".deepfound-download-{elsewhere}-1-00c0ffee-images.gz.part"
    foreign = [
        "notes.part",
        "tmpk2v9x1ab",  # what pooch and tempfile name their temporaries
        "train-labels-idx1-ubyte.gz",
        ".deepfound-download-labels.gz.part",
        f".deepfound-download-{here}-{dead_pid()}-not-hex!-labels.gz.part",
        f"{dead}.bak",
    ]
    for name in [dead, old, fresh_elsewhere, *foreign]:
        (tmp_path / name).write_bytes(b"x")
    hours_ago = time.time() - 2 * STALE_SECONDS
    os.utime(tmp_path / old, (hours_ago, hours_ago))
    for name in foreign:  # however old: not deepfound's
        os.utime(tmp_path / name, (hours_ago, hours_ago))
    folder = tmp_path / f".deepfound-download-{here}-{dead_pid()}-00c0ffee-x.part"
    folder.mkdir()  # matches, but a directory is never a temporary file

    removed = clean_stale(tmp_path)

    assert sorted(path.name for path in removed) == sorted([dead, old])
    left = sorted(os.listdir(tmp_path))
    assert left == sorted([live.name, fresh_elsewhere, *foreign, folder.name])


def test_clean_stale_on_a_missing_folder_does_nothing(tmp_path):
    assert clean_stale(tmp_path / "not-yet") == []
    assert not (tmp_path / "not-yet").exists()


def test_new_temporary_is_created_with_the_mode_of_any_new_file(tmp_path):
    old = os.umask(0o027)
    try:
        path, file = new_temporary(tmp_path, "labels.gz")
        file.close()
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
    path.unlink()
