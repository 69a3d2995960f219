"""Whether calling a module keeps what its backward pass needs, and scratch memory under no_grad.

:func:`no_grad` turns the keeping off for a block, as ``torch.no_grad`` does, for
passes that are only measured; :func:`shared_scratch` is the memory layers share
meanwhile. Every module reads :func:`is_grad_enabled` when it is called.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

# Whether calling a module keeps what its backward pass needs; see no_grad.
_grad_enabled = True
# Scratch memory the modules share while _grad_enabled is false; see shared_scratch.
_shared_scratch: dict = {}


def is_grad_enabled() -> bool:
    """Whether calling a module keeps what its backward pass needs: false inside :func:`no_grad`.

    Examples
    --------
    >>> is_grad_enabled()
    True
    >>> with no_grad():
    ...     is_grad_enabled()
    False
    """
    return _grad_enabled


@contextlib.contextmanager
def no_grad() -> Iterator[None]:
    """Within this block, calling a module runs its forward pass and keeps nothing for backward.

    A module called inside the block leaves ``.inputs`` and ``.out`` as ``None``, and
    layers that keep more (a convolution's windows, batch normalization's statistics,
    a residual block's hidden activation) drop it too: they release what an earlier
    call left them rather than hold on to arrays as large as the batch. Layers that
    need scratch memory while they compute share it (:func:`shared_scratch`) until
    the outermost block ends. The outputs are exactly those of an ordinary call;
    only a ``backward`` afterwards is an error. Use it for passes that are only
    measured, such as :func:`~deepfound.learner.evaluate`'s, as ``torch.no_grad``.
    Blocks nest; leaving one, even by an exception, restores the state before it.

    Examples
    --------
    >>> import numpy as np
    >>> from deepfound.nn import Linear
    >>> layer = Linear(3, 2, rng=0)
    >>> x = np.ones((4, 3), np.float32)
    >>> with no_grad():
    ...     out = layer(x)
    >>> np.array_equal(out, layer(x)), layer.out is not None
    (True, True)
    >>> with no_grad():
    ...     _ = layer(x)
    >>> layer.inputs, layer.out
    (None, None)
    >>> layer.backward(np.ones_like(out))
    Traceback (most recent call last):
    RuntimeError: Linear.backward called before forward: call the module on an input first
    """
    global _grad_enabled
    previous, _grad_enabled = _grad_enabled, False
    try:
        yield
    finally:
        _grad_enabled = previous
        if previous:  # the outermost block ends: nothing needs the shared scratch memory now
            _shared_scratch.clear()


def shared_scratch() -> dict:
    """Scratch memory that modules share under :func:`no_grad`, until the outermost block ends.

    A dictionary: a module stores a buffer under a key naming its use and every
    size that decides its contents (a convolution keys its windows by the input's
    shape, the kernel, the stride and the padding), and a later call with the same
    key, by any module, reuses it. Without ``no_grad`` a module keeps its own scratch
    memory, since its backward pass reads it; asking for the shared one then is an
    error, as nothing would free it.

    Examples
    --------
    >>> import numpy as np
    >>> with no_grad():
    ...     print(shared_scratch().setdefault("ones", np.ones(3)).sum())
    3.0
    >>> with no_grad():
    ...     "ones" in shared_scratch()
    False
    >>> shared_scratch()
    Traceback (most recent call last):
    RuntimeError: shared_scratch: only under no_grad(); a module keeps its own scratch otherwise
    """
    if _grad_enabled:
        raise RuntimeError(
            "shared_scratch: only under no_grad(); a module keeps its own scratch otherwise"
        )
    return _shared_scratch
