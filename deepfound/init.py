"""Weight initialization: the scale that keeps activations neither exploding nor vanishing.

Every initializer returns an array laid out as (fan_in, fan_out), so that a
batch ``x`` of shape (n, fan_in) is multiplied as ``x @ w``. Randomness comes
from ``rng``: a seed or a :class:`numpy.random.Generator`.
"""

from __future__ import annotations

import math

import numpy as np


def gain(a: float = 0.0) -> float:
    """Gain of a leaky ReLU with negative slope ``a``: ``sqrt(2 / (1 + a**2))``.

    ``a = 0`` is the plain ReLU (gain √2); ``a = 1`` is the identity (gain 1).

    Examples
    --------
    >>> print(round(gain(0.0), 6))
    1.414214
    >>> print(gain(1.0))
    1.0
    """
    return math.sqrt(2.0 / (1.0 + a * a))


def _check_fans(name: str, fan_in: int, fan_out: int) -> None:
    for label, fan in (("fan_in", fan_in), ("fan_out", fan_out)):
        if isinstance(fan, bool) or not isinstance(fan, (int, np.integer)) or fan < 1:
            raise ValueError(f"{name}: {label} must be a positive integer, got {fan!r}")


def _normal(fan_in, fan_out, std, rng, dtype) -> np.ndarray:
    rng = np.random.default_rng(rng)
    return (rng.standard_normal((fan_in, fan_out)) * std).astype(dtype)


def _uniform(fan_in, fan_out, std, rng, dtype) -> np.ndarray:
    # A uniform distribution on (-bound, bound) has standard deviation bound / sqrt(3).
    bound = math.sqrt(3.0) * std
    rng = np.random.default_rng(rng)
    return rng.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype)


def kaiming_normal(
    fan_in: int, fan_out: int, *, a: float = 0.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """Kaiming/He normal init for (leaky) ReLU layers: std ``gain(a) / sqrt(fan_in)``.

    Examples
    --------
    >>> w = kaiming_normal(784, 50, rng=0)
    >>> w.shape, w.dtype
    ((784, 50), dtype('float32'))
    >>> print(round(float(w.std()), 2))
    0.05
    """
    _check_fans("kaiming_normal", fan_in, fan_out)
    return _normal(fan_in, fan_out, gain(a) / math.sqrt(fan_in), rng, dtype)


def kaiming_uniform(
    fan_in: int, fan_out: int, *, a: float = 0.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """Kaiming/He uniform init: uniform on ``±sqrt(3) * gain(a) / sqrt(fan_in)``.

    Examples
    --------
    >>> w = kaiming_uniform(784, 50, rng=0)
    >>> bool(abs(w).max() <= np.sqrt(3) * gain() / np.sqrt(784))
    True
    """
    _check_fans("kaiming_uniform", fan_in, fan_out)
    return _uniform(fan_in, fan_out, gain(a) / math.sqrt(fan_in), rng, dtype)


def xavier_normal(
    fan_in: int, fan_out: int, *, gain: float = 1.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """Xavier/Glorot normal init for linear layers: std ``gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> w = xavier_normal(300, 100, rng=0)
    >>> print(round(float(w.std()), 3))
    0.071
    """
    _check_fans("xavier_normal", fan_in, fan_out)
    return _normal(fan_in, fan_out, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)


def xavier_uniform(
    fan_in: int, fan_out: int, *, gain: float = 1.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """Xavier/Glorot uniform init: uniform on ``±gain * sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> w = xavier_uniform(300, 100, rng=0)
    >>> bool(abs(w).max() <= np.sqrt(6 / 400))
    True
    """
    _check_fans("xavier_uniform", fan_in, fan_out)
    return _uniform(fan_in, fan_out, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng, dtype)
