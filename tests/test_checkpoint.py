"""deepfound.checkpoint: weights to a file and back, and what a save may never do to a file."""

from __future__ import annotations

import numpy as np
import pytest

from deepfound import checkpoint
from deepfound.checkpoint import load_weights, save_weights, state_dict
from deepfound.nn import Linear
from deepfound.resnet import resnet


def trained_resnet(seed: int):
    """A small ResNet whose running statistics have moved: one training-mode pass."""
    model = resnet((4, 8), rng=seed)
    model(np.random.default_rng(seed).normal(size=(4, 1, 28, 28)).astype(np.float32))
    return model


def test_a_loaded_model_computes_what_the_saved_one_did(tmp_path):
    model, twin = trained_resnet(0), resnet((4, 8), rng=1)
    x = np.random.default_rng(2).normal(size=(3, 1, 28, 28)).astype(np.float32)
    load_weights(twin, save_weights(model, tmp_path / "model.npz"))
    np.testing.assert_array_equal(twin.eval()(x), model.eval()(x))
    for name, array in state_dict(model).items():
        np.testing.assert_array_equal(state_dict(twin)[name], array, err_msg=name)
    assert any("running_var" in name for name in state_dict(model))


def test_saving_again_replaces_its_own_file(tmp_path):
    path = save_weights(Linear(2, 2, rng=0), tmp_path / "w.npz")
    save_weights(Linear(2, 2, rng=1), path)
    np.testing.assert_array_equal(
        load_weights(Linear(2, 2, rng=2), path).weight.data, Linear(2, 2, rng=1).weight.data
    )
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


@pytest.mark.parametrize("content", [b"notes", b""], ids=["text", "empty"])
def test_a_file_deepfound_did_not_write_is_never_overwritten(tmp_path, content):
    path = tmp_path / "mine.npz"
    path.write_bytes(content)
    with pytest.raises(FileExistsError, match="not a deepfound weights file"):
        save_weights(Linear(2, 2, rng=0), path)
    assert path.read_bytes() == content


def test_an_npz_of_someone_elses_is_never_overwritten(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, a=np.ones(3))
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        save_weights(Linear(2, 2, rng=0), path)
    assert path.read_bytes() == before


def test_a_failed_save_leaves_no_file_behind(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint.np, "savez", fail)
    with pytest.raises(OSError, match="disk full"):
        save_weights(Linear(2, 2, rng=0), tmp_path / "w.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_save_keeps_the_old_weights(tmp_path, monkeypatch):
    path = save_weights(Linear(2, 2, rng=0), tmp_path / "w.npz")
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint.np, "savez", lambda *a, **k: (_ for _ in ()).throw(OSError()))
    with pytest.raises(OSError):
        save_weights(Linear(2, 2, rng=1), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_weights_of_another_architecture_are_refused_naming_the_differences(tmp_path):
    path = save_weights(Linear(3, 2, rng=0), tmp_path / "w.npz")
    model = Linear(4, 2, rng=0)
    before = model.weight.data.copy()
    with pytest.raises(ValueError, match=r"weight: \(3, 2\) in the file, \(4, 2\) in the model"):
        load_weights(model, path)
    np.testing.assert_array_equal(model.weight.data, before)
    with pytest.raises(
        ValueError,
        match=r"not in the file: layers\[0\]\.weight, .* and \d+ more; "
        r"not in the model: bias, weight$",
    ):
        load_weights(resnet((4, 8), rng=0), path)


def test_bad_paths_are_errors_naming_them(tmp_path):
    with pytest.raises(ValueError, match="must end in .npz"):
        save_weights(Linear(2, 2, rng=0), tmp_path / "w.pt")
    (tmp_path / "x.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="is not a deepfound weights file"):
        load_weights(Linear(2, 2, rng=0), tmp_path / "x.npz")
    with pytest.raises(ValueError, match="is not a deepfound weights file"):
        load_weights(Linear(2, 2, rng=0), tmp_path / "missing.npz")
