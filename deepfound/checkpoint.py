"""A trained model's weights in a file, and back: ``save_weights`` and ``load_weights``.

A model is its parameters and the other arrays its modules keep (batch normalization's
running statistics), named by where they sit: ``layers[0].weight``,
``layers[1].running_mean``. :func:`state_dict` gathers them; :func:`save_weights` writes
them to a NumPy ``.npz`` file, and :func:`load_weights` copies them into a model of the
same architecture, which must have exactly the same names and shapes.

A file is written under a temporary name beside its destination and renamed once it is
complete, so an interrupted save leaves no partial file; a file that is not a deepfound
weights file is never overwritten.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from deepfound.module import Module, Parameter, _tree

#: The entry that marks a file as deepfound's weights, holding the format's version.
MARK = "__deepfound_weights__"


def state_dict(model: Module) -> dict[str, np.ndarray]:
    """The model's arrays by name: each parameter's ``.data``, and every other array a module keeps.

    The arrays are the model's own, not copies.

    Examples
    --------
    >>> from deepfound.nn import Linear, Sequential
    >>> from deepfound.norm import BatchNorm1d
    >>> list(state_dict(Sequential(Linear(3, 2, rng=0), BatchNorm1d(2))))
    ['layers[0].weight', 'layers[0].bias', 'layers[1].weight', 'layers[1].bias', \
'layers[1].running_mean', 'layers[1].running_var']
    """
    state, modules = {}, [("", model)]
    for path, item in _tree(model, ""):
        if isinstance(item, Parameter):
            state[path] = item.data
        else:
            modules.append((path + ".", item))
    for prefix, module in modules:
        for name, value in vars(module).items():
            if isinstance(value, np.ndarray):
                state[prefix + name] = value
    return state


def _is_weights_file(path: Path) -> bool:
    try:
        with np.load(path) as stored:
            return MARK in stored.files
    except (OSError, EOFError, ValueError, zipfile.BadZipFile):
        return False


def check_writable(path) -> Path:
    """``path`` as a :class:`~pathlib.Path`, once :func:`save_weights` may write there.

    That is: it ends in ``.npz`` and holds nothing, or a deepfound weights file. Checked
    before a long training run, so that it does not end in an error.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"save_weights: the file must end in .npz, got {path}")
    if path.exists() and not _is_weights_file(path):
        raise FileExistsError(
            f"save_weights: {path} exists and is not a deepfound weights file; "
            "choose another path or remove it"
        )
    return path


def save_weights(model: Module, path) -> Path:
    """Write the model's :func:`state_dict` to ``path`` (an ``.npz`` file); return the path.

    An existing file is replaced only if it is a deepfound weights file; anything else
    there raises :class:`FileExistsError` and is left as it was.

    Examples
    --------
    >>> import tempfile
    >>> from deepfound.nn import Linear
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = save_weights(Linear(3, 2, rng=0), Path(folder) / "linear.npz")
    ...     twin = load_weights(Linear(3, 2, rng=1), path)
    >>> bool(np.array_equal(twin.weight.data, Linear(3, 2, rng=0).weight.data))
    True
    """
    path = check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {MARK: np.array(1), **state_dict(model)}
    handle, part = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(part, path)
    except BaseException:
        Path(part).unlink(missing_ok=True)
        raise
    return path


def load_weights(model: Module, path) -> Module:
    """Copy the weights saved in ``path`` into ``model``, of the same architecture; return it.

    Every name and shape must match the model's; otherwise nothing is copied and a
    ``ValueError`` names the differences.
    """
    path = Path(path)
    if not _is_weights_file(path):
        raise ValueError(f"load_weights: {path} is not a deepfound weights file (.npz)")
    state = state_dict(model)
    with np.load(path) as stored:
        saved = {name: stored[name] for name in stored.files if name != MARK}
    missing, extra = sorted(state.keys() - saved.keys()), sorted(saved.keys() - state.keys())
    shapes = [
        f"{name}: {saved[name].shape} in the file, {state[name].shape} in the model"
        for name in state.keys() & saved.keys()
        if saved[name].shape != state[name].shape
    ]
    if missing or extra or shapes:
        problems = []
        if missing:
            problems.append(f"not in the file: {_some(missing)}")
        if extra:
            problems.append(f"not in the model: {_some(extra)}")
        if shapes:
            problems.append(_some(sorted(shapes)))
        raise ValueError(f"load_weights: {path} does not fit the model; " + "; ".join(problems))
    for name, array in state.items():
        np.copyto(array, saved[name], casting="same_kind")
    return model


def _some(names: list[str], shown: int = 5) -> str:
    """The first few of ``names``, and how many more there are."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
