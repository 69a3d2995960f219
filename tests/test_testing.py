"""deepfound.testing: the helpers must pass true claims and fail false ones, showing both values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from deepfound.testing import check_grad, numerical_grad, test_eq, test_near, test_near_zero

# (scalar function of an array, its analytic gradient): drives the finite-difference tests.
FUNCTIONS = {
    "sum of squares": (lambda x: float((x**2).sum()), lambda x: 2 * x),
    "sum of sines": (lambda x: float(np.sin(x).sum()), np.cos),
    "log-sum-exp": (
        lambda x: float(np.log(np.exp(x).sum())),
        lambda x: np.exp(x) / np.exp(x).sum(),
    ),
    "product with a constant": (
        lambda x: float((x * np.arange(x.size).reshape(x.shape)).sum()),
        lambda x: np.arange(x.size, dtype=float).reshape(x.shape),
    ),
}

arrays = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=1, max_dims=2, max_side=5),
    elements=st.floats(-3, 3),
)


def test_eq_passes_equal_values():
    test_eq(3, 3)
    test_eq("a", "a")
    test_eq(np.arange(3), [0, 1, 2])


@pytest.mark.parametrize(
    "a, b",
    [(1, 2), (np.arange(3), np.arange(1, 4)), (np.zeros((2, 1)), np.zeros(2)), ([1], [1, 2])],
)
def test_eq_fails_unequal_values_showing_both(a, b):
    with pytest.raises(AssertionError) as error:
        test_eq(a, b)
    assert repr(a) in str(error.value) and repr(b) in str(error.value)


def test_near_respects_relative_and_absolute_tolerance():
    test_near(100.0, 100.0009, rtol=1e-5)
    with pytest.raises(AssertionError, match="largest difference"):
        test_near(100.0, 100.01, rtol=1e-5)
    test_near(0.0, 1e-9, atol=1e-8)
    with pytest.raises(AssertionError):
        test_near(0.0, 1e-6, atol=1e-8)


def test_near_rejects_different_shapes():
    with pytest.raises(AssertionError, match=r"shapes differ: \(2, 1\) and \(2,\)"):
        test_near(np.zeros((2, 1)), np.zeros(2))


def test_near_zero_bounds_the_largest_magnitude():
    test_near_zero(np.array([1e-4, -1e-4]))
    with pytest.raises(AssertionError, match="largest magnitude 0.01"):
        test_near_zero(np.array([0.0, -0.01]))
    with pytest.raises(AssertionError):
        test_near_zero(np.nan)


@pytest.mark.parametrize("name", FUNCTIONS)
@settings(max_examples=25, deadline=None)
@given(x=arrays)
def test_numerical_grad_matches_analytic_gradient(name, x):
    f, grad = FUNCTIONS[name]
    np.testing.assert_allclose(numerical_grad(f, x), grad(x), rtol=1e-6, atol=1e-7)
    check_grad(f, x, grad(x))


@pytest.mark.parametrize("name", FUNCTIONS)
def test_check_grad_fails_a_wrong_gradient(name):
    f, grad = FUNCTIONS[name]
    x = np.linspace(-1, 1, 6).reshape(2, 3)
    with pytest.raises(AssertionError, match="gradient differs from central differences"):
        check_grad(f, x, grad(x) * 1.01 + 1e-3)


def test_numerical_grad_leaves_its_input_unchanged():
    x = np.array([1.0, 2.0])
    numerical_grad(lambda v: float(v.sum()), x)
    np.testing.assert_array_equal(x, [1.0, 2.0])
