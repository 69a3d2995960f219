"""Matrix multiplication five ways, from three Python loops to BLAS.

Every variant computes ``c[i, j] = sum over k of a[i, k] * b[k, j]`` for an
(n, m) matrix ``a`` and an (m, p) matrix ``b``; each one hands one more loop to
compiled code than the one before it. They all accept 2-D array-likes (nested
lists too), check the shapes before doing any work, and return an (n, p) array
of the inputs' common dtype, so float64 stays float64 and integers stay integers.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _as_matrices(name: str, a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``a`` and ``b`` as 2-D numeric arrays whose inner dimensions agree, or an error."""
    try:
        a, b = np.asarray(a), np.asarray(b)
    except ValueError as error:
        raise ValueError(f"{name}: inputs are not rectangular arrays ({error})") from None
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"{name}: 2-D matrices expected, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"{name}: inner dimensions differ: {a.shape} @ {b.shape}")
    # Booleans, signed and unsigned integers, floats and complex numbers.
    if a.dtype.kind not in "biufc" or b.dtype.kind not in "biufc":
        raise TypeError(f"{name}: numeric matrices expected, got dtypes {a.dtype} and {b.dtype}")
    return a, b


def matmul_loops(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Matrix product with three Python loops over Python lists: no numpy arithmetic at all.

    Examples
    --------
    >>> matmul_loops([[1, 2], [3, 4]], [[5], [6]])
    array([[17],
           [39]])
    """
    a, b = _as_matrices("matmul_loops", a, b)
    (n, m), p = a.shape, b.shape[1]
    a_rows, b_rows = a.tolist(), b.tolist()  # Python lists of Python numbers
    c = [[0] * p for _ in range(n)]
    for i in range(n):
        for j in range(p):
            total = 0
            for k in range(m):
                total += a_rows[i][k] * b_rows[k][j]
            c[i][j] = total
    dtype = np.result_type(a, b)
    if dtype.kind in "iu":
        # Python's integers never overflow; numpy's wrap around modulo 2**bits, and so do these.
        modulus = 2 ** (8 * dtype.itemsize)
        c = [[total % modulus for total in row] for row in c]
        return np.array(c, dtype=f"u{dtype.itemsize}").view(dtype).reshape(n, p)
    return np.array(c, dtype=dtype).reshape(n, p)


def matmul_elementwise(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Matrix product whose inner loop is one elementwise multiply and sum of a row and a column.

    Examples
    --------
    >>> matmul_elementwise([[1, 2], [3, 4]], [[5], [6]])
    array([[17],
           [39]])
    """
    a, b = _as_matrices("matmul_elementwise", a, b)
    c = np.zeros((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for i in range(a.shape[0]):
        for j in range(b.shape[1]):
            c[i, j] = (a[i, :] * b[:, j]).sum(dtype=c.dtype)
    return c


def matmul_broadcast(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Matrix product with one loop over rows: row ``i`` as a column, broadcast against ``b``.

    ``a[i, :, None]`` has shape (m, 1); multiplying it by ``b`` (m, p) scales
    row ``k`` of ``b`` by ``a[i, k]``, and summing over the first axis gives row
    ``i`` of the product. The (m, p) temporary is the price of dropping a loop.

    Examples
    --------
    >>> matmul_broadcast([[1, 2], [3, 4]], [[5], [6]])
    array([[17],
           [39]])
    """
    a, b = _as_matrices("matmul_broadcast", a, b)
    c = np.zeros((a.shape[0], b.shape[1]), dtype=np.result_type(a, b))
    for i in range(a.shape[0]):
        c[i] = (a[i, :, None] * b).sum(axis=0)
    return c


def matmul_einsum(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Matrix product by Einstein summation, ``'ik,kj->ij'``: all three loops in compiled code.

    Examples
    --------
    >>> matmul_einsum([[1, 2], [3, 4]], [[5], [6]])
    array([[17],
           [39]])
    """
    a, b = _as_matrices("matmul_einsum", a, b)
    return np.einsum("ik,kj->ij", a, b)


def matmul(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Matrix product ``a @ b``: for floats, handed to the BLAS library numpy was built with.

    Examples
    --------
    >>> matmul([[1, 2], [3, 4]], [[5], [6]])
    array([[17],
           [39]])
    """
    a, b = _as_matrices("matmul", a, b)
    return a @ b
