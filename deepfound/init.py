"""Weight initialization: the scale that keeps activations neither exploding nor vanishing.

A layer ``y = x @ w`` sums ``fan_in`` products, so ``Var(y) = fan_in * Var(w) * E[x**2]``.
Each initializer picks ``std(w)`` so that this factor is one:

========================  =========================================
initializer               standard deviation of ``w``
========================  =========================================
``xavier_*``              ``gain * sqrt(2 / (fan_in + fan_out))``
``kaiming_*``             ``gain(a) / sqrt(fan)``, ``fan`` = ``fan_in`` or ``fan_out``
========================  =========================================

The ``*_normal`` variants draw from a normal distribution with that standard
deviation, the ``*_uniform`` variants from a uniform one on ``(-bound, bound)``
with ``bound = sqrt(3) * std``.

Every initializer returns an array laid out as (fan_in, fan_out), so that a
batch ``x`` of shape (n, fan_in) is multiplied as ``x @ w``. (PyTorch stores a
linear layer's weight as (fan_out, fan_in) and multiplies by its transpose.)
Randomness comes from ``rng``: a seed or a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math

import numpy as np

_MODES = ("fan_in", "fan_out")


def gain(a: float = 0.0) -> float:
    """Gain of a leaky ReLU with negative slope ``a``: ``sqrt(2 / (1 + a**2))``.

    A leaky ReLU keeps the fraction ``(1 + a**2) / 2`` of the second moment of a
    symmetric input; multiplying the weights' standard deviation by the gain
    gives that loss back. ``a = 0`` is the plain ReLU (gain √2), ``a = 1`` the
    identity (gain 1).

    Parameters
    ----------
    a : float
        Negative slope of the rectifier that follows the layer.

    Returns
    -------
    float

    Examples
    --------
    >>> print(round(gain(0.0), 6))
    1.414214
    >>> print(gain(1.0))
    1.0
    """
    return math.sqrt(2.0 / (1.0 + a * a))


def _check(name: str, fan_in: int, fan_out: int, dtype) -> None:
    for label, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, (int, np.integer)) or fan < 1:
            raise ValueError(f"{name}: {label} must be a positive integer, got {fan!r}")
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"{name}: dtype must be a floating-point type, got {np.dtype(dtype)}")


def _kaiming_std(name: str, fan_in: int, fan_out: int, a: float, mode: str) -> float:
    if mode not in _MODES:
        raise ValueError(f"{name}: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan = fan_in if mode == "fan_in" else fan_out
    return gain(a) / math.sqrt(fan)


def _normal(fan_in: int, fan_out: int, std: float, rng, dtype) -> np.ndarray:
    rng = np.random.default_rng(rng)
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def _uniform(fan_in: int, fan_out: int, std: float, rng, dtype) -> np.ndarray:
    # A uniform distribution on (-bound, bound) has variance bound**2 / 3.
    bound = math.sqrt(3.0) * std
    rng = np.random.default_rng(rng)
    return rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)


def kaiming_normal(
    fan_in: int,
    fan_out: int,
    *,
    a: float = 0.0,
    mode: str = "fan_in",
    rng=None,
    dtype=np.float32,
) -> np.ndarray:
    """Kaiming/He normal init for (leaky) ReLU layers: std ``gain(a) / sqrt(fan)``.

    Parameters
    ----------
    fan_in, fan_out : int
        Inputs and outputs of the layer; the result has shape (fan_in, fan_out).
    a : float
        Negative slope of the leaky ReLU after the layer (0 for ReLU).
    mode : {'fan_in', 'fan_out'}
        ``'fan_in'`` keeps the scale of the activations on the way forward,
        ``'fan_out'`` that of the gradients on the way back.
    rng : int, numpy.random.Generator or None
        Seed or generator.
    dtype : dtype
        Floating-point type of the result.

    Returns
    -------
    ndarray
        Shape (fan_in, fan_out), of type ``dtype``.

    Examples
    --------
    >>> w = kaiming_normal(784, 50, rng=0)
    >>> w.shape, w.dtype
    ((784, 50), dtype('float32'))
    >>> print(round(float(w.std()), 2), round(np.sqrt(2 / 784), 2))
    0.05 0.05
    """
    _check("kaiming_normal", fan_in, fan_out, dtype)
    std = _kaiming_std("kaiming_normal", fan_in, fan_out, a, mode)
    return _normal(fan_in, fan_out, std, rng, dtype)


def kaiming_uniform(
    fan_in: int,
    fan_out: int,
    *,
    a: float = 0.0,
    mode: str = "fan_in",
    rng=None,
    dtype=np.float32,
) -> np.ndarray:
    """Kaiming/He uniform init: uniform on ``±sqrt(3) * gain(a) / sqrt(fan)``.

    Same standard deviation as :func:`kaiming_normal`; the parameters are the same.
    PyTorch's default for ``nn.Linear`` is this with ``a = sqrt(5)``: a bound of
    ``1 / sqrt(fan_in)``.

    Returns
    -------
    ndarray
        Shape (fan_in, fan_out), of type ``dtype``.

    Examples
    --------
    >>> w = kaiming_uniform(784, 50, rng=0)
    >>> bool(abs(w).max() <= np.sqrt(3) * gain() / np.sqrt(784))
    True
    >>> w = kaiming_uniform(784, 50, a=np.sqrt(5), rng=0)
    >>> bool(abs(w).max() <= 1 / np.sqrt(784))
    True
    """
    _check("kaiming_uniform", fan_in, fan_out, dtype)
    std = _kaiming_std("kaiming_uniform", fan_in, fan_out, a, mode)
    return _uniform(fan_in, fan_out, std, rng, dtype)


def xavier_normal(
    fan_in: int, fan_out: int, *, gain: float = 1.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """Xavier/Glorot normal init: std ``gain * sqrt(2 / (fan_in + fan_out))``.

    A compromise between ``1 / fan_in`` (keeps the forward pass) and
    ``1 / fan_out`` (keeps the backward pass) for layers without a rectifier.

    Parameters
    ----------
    fan_in, fan_out : int
        Inputs and outputs of the layer; the result has shape (fan_in, fan_out).
    gain : float
        Factor on the standard deviation (1 for a linear layer).
    rng : int, numpy.random.Generator or None
        Seed or generator.
    dtype : dtype
        Floating-point type of the result.

    Returns
    -------
    ndarray
        Shape (fan_in, fan_out), of type ``dtype``.

    Examples
    --------
    >>> w = xavier_normal(300, 100, rng=0)
    >>> print(round(float(w.std()), 3), round(np.sqrt(2 / 400), 3))
    0.071 0.071
    """
    _check("xavier_normal", fan_in, fan_out, dtype)
    return _normal(fan_in, fan_out, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def xavier_uniform(
    fan_in: int, fan_out: int, *, gain: float = 1.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """Xavier/Glorot uniform init: uniform on ``±gain * sqrt(6 / (fan_in + fan_out))``.

    Same standard deviation as :func:`xavier_normal`; the parameters are the same.

    Returns
    -------
    ndarray
        Shape (fan_in, fan_out), of type ``dtype``.

    Examples
    --------
    >>> w = xavier_uniform(300, 100, rng=0)
    >>> bool(abs(w).max() <= np.sqrt(6 / 400))
    True
    """
    _check("xavier_uniform", fan_in, fan_out, dtype)
    return _uniform(fan_in, fan_out, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def lsuv(model, x, *, tol: float = 1e-3, max_iters: int = 10):
    """Layer-sequential unit variance (Mishkin & Matas, 2015): standardize each layer's output.

    For each :class:`~deepfound.nn.Linear` and :class:`~deepfound.conv.Conv2d` of
    ``model``, in the order of ``model.modules()`` (the forward order of a network built
    as a :class:`~deepfound.nn.Sequential`), the model runs on ``x`` and the layer's
    output is read by a forward :class:`~deepfound.hooks.Hook`; then the weight is
    divided by the standard deviation of *all* the output's values, and the bias has
    their mean taken off (and is divided too, so that the output, affine in the two,
    becomes ``(out - mean) / std``), until the mean and the standard deviation are 0
    and 1 within ``tol``, or ``max_iters`` passes. A layer's output depends only on
    the layers before it, so each keeps its standardization as later ones are set.

    A layer without a bias (a convolution followed by batch normalization) is only
    rescaled: its standard deviation becomes 1 and its mean is left as it is.

    The passes run under :func:`~deepfound.nn.no_grad`, in the model's current mode;
    arrays the modules hold besides their parameters (batch normalization's running
    statistics) are restored afterwards: only the weights and biases change.

    Parameters
    ----------
    model : deepfound.nn.Module
        The network; it must hold at least one ``Linear`` or ``Conv2d``.
    x : ndarray
        A batch of inputs, not empty.
    tol : float
        Tolerance on the mean (about 0) and the standard deviation (about 1).
    max_iters : int
        Largest number of rescalings of one layer.

    Returns
    -------
    deepfound.nn.Module
        ``model`` itself, its weights changed in place.

    Examples
    --------
    >>> from deepfound.nn import Linear, ReLU, Sequential
    >>> model = Sequential(Linear(20, 30, rng=0), ReLU(), Linear(30, 5, rng=1))
    >>> x = np.random.default_rng(2).normal(3.0, 5.0, (100, 20)).astype(np.float32)
    >>> lsuv(model, x) is model
    True
    >>> out = model(x)
    >>> bool(abs(out.mean()) < 1e-3), bool(abs(out.std() - 1) < 1e-3)
    (True, True)
    """
    # Imported here: the layers import this module for their initial weights.
    from deepfound.conv import Conv2d
    from deepfound.hooks import Hook
    from deepfound.nn import Linear, no_grad

    layers = [m for m in model.modules() if isinstance(m, (Linear, Conv2d))]
    if not layers:
        raise ValueError(f"lsuv: the model holds no Linear or Conv2d layer: {model!r}")
    if np.size(x) == 0:
        raise ValueError(f"lsuv: x is empty (shape {np.shape(x)}); the statistics need values")
    if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not 0 < tol < math.inf:
        raise ValueError(f"lsuv: tol must be a positive number, got {tol!r}")
    if isinstance(max_iters, bool) or not isinstance(max_iters, (int, np.integer)) or max_iters < 1:
        raise ValueError(f"lsuv: max_iters must be an integer of at least 1, got {max_iters!r}")
    state = [
        (value, value.copy())
        for module in model.modules()
        for value in vars(module).values()
        if isinstance(value, np.ndarray)
    ]
    try:
        with no_grad():
            for layer in layers:
                _standardize(model, layer, x, tol, max_iters, Hook)
    finally:
        for value, saved in state:
            value[...] = saved
    return model


def _standardize(model, layer, x, tol: float, max_iters: int, Hook) -> None:
    """Rescale (and shift) one layer until its output on ``x`` has mean 0 and std 1."""
    # Read in the hook: a later layer may overwrite the output in place.
    seen = []
    with Hook(layer, lambda module, inputs, out: seen.append((out.mean(), out.std()))):
        for _ in range(max_iters):
            seen.clear()
            model(x)
            mean, std = map(float, seen[-1])
            centred = layer.bias is None or abs(mean) <= tol
            if centred and abs(std - 1) <= tol:
                return
            if not std > 0:
                raise ValueError(f"lsuv: the output of {layer!r} is constant; it cannot be scaled")
            layer.weight.data /= std
            if layer.bias is not None:
                layer.bias.data -= mean
                layer.bias.data /= std
