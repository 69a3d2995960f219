"""deepfound.data: IDX parsing, the MNIST split, and fetching through real local HTTP mirrors."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import platformdirs
import pytest

from deepfound.data import load_mnist, normalize, read_idx
from deepfound.fetch import MNIST_FILES, fetch_mnist, mirrors, resolve_data_dir

LABELS = "train-labels-idx1-ubyte.gz"  # the smallest training file: quick to serve


def is_valid(path: Path) -> bool:
    return (
        path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == MNIST_FILES[path.name]
    )


def listing(folder: Path) -> list[str]:
    """Every name in ``folder``, hidden ones included: temporaries must not hide there."""
    return sorted(os.listdir(folder))


# --- load_mnist and normalize -----------------------------------------------------------------


@pytest.fixture(scope="module")
def mnist():
    return load_mnist(progress=False)


def test_load_mnist_shapes_types_and_range(mnist):
    x_train, y_train, x_valid, y_valid = mnist
    assert x_train.shape == (50000, 784) and x_valid.shape == (10000, 784)
    assert y_train.shape == (50000,) and y_valid.shape == (10000,)
    assert x_train.dtype == x_valid.dtype == np.float32
    assert y_train.dtype == y_valid.dtype == np.int64
    assert x_train.min() == 0 and x_train.max() == 1
    assert set(np.unique(y_valid)) == set(range(10))


def test_validation_set_is_training_images_50000_to_59999(mnist, canonical_files):
    images = read_idx(canonical_files["train-images-idx3-ubyte.gz"])
    labels = read_idx(canonical_files["train-labels-idx1-ubyte.gz"])
    x_train, y_train, x_valid, y_valid = mnist
    np.testing.assert_array_equal(x_valid * 255, images[50000:].reshape(10000, 784))
    np.testing.assert_array_equal(x_train[:3] * 255, images[:3].reshape(3, 784))
    np.testing.assert_array_equal(y_valid, labels[50000:])
    np.testing.assert_array_equal(y_train, labels[:50000])


def test_normalize_with_training_statistics(mnist):
    x_train, _, x_valid, _ = mnist
    mean, std = float(x_train.mean()), float(x_train.std())
    train = normalize(x_train, mean, std)
    assert abs(train.mean()) < 1e-4 and abs(train.std() - 1) < 1e-4
    assert abs(normalize(x_valid, mean, std).mean()) < 0.05


@pytest.mark.parametrize("std", [0.0, -1.0, float("nan")])
def test_normalize_rejects_non_positive_std(std):
    with pytest.raises(ValueError, match="std must be positive"):
        normalize(np.ones(3), 0.0, std)


# --- where the data and the mirrors come from ---------------------------------------------------


def test_data_dir_argument_then_environment_then_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("DEEPFOUND_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_dir() == tmp_path / "env"
    monkeypatch.delenv("DEEPFOUND_DATA_DIR")
    assert resolve_data_dir() == Path(platformdirs.user_cache_dir("deepfound")) / "mnist"


def test_mirrors_argument_then_environment_then_defaults(monkeypatch):
    monkeypatch.setenv("DEEPFOUND_MNIST_MIRRORS", "http://a.example/x http://b.example/y/")
    assert mirrors(["http://c.example"]) == ("http://c.example/",)
    assert mirrors() == ("http://a.example/x/", "http://b.example/y/")
    monkeypatch.delenv("DEEPFOUND_MNIST_MIRRORS")
    assert len(mirrors()) >= 2


# --- fetching through local HTTP mirrors ---------------------------------------------------------


def test_fetch_downloads_verifies_and_caches(tmp_path, mirror, refused_url):
    cache = tmp_path / "cache"
    paths = fetch_mnist(cache, urls=[mirror], progress=False)
    assert sorted(paths) == sorted(MNIST_FILES)
    assert all(is_valid(path) and path.parent == cache for path in paths.values())
    # Cached: a second fetch needs no network at all.
    assert fetch_mnist(cache, urls=[refused_url], progress=False) == paths


def test_fetch_reads_mirrors_from_the_environment(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("DEEPFOUND_MNIST_MIRRORS", mirror)
    paths = fetch_mnist(tmp_path / "cache", files=(LABELS,), progress=False)
    assert is_valid(paths[LABELS])


def test_missing_file_without_network_names_file_and_remedy(tmp_path, refused_url):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError) as error:
        fetch_mnist(cache, files=(LABELS,), urls=[refused_url], progress=False)
    message = str(error.value)
    assert f"{cache / LABELS} is missing" in message
    assert refused_url + LABELS in message and "DEEPFOUND_DATA_DIR" in message
    assert not (cache / LABELS).exists()


def test_hung_mirror_times_out_then_next_mirror_is_used(tmp_path, silent_url, mirror):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="Timeout"):
        fetch_mnist(cache, files=(LABELS,), urls=[silent_url], progress=False, timeout=0.5)
    assert list(cache.iterdir()) == []
    paths = fetch_mnist(cache, files=(LABELS,), urls=[silent_url, mirror], timeout=0.5)
    assert is_valid(paths[LABELS])


@pytest.mark.parametrize("fault", ["truncated", "bit flipped"])
def test_corrupt_download_leaves_nothing_behind(tmp_path, canonical_files, serve, fault):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    data = bytearray(canonical_files[LABELS].read_bytes())
    if fault == "truncated":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0xFF
    (bad / LABELS).write_bytes(bytes(data))
    cache = tmp_path / "cache"
    why = "server announces 14440 bytes" if fault == "truncated" else "sha256 of the download is"
    with pytest.raises(RuntimeError, match=f"ValueError: the {why}"):
        fetch_mnist(cache, files=(LABELS,), urls=[serve(bad)], progress=False)
    assert list(cache.iterdir()) == []  # no file and no temporary file


def test_corrupt_mirror_falls_back_to_the_next(tmp_path, canonical_files, serve, mirror):
    bad = tmp_path / "bad-mirror"
    bad.mkdir()
    (bad / LABELS).write_bytes(canonical_files[LABELS].read_bytes()[:100])
    paths = fetch_mnist(tmp_path / "cache", files=(LABELS,), urls=[serve(bad), mirror])
    assert is_valid(paths[LABELS])


def test_a_damaged_copy_without_network_is_reported_and_kept(
    tmp_path, canonical_files, refused_url
):
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(canonical_files[LABELS], cache / LABELS)
    with (cache / LABELS).open("r+b") as file:
        file.seek(100)
        file.write(b"\0" * 8)
    damaged = (cache / LABELS).read_bytes()
    with pytest.raises(FileExistsError, match=r"its sha256 is wrong.*delete it and fetch again"):
        fetch_mnist(cache, files=(LABELS,), urls=[refused_url], progress=False)
    assert (cache / LABELS).read_bytes() == damaged and listing(cache) == [LABELS]


def test_unwritable_data_dir_names_the_directory(tmp_path, mirror):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match=r"data directory .*a-file/mnist cannot be written"):
        fetch_mnist(blocker / "mnist", files=(LABELS,), urls=[mirror], progress=False)


def test_unknown_file_name_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown file 'mnist.npz'"):
        fetch_mnist(tmp_path, files=("mnist.npz",))


# --- files deepfound did not write are never overwritten (issue 14, item 1) ----------------------


def foreign_copy(canonical: Path, kind: str) -> bytes:
    """Bytes that are not MNIST's, under a canonical name: another dataset, a damaged copy."""
    data = canonical.read_bytes()
    if kind == "another dataset":  # Fashion-MNIST's files are gzipped IDX too, and larger
        return gzip.compress(data + b"\x01" * 600)
    if kind == "same size":
        return data[:100] + bytes(8) + data[108:]
    return b"a small file of someone else's"  # shorter, and not a beginning of the canonical file


