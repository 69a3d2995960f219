"""The arguments' checks every module shares: each raises an error naming what was wrong.

A ``ValueError``, or a ``TypeError`` for an array whose dtype cannot work.

``check_int`` for sizes and counts, ``check_image`` for batches of images, ``check_range`` for
rates and coefficients, ``check_positive`` for learning rates; ``check_number`` and ``is_int``
for the type alone; ``as_floats`` and ``as_image`` turn array-likes into the arrays of floats
that arithmetic needs. They live here, apart from the modules that use them, so that a layer,
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


def as_floats(name: str, label: str, value) -> np.ndarray:
    """``value`` as an array of floating-point numbers: an array as it is, an array-like as float64.

    An array of integers (or bools) is refused with a ``TypeError`` naming its dtype, as
    PyTorch refuses it: arithmetic in its own dtype would overflow silently (uint8 200 * 4
    is 32), and converting it here would hide a copy the caller should make once.

    Examples
    --------
    >>> as_floats("conv2d", "input", [[1, 2]])
    array([[1., 2.]])
    >>> as_floats("conv2d", "input", np.full(2, 200, np.uint8))
    Traceback (most recent call last):
    TypeError: conv2d: input has dtype uint8, not a floating-point one (integer arithmetic ...
    """
    if not isinstance(value, np.ndarray):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{name}: {label} is not an array of numbers ({error})") from None
    if value.dtype.kind != "f":
        raise TypeError(
            f"{name}: {label} has dtype {value.dtype}, not a floating-point one (integer "
            "arithmetic would overflow silently); convert it first, e.g. .astype(np.float32)"
        )
    return value


def as_image(name: str, x) -> np.ndarray:
    """``x`` as a batch of images: floating point (see :func:`as_floats`), shape (n, c, h, w).

    Examples
    --------
    >>> as_image("max_pool2d", [[[[0, 1]]]]).dtype
    dtype('float64')
    """
    x = as_floats(name, "input", x)
    check_image(name, x)
    return x


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
