"""deepfound.functional: what the oracle (tests/oracle.py) does not check.

The values and gradients of ``relu``, ``lin`` and ``mse`` against PyTorch and finite
differences are entries of the oracle's table; here are ReLU at its kink, skipping the
input's gradient, dtypes, shapes and errors; the general ReLU at its kinks and its options.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from oracle import PAIRS_BY_NAME, check_pair_gradients
from strategies import Inputs

from deepfound.functional import (
    general_relu,
    general_relu_grad,
    lin,
    lin_grad,
    mse,
    mse_grad,
    relu,
    relu_grad,
)
from deepfound.testing import test_near


def test_relu_grad_is_zero_at_the_kink_like_torch() -> None:
    inputs = Inputs({"x": np.array([[-1.0, 0.0, 1.0], [0.0, -0.0, 2.0]])}, {}, seed=0)
    check_pair_gradients(PAIRS_BY_NAME["relu"], inputs)
    np.testing.assert_array_equal(
        relu_grad(inputs.args["x"], np.ones((2, 3))), [[0, 0, 1], [0, 0, 1]]
    )


def test_lin_grad_can_skip_the_input_gradient() -> None:
    rng = np.random.default_rng(0)
    x, w, g = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    full, skipped = lin_grad(x, w, g), lin_grad(x, w, g, input_grad=False)
    assert skipped[0] is None
    test_near(skipped[1], full[1])
    test_near(skipped[2], full[2])


def test_functions_keep_float32() -> None:
    x = np.ones((3, 4), np.float32)
    w, b = np.ones((4, 2), np.float32), np.zeros(2, np.float32)
    assert lin(x, w, b).dtype == np.float32
    assert relu(x).dtype == relu_grad(x, x).dtype == np.float32
    assert {g.dtype for g in lin_grad(x, w, np.ones((3, 2), np.float32))} == {np.dtype(np.float32)}
    # Digit labels are int64; the gradient must not be promoted to float64 by them.
    assert mse_grad(np.ones((3, 1), np.float32), np.arange(3)).dtype == np.float32


def test_mse_compares_row_by_row_not_every_pair() -> None:
    pred, target = np.arange(4.0)[:, None], np.arange(4.0)
    # Unchecked, (4, 1) - (4,) is (4, 4): every prediction against every target.
    assert (pred - target).shape == (4, 4)
    assert float(((pred - target) ** 2).mean()) == 2.5
    assert mse(pred, target) == 0.0
    assert mse_grad(pred, target).shape == (4, 1)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: lin(np.ones((2, 5)), np.ones((3, 4)), np.zeros(4)), r"\(batch, 3\).*\(2, 5\)"),
        (lambda: lin(np.ones(3), np.ones((3, 4)), np.zeros(4)), r"\(batch, 3\).*got \(3,\)"),
        (lambda: lin(np.ones((2, 3)), np.ones(3), np.zeros(4)), r"weight.*got \(3,\)"),
        (lambda: lin(np.ones((2, 3)), np.ones((3, 4)), np.zeros(3)), r"bias.*\(4,\).*\(3,\)"),
        (
            lambda: lin_grad(np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 3))),
            r"\(2, 4\).*\(2, 3\)",
        ),
        (lambda: relu_grad(np.ones((2, 3)), np.ones((3, 2))), r"\(2, 3\).*\(3, 2\)"),
        (lambda: mse(np.ones((3, 1)), np.ones(4)), r"\(3, 1\) or \(3,\).*got \(4,\)"),
        (lambda: mse(np.ones(3), np.ones((3, 1))), r"\(3,\).*got \(3, 1\)"),
        (lambda: mse_grad(np.ones((3, 2)), np.ones(3)), r"\(3, 2\).*got \(3,\)"),
    ],
)
def test_bad_shapes_raise_value_error_naming_them(call: Callable, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("fn", [mse, mse_grad], ids=lambda f: f.__name__)
def test_zero_rows_are_an_error_naming_the_function(fn: Callable) -> None:
    with pytest.raises(ValueError, match=rf"^{fn.__name__}: empty prediction of shape \(0, 1\)"):
        fn(np.zeros((0, 1)), np.zeros(0))


def test_lists_are_accepted_like_arrays() -> None:
    x, w, b, grad_out = (
        [[1.0, -2.0], [3.0, 0.5]],
        [[1.0, 0.0, 2.0], [0.5, 1.0, -1.0]],
        [0, 1, 2],
        [[1.0, 2.0, 3.0], [0.0, -1.0, 1.0]],
    )
    arrays_ = [np.array(a, dtype=np.float64) for a in (x, w, b, grad_out)]
    np.testing.assert_array_equal(lin(x, w, b), lin(*arrays_[:3]))
    for ours, theirs in zip(
        lin_grad(x, w, grad_out), lin_grad(arrays_[0], arrays_[1], arrays_[3]), strict=True
    ):
        np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(relu_grad(x, x), relu_grad(arrays_[0], arrays_[0]))
    assert mse([[1.0], [3.0]], [0.0, 1.0]) == 2.5
    np.testing.assert_array_equal(mse_grad([[1.0], [3.0]], [0.0, 1.0]), [[1.0], [2.0]])


def test_general_relu_grad_at_both_kinks_is_torch_s() -> None:
    # x = 0, where leaky_relu takes the slope `leak`, and outputs exactly at maxv, where
    # clamp passes the gradient; 0.9 - 0.4 is 0.5 in float64.
    x = np.array([[-1.0, 0.0, 0.9, 3.0], [-0.0, 0.5, 0.9, 0.3]])
    inputs = Inputs({"x": x}, dict(leak=0.1, sub=0.4, maxv=0.5), seed=0)
    assert general_relu(x, **inputs.options)[0, 2] == 0.5  # at the clamp exactly
    check_pair_gradients(PAIRS_BY_NAME["general_relu"], inputs)
    expected = [[0.1, 0.1, 1.0, 0.0], [0.1, 1.0, 1.0, 1.0]]
    test_near(general_relu_grad(x, np.ones_like(x), **inputs.options), np.array(expected))


def test_general_relu_with_its_defaults_is_relu_and_keeps_float32() -> None:
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    np.testing.assert_array_equal(general_relu(x), relu(x))
    np.testing.assert_array_equal(general_relu_grad(x, x), relu_grad(x, x))
    options = dict(leak=0.1, sub=0.4, maxv=1.0)
    assert general_relu(x, **options).dtype == np.float32
    assert general_relu_grad(x, x, **options).dtype == np.float32


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (dict(leak=-0.1), "leak must be at least 0, got -0.1"),
        (dict(leak=float("nan")), "leak must be finite, got nan"),
        (dict(sub=float("inf")), "sub must be finite, got inf"),
        (dict(maxv=float("-inf")), "maxv must be finite, got -inf"),
        (dict(maxv="6"), "maxv must be a number, got '6'"),
        (dict(sub=None), "sub must be a number, got None"),
        (dict(leak=True), "leak must be a number, got True"),
    ],
)
def test_general_relu_rejects_bad_options_naming_them(options, message: str) -> None:
    with pytest.raises(ValueError, match=f"general_relu: {message}"):
        general_relu(np.ones(2), **options)
    with pytest.raises(ValueError, match=f"general_relu_grad: {message}"):
        general_relu_grad(np.ones(2), np.ones(2), **options)


def test_general_relu_grad_checks_the_gradient_s_shape() -> None:
    with pytest.raises(ValueError, match=r"grad_out of shape \(2, 3\) .* got \(3, 2\)"):
        general_relu_grad(np.ones((2, 3)), np.ones((3, 2)))