@pytest.mark.parametrize("kind", ["another dataset", "same size", "shorter"])
def test_a_foreign_file_under_a_canonical_name_is_left_alone(
    tmp_path, canonical_files, mirror, kind
):
    cache = tmp_path / "cache"
    cache.mkdir()
    theirs = foreign_copy(canonical_files[LABELS], kind)
    (cache / LABELS).write_bytes(theirs)
    with pytest.raises(FileExistsError) as error:
        fetch_mnist(cache, files=(LABELS,), urls=[mirror], progress=False)
    message = str(error.value)
    assert f"{cache / LABELS} is not MNIST's {LABELS}" in message
    assert "DEEPFOUND_DATA_DIR" in message and "Fashion-MNIST" in message
    assert (cache / LABELS).read_bytes() == theirs
    assert listing(cache) == [LABELS]


def test_a_truncated_copy_is_replaced_and_the_warning_says_so(tmp_path, canonical_files, mirror):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / LABELS).write_bytes(canonical_files[LABELS].read_bytes()[:-10])
    with pytest.warns(UserWarning, match=rf"{LABELS} was a truncated copy \(28871 of 28881 bytes"):
        paths = fetch_mnist(cache, files=(LABELS,), urls=[mirror], progress=False)
    assert is_valid(paths[LABELS]) and listing(cache) == [LABELS]


def test_a_truncated_copy_without_network_is_left_as_it_is(tmp_path, canonical_files, refused_url):
    cache = tmp_path / "cache"
    cache.mkdir()
    start = canonical_files[LABELS].read_bytes()[:5000]
    (cache / LABELS).write_bytes(start)
    with pytest.raises(RuntimeError, match=r"is shorter than MNIST's \(5000 of 28881 bytes\)"):
        fetch_mnist(cache, files=(LABELS,), urls=[refused_url], progress=False)
    assert (cache / LABELS).read_bytes() == start and listing(cache) == [LABELS]


# --- a download has a deadline and a size cap (items 2 and 3) ------------------------------------


