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
