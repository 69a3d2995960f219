"""The arguments' checks every module shares: each raises a ``ValueError`` naming what was wrong.

``check_int`` for sizes and counts, ``check_image`` for batches of images, ``check_range`` for
rates and coefficients, ``check_positive`` for learning rates; ``check_number`` and ``is_int``
for the type alone. They live here, apart from the modules that use them, so that a layer,
an optimizer and a schedule check the same thing the same way.
"""

from __future__ import annotations

import math
import numbers

import numpy as np


def is_int(value) -> bool:
    """Whether ``value`` is an integer, Python's or numpy's; a bool is not one.

    Examples
    --------
    >>> is_int(3), is_int(np.int64(3)), is_int(3.0), is_int(True)
    (True, True, False, False)
    """
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def check_int(name: str, label: str, value, low: int) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer (not a bool) of at least ``low``.

    Examples
    --------
    >>> check_int("conv2d", "stride", 0, 1)
    Traceback (most recent call last):
    ValueError: conv2d: stride must be an integer of at least 1, got 0
    """
    if not is_int(value) or value < low:
        raise ValueError(f"{name}: {label} must be an integer of at least {low}, got {value!r}")


def check_image(name: str, x: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``x`` is a batch of images, shape (n, c, h, w).

    Examples
    --------
    >>> check_image("conv2d", np.zeros((28, 28)))
    Traceback (most recent call last):
    ValueError: conv2d: input of shape (n, c, h, w) expected, got (28, 28)
    """
    if np.ndim(x) != 4:
        raise ValueError(f"{name}: input of shape (n, c, h, w) expected, got {np.shape(x)}")


def check_number(owner: str, name: str, value) -> float:
    """``value`` if it is a real number, Python's or numpy's (not a bool); else a ``ValueError``.

    Examples
    --------
    >>> check_number("SGD", "momentum", "0.9")
    Traceback (most recent call last):
    ValueError: SGD: momentum must be a number, got '0.9'
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a number, got {value!r}")
    return value


def check_positive(owner: str, name: str, value: float) -> float:
    """``value`` if it is a positive, finite number; else a ``ValueError`` naming it.

    Examples
    --------
    >>> check_positive("SGD", "the learning rate", float("inf"))
    Traceback (most recent call last):
    ValueError: SGD: the learning rate must be finite, got inf
    """
    check_number(owner, name, value)
    if not value > 0:
        raise ValueError(f"{owner}: {name} must be positive, got {value}")
    if value == math.inf:
        raise ValueError(f"{owner}: {name} must be finite, got {value}")
    return value


def check_range(owner: str, name: str, value: float, low: float, high: float = math.inf) -> float:
    """``value`` if it is a number in ``[low, high)``; else a ``ValueError`` naming it.

    NaN lies in no range, so it is always rejected.

    Examples
    --------
    >>> check_range("Adam", "betas[0]", 0.9, 0.0, 1.0)
    0.9
    >>> check_range("Adam", "betas[0]", 1.0, 0.0, 1.0)
    Traceback (most recent call last):
    ValueError: Adam: betas[0] must lie in [0.0, 1.0), got 1.0
    """
    check_number(owner, name, value)
    if not low <= value < high:
        bound = f"not be below {low}" if high == math.inf else f"lie in [{low}, {high})"
        raise ValueError(f"{owner}: {name} must {bound}, got {value}")
    return value
