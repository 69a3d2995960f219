"""deepfound.functional against PyTorch (float64) and central finite differences.

One table, ``CASES``, pairs each deepfound function and its gradient with the
PyTorch function it must equal; the value, finite-difference and autograd tests
all iterate over it, on shapes and values drawn by hypothesis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deepfound.functional import lin, lin_grad, mse, mse_grad, relu, relu_grad
from deepfound.testing import check_grad, test_near


@dataclass(frozen=True)
class Case:
    """A function, its gradient and its PyTorch twin.

    ``grad(*inputs, grad_out)`` returns the gradients with respect to the first
    ``n_grads`` inputs; ``make_inputs(rng, n, n_in, n_out)`` builds float64 inputs.
    """

    name: str
    ours: Callable
    grad: Callable
    theirs: Callable
    make_inputs: Callable
    n_grads: int


def _away_from_zero(x: np.ndarray) -> np.ndarray:
    # Finite differences straddling ReLU's kink at 0 measure neither side's slope.
    return np.where(np.abs(x) < 1e-2, x + np.copysign(0.1, x), x)


CASES = [
    Case(
        "relu",
        relu,
        lambda x, g: (relu_grad(x, g),),
        F.relu,
        lambda rng, n, n_in, n_out: (_away_from_zero(rng.standard_normal((n, n_in))),),
        1,
    ),
    Case(
        "lin",
        lin,
        lambda x, w, b, g: lin_grad(x, w, g),
        lambda x, w, b: x @ w + b,
        lambda rng, n, n_in, n_out: (
            rng.standard_normal((n, n_in)),
            rng.standard_normal((n_in, n_out)),
            rng.standard_normal(n_out),
        ),
        3,
    ),
    Case(
        "mse, (n, 1) prediction and (n,) target",
        mse,
        lambda pred, target, g: (g * mse_grad(pred, target),),
        lambda pred, target: F.mse_loss(pred, target[:, None]),
        lambda rng, n, n_in, n_out: (rng.standard_normal((n, 1)), rng.standard_normal(n)),
        1,
    ),
    Case(
        "mse, equal shapes",
        mse,
        lambda pred, target, g: (g * mse_grad(pred, target),),
        F.mse_loss,
        lambda rng, n, n_in, n_out: (
            rng.standard_normal((n, n_out)),
            rng.standard_normal((n, n_out)),
        ),
        1,
    ),
]
IDS = [case.name for case in CASES]

sizes = given(
    n=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 4), seed=st.integers(0, 2**32)
)


def _inputs(case: Case, n: int, n_in: int, n_out: int, seed: int):
    rng = np.random.default_rng(seed)
    inputs = case.make_inputs(rng, n, n_in, n_out)
    out = np.asarray(case.ours(*inputs))
    grad_out = rng.standard_normal(out.shape)
    return inputs, out, grad_out


values = st.floats(-10, 10, allow_nan=False, allow_infinity=False)


def _drawn_inputs(case: Case, data, n: int, n_in: int, n_out: int):
    """Inputs of the case's shapes with values drawn by hypothesis (zeros and ties included)."""
    shapes = [a.shape for a in case.make_inputs(np.random.default_rng(0), n, n_in, n_out)]
    inputs = tuple(data.draw(arrays(np.float64, shape, elements=values)) for shape in shapes)
    out = np.asarray(case.ours(*inputs))
    grad_out = data.draw(arrays(np.float64, out.shape, elements=values))
    return inputs, out, grad_out


drawn = given(data=st.data(), n=st.integers(1, 6), n_in=st.integers(1, 6), n_out=st.integers(1, 4))


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=25, deadline=None)
@drawn
def test_value_matches_torch(case: Case, data, n: int, n_in: int, n_out: int) -> None:
    inputs, out, _ = _drawn_inputs(case, data, n, n_in, n_out)
    expected = case.theirs(*map(torch.from_numpy, inputs)).numpy()
    test_near(out, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=25, deadline=None)
@drawn
def test_grad_matches_autograd(case: Case, data, n: int, n_in: int, n_out: int) -> None:
    inputs, _, grad_out = _drawn_inputs(case, data, n, n_in, n_out)
    tensors = [torch.tensor(a, requires_grad=i < case.n_grads) for i, a in enumerate(inputs)]
    case.theirs(*tensors).backward(torch.from_numpy(grad_out))
    grads = case.grad(*inputs, grad_out)
    assert len(grads) == case.n_grads
    for ours, tensor in zip(grads, tensors, strict=False):
        test_near(ours, tensor.grad.numpy(), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=IDS)
@settings(max_examples=10, deadline=None)
@sizes
def test_grad_matches_finite_differences(
    case: Case, n: int, n_in: int, n_out: int, seed: int
) -> None:
    inputs, _, grad_out = _inputs(case, n, n_in, n_out, seed)
    grads = case.grad(*inputs, grad_out)
    for i in range(case.n_grads):

        def loss(a, i=i):
            # The scalar whose gradient is grad_out pulled back through the function.
            varied = [*inputs[:i], a, *inputs[i + 1 :]]
            return float((np.asarray(case.ours(*varied)) * grad_out).sum())

        check_grad(loss, inputs[i], grads[i], rtol=1e-6, atol=1e-8)


def test_relu_grad_is_zero_at_the_kink_like_torch() -> None:
    x = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    F.relu(x).sum().backward()
    test_near(relu_grad(x.detach().numpy(), np.ones(3)), x.grad.numpy())


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
