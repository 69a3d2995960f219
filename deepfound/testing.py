"""Test helpers the chapters use to state their claims: equality, nearness, gradients.

Each raises :class:`AssertionError` with both values in the message when the
claim is false, and returns nothing when it holds.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def test_eq(a, b) -> None:
    """Assert that ``a`` and ``b`` are equal (element by element for arrays, shapes included).

    Examples
    --------
    >>> test_eq([1, 2], np.array([1, 2]))
    >>> test_eq(1, 2)
    Traceback (most recent call last):
    AssertionError: not equal:
      1
      2
    """
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        equal = np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    else:
        equal = a == b
    if not equal:
        raise AssertionError(f"not equal:\n  {a!r}\n  {b!r}")


def test_near(a, b, *, rtol: float = 1e-5, atol: float = 1e-8) -> None:
    """Assert ``|a - b| <= atol + rtol * |b|`` everywhere, and that the shapes agree.

    Examples
    --------
    >>> test_near(1.0, 1.0 + 1e-7)
    >>> test_near(np.array([1.0, 2.0]), np.array([1.0, 2.1]))
    Traceback (most recent call last):
    AssertionError: not near (rtol=1e-05, atol=1e-08), largest difference 0.1:
      array([1., 2.])
      array([1. , 2.1])
    """
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape:
        raise AssertionError(f"shapes differ: {a_arr.shape} and {b_arr.shape}")
    if not np.allclose(a_arr, b_arr, rtol=rtol, atol=atol):
        diff = float(np.max(np.abs(a_arr - b_arr)))
        raise AssertionError(
            f"not near (rtol={rtol}, atol={atol}), largest difference {diff:.3g}:\n  {a!r}\n  {b!r}"
        )


def test_near_zero(a, *, tol: float = 1e-3) -> None:
    """Assert that every element of ``a`` is within ``tol`` of zero.

    Examples
    --------
    >>> test_near_zero(np.array([1e-4, -1e-5]))
    >>> test_near_zero(0.5)
    Traceback (most recent call last):
    AssertionError: not near zero (tol=0.001): largest magnitude 0.5
    """
    largest = float(np.max(np.abs(a)))
    if not largest <= tol:
        raise AssertionError(f"not near zero (tol={tol}): largest magnitude {largest:.3g}")


def numerical_grad(f: Callable[[np.ndarray], float], x: np.ndarray, *, eps: float = 1e-6):
    """Gradient of the scalar function ``f`` at ``x`` by central finite differences.

    Each element ``x[i]`` is nudged to ``x[i] ± eps`` in turn and the slope is
    ``(f(x + eps) - f(x - eps)) / (2 eps)``, which is exact for quadratics and
    has an error of order ``eps**2`` otherwise. Use float64: in float32 the
    rounding error of ``f`` swamps the slope.

    Examples
    --------
    >>> numerical_grad(lambda x: float((x**2).sum()), np.array([1.0, -2.0]))
    array([ 2., -4.])
    """
    x = np.array(x, dtype=np.float64)
    grad = np.empty_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)
    for i in range(flat_x.size):
        saved = flat_x[i]
        flat_x[i] = saved + eps
        above = f(x)
        flat_x[i] = saved - eps
        below = f(x)
        flat_x[i] = saved
        flat_grad[i] = (above - below) / (2 * eps)
    return grad


def check_grad(
    f: Callable[[np.ndarray], float],
    x: np.ndarray,
    grad: np.ndarray,
    *,
    eps: float = 1e-6,
    rtol: float = 1e-5,
    atol: float = 1e-7,
) -> None:
    """Assert that ``grad`` is the gradient of the scalar function ``f`` at ``x``.

    The reference is :func:`numerical_grad` (central finite differences).

    Examples
    --------
    >>> x = np.array([1.0, -2.0])
    >>> check_grad(lambda x: float((x**2).sum()), x, 2 * x)
    >>> check_grad(lambda x: float((x**2).sum()), x, x)
    Traceback (most recent call last):
    AssertionError: gradient differs from central differences ...
    """
    expected = numerical_grad(f, x, eps=eps)
    try:
        test_near(np.asarray(grad, dtype=np.float64), expected, rtol=rtol, atol=atol)
    except AssertionError as error:
        raise AssertionError(f"gradient differs from central differences ({error})") from None


for _helper in (test_eq, test_near, test_near_zero):
    _helper.__test__ = False  # pytest must not collect these as tests where they are imported