def test_a_slow_drip_mirror_is_abandoned_at_the_deadline(tmp_path, drip_url, mirror):
    cache = tmp_path / "cache"
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"TimeoutError: not finished after the 0\.5 s deadline"):
        fetch_mnist(
            cache, files=(LABELS,), urls=[drip_url], progress=False, timeout=5, deadline=0.5
        )
    # Each read waits at most `timeout`, but the drip answers every 50 ms: the deadline decides.
    assert time.monotonic() - start < 4
    assert listing(cache) == []
    paths = fetch_mnist(cache, files=LABELS, urls=[drip_url, mirror], progress=False, deadline=0.5)
    assert is_valid(paths[LABELS]) and listing(cache) == [LABELS]


def test_an_endless_response_is_cut_at_the_expected_size(tmp_path, endless):
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match="28881 bytes"):
        fetch_mnist(cache, files=(LABELS,), urls=[endless.url], progress=False, timeout=5)
    assert listing(cache) == []
    # The server could push a few MB into the socket buffers before the client hung up; a
    # client that read on would have taken all 64 MB.
    time.sleep(0.2)
    assert endless.sent < endless.limit // 4


# --- permissions (item 4) ---------------------------------------------------------------------


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077], ids=oct)
def test_downloaded_files_respect_the_umask(tmp_path, mirror, umask):
    old = os.umask(umask)
    try:
        paths = fetch_mnist(tmp_path / "cache", files=(LABELS,), urls=[mirror], progress=False)
    finally:
        os.umask(old)
    assert paths[LABELS].stat().st_mode & 0o777 == 0o666 & ~umask


def run_without_permission(code: str, path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in a Python that may not read ``path``.

    Root reads any file, whatever its mode, through two capabilities: they are dropped.
    """
    path.chmod(0)
    command = [sys.executable, "-c", code]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv to drop the right to read any file")
        command = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", *command]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        timeout=60,
    )


@pytest.mark.parametrize("reader", ["fetch_mnist", "read_idx"])
def test_an_unreadable_file_gets_an_error_naming_it_and_the_fix(tmp_path, canonical_files, reader):
    path = tmp_path / LABELS
    shutil.copy(canonical_files[LABELS], path)
    call = f"fetch_mnist({str(tmp_path)!r}, files=({LABELS!r},), urls=['http://127.0.0.1:9/'])"
    if reader == "read_idx":
        call = f"read_idx({str(path)!r})"
    code = f"from deepfound.data import fetch_mnist, read_idx\ntry:\n    {call}\n"
    code += "except PermissionError as error:\n    print(error)\n"
    result = run_without_permission(code, path)
    assert result.returncode == 0, result.stderr
    assert f"{reader}: cannot read {path}" in result.stdout and "chmod a+r" in result.stdout
    path.chmod(0o644)
    assert is_valid(path)


# --- temporaries left by a killed fetch are cleaned up (item 5) ----------------------------------


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_the_temporary_of_a_killed_fetch_is_removed_by_the_next(tmp_path, drip_url, mirror, signum):
    cache = tmp_path / "cache"
    code = (
        "from deepfound.data import fetch_mnist\n"
        f"fetch_mnist({str(cache)!r}, files=({LABELS!r},), urls=[{drip_url!r}], progress=False)\n"
    )
    fetch = subprocess.Popen([sys.executable, "-c", code], env={**os.environ})
    try:
        give_up = time.monotonic() + 30
        while not (cache.is_dir() and listing(cache)) and time.monotonic() < give_up:
            time.sleep(0.05)
        time.sleep(0.2)  # a few bytes into the download
    finally:
        fetch.send_signal(signum)
        fetch.wait(timeout=30)
    (leftover,) = listing(cache)
    assert leftover.startswith(".deepfound-download-") and leftover.endswith(".part")
    paths = fetch_mnist(cache, files=(LABELS,), urls=[mirror], progress=False)
    assert is_valid(paths[LABELS]) and listing(cache) == [LABELS]


# --- a directory in the way (item 7) and a single file name (item 12) -----------------------------


def test_a_directory_in_place_of_a_file_is_named_as_such(tmp_path, mirror):
    cache = tmp_path / "cache"
    (cache / LABELS).mkdir(parents=True)
    with pytest.raises(IsADirectoryError, match=rf"{cache / LABELS} is a directory, not the"):
        fetch_mnist(cache, files=(LABELS,), urls=[mirror], progress=False)
    assert listing(cache) == [LABELS] and listing(cache / LABELS) == []


def test_files_may_be_a_single_name(tmp_path, mirror):
    paths = fetch_mnist(tmp_path / "cache", files=LABELS, urls=[mirror], progress=False)
    assert list(paths) == [LABELS] and is_valid(paths[LABELS])
    with pytest.raises(TypeError, match="fetch_mnist: files must be a file name or a sequence"):
        fetch_mnist(tmp_path, files=3)


@pytest.mark.parametrize("limit", ["timeout", "deadline"])
@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
def test_time_limits_must_be_positive(tmp_path, limit, seconds):
    with pytest.raises(ValueError, match=f"fetch_mnist: {limit} must be a positive number"):
        fetch_mnist(tmp_path / "cache", files=LABELS, **{limit: seconds})
    assert not (tmp_path / "cache").exists()
