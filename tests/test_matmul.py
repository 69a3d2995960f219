"""deepfound.matmul: every variant against numpy's and PyTorch's matrix products."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepfound.matmul import (
    matmul,
    matmul_broadcast,
    matmul_einsum,
    matmul_elementwise,
    matmul_loops,
)

VARIANTS = [matmul_loops, matmul_elementwise, matmul_broadcast, matmul_einsum, matmul]


def torch_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return torch.matmul(torch.from_numpy(a), torch.from_numpy(b)).numpy()


# The oracles every variant is checked against, in float64.
REFERENCES = [np.matmul, torch_matmul]

small = st.integers(1, 8)
SHAPES = {
    "1x1": st.just((1, 1, 1)),
    "k=1": st.tuples(small, st.just(1), small),
    "tall": st.tuples(st.integers(20, 60), small, st.integers(1, 3)),
    "wide": st.tuples(st.integers(1, 3), small, st.integers(20, 60)),
    "any": st.tuples(small, st.integers(1, 40), small),
}
values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


def assert_product_close(c, a, b, ref, *, rtol: float = 1e-12) -> None:
    """``c`` within ``rtol`` of ``ref``, relative to ``|a| @ |b|``.

    Sums in a different order round differently, and with cancellation an entry
    of the product can be far smaller than its terms. The rounding error of a
    dot product is bounded by (m u) times the dot product of the absolute values,
    with u = 1.1e-16 in float64, so that is the scale the tolerance is relative to.
    """
    assert c.shape == ref.shape and c.dtype == ref.dtype
    scale = np.abs(a).astype(np.float64) @ np.abs(b).astype(np.float64)
    error = np.abs(c.astype(np.complex128) - ref)
    assert np.all(error <= rtol * scale), np.max(error / (scale + 1e-300))


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda f: f.__name__)
@pytest.mark.parametrize("kind", SHAPES)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_float64_matches_reference(variant, kind, reference, data):
    n, m, p = data.draw(SHAPES[kind], label="n, m, p")
    a = data.draw(hnp.arrays(np.float64, (n, m), elements=values), label="a")
    b = data.draw(hnp.arrays(np.float64, (m, p), elements=values), label="b")
    c = variant(a, b)
    assert c.dtype == np.float64
    assert_product_close(c, a, b, reference(a, b))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
@settings(max_examples=20, deadline=None)
@given(
    dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64, np.uint64]),
    shape=SHAPES["any"],
    data=st.data(),
)
def test_integers_exact_and_wrap_like_numpy(variant, dtype, shape, data):
    n, m, p = shape
    a = data.draw(hnp.arrays(dtype, (n, m)), label="a")
    b = data.draw(hnp.arrays(dtype, (m, p)), label="b")
    c = variant(a, b)
    assert c.dtype == dtype
    np.testing.assert_array_equal(c, a @ b)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(
    ("dtype_a", "dtype_b"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.float32, np.float64),
        (np.int32, np.float32),
        (np.complex128, np.float64),
        (np.bool_, np.bool_),
    ],
)
def test_dtype_is_the_inputs_common_dtype(variant, dtype_a, dtype_b):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((4, 6)) * 3).astype(dtype_a)
    b = (rng.standard_normal((6, 5)) * 3).astype(dtype_b)
    c, ref = variant(a, b), a @ b
    assert c.dtype == ref.dtype
    if ref.dtype == np.bool_:
        np.testing.assert_array_equal(c, ref)
    else:
        # float32 rounds at u = 6e-8, so agreement is only to about m u = 4e-7 of |a| @ |b|.
        rtol = 1e-5 if ref.dtype == np.float32 else 1e-12
        assert_product_close(c, a, b, ref, rtol=rtol)


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
def test_nested_lists(variant):
    a = [[1.5, 2.0, -1.0], [0.0, 4.0, 2.5]]
    b = [[1.0, 2.0], [3.0, -4.0], [0.5, 0.0]]
    expected = np.array([[7.0, -5.0], [13.25, -16.0]])
    c = variant(a, b)
    assert c.dtype == np.float64
    np.testing.assert_array_equal(c, expected)
    np.testing.assert_array_equal(variant([[2, 3]], [[4], [5]]), np.array([[23]]))


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("n", "m", "p"), [(0, 3, 2), (3, 0, 2), (3, 2, 0)])
def test_empty_dimensions(variant, n, m, p):
    a, b = np.ones((n, m)), np.ones((m, p))
    c = variant(a, b)
    assert c.shape == (n, p) and c.dtype == np.float64
    np.testing.assert_array_equal(c, a @ b)


BAD_SHAPES = [
    ((784,), (784, 10), "2-D matrices expected"),
    ((5, 784), (784,), "2-D matrices expected"),
    ((), (1, 1), "2-D matrices expected"),
    ((2, 5, 784), (784, 10), "2-D matrices expected"),
    ((5, 784), (783, 10), "inner dimensions differ"),
    ((10, 784), (10, 784), "inner dimensions differ"),
]


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("shape_a", "shape_b", "problem"), BAD_SHAPES)
def test_bad_shapes_name_both_shapes(variant, shape_a, shape_b, problem):
    with pytest.raises(ValueError) as info:
        variant(np.zeros(shape_a), np.zeros(shape_b))
    message = str(info.value)
    assert message.startswith(f"{variant.__name__}: {problem}")
    assert str(shape_a) in message and str(shape_b) in message


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda f: f.__name__)
def test_ragged_lists_and_non_numbers(variant):
    with pytest.raises(ValueError, match=f"^{variant.__name__}: inputs are not rectangular"):
        variant([[1.0, 2.0], [3.0]], [[1.0], [2.0]])
    with pytest.raises(TypeError, match=re.escape(f"{variant.__name__}: numeric matrices")):
        variant([["a", "b"]], [[1.0], [2.0]])
