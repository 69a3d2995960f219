"""deepfound.losses against PyTorch (float64), finite differences, and extreme logits."""

from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deepfound.losses import (
    CrossEntropy,
    accuracy,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    log_softmax_grad,
    log_softmax_naive,
    logsumexp,
    nll,
    nll_grad,
    softmax,
)
from deepfound.testing import check_grad, test_near

# Functions of the logits alone: (ours, PyTorch's).
ROW_FUNCTIONS = [
    (log_softmax, lambda t: F.log_softmax(t, dim=-1)),
    (log_softmax_naive, lambda t: F.log_softmax(t, dim=-1)),
    (softmax, lambda t: F.softmax(t, dim=-1)),
    (logsumexp, lambda t: torch.logsumexp(t, dim=-1)),
]
# Label smoothings beside none, among them the extreme of a uniform target.
SMOOTHINGS = [0.1, 0.5, 1.0]
# Functions of (scores, target) returning a scalar: (ours, PyTorch's, our gradient or None).
TARGET_FUNCTIONS = [
    (cross_entropy, F.cross_entropy, cross_entropy_grad),
    *[
        (
            partial(cross_entropy, label_smoothing=eps),
            partial(F.cross_entropy, label_smoothing=eps),
            partial(cross_entropy_grad, label_smoothing=eps),
        )
        for eps in SMOOTHINGS
    ],
    (nll, F.nll_loss, nll_grad),
    (accuracy, lambda s, t: (s.argmax(-1) == t).double().mean(), None),
]
GRADIENT_FUNCTIONS = [triple for triple in TARGET_FUNCTIONS if triple[2] is not None]
STABLE_ROW_FUNCTIONS = [pair for pair in ROW_FUNCTIONS if pair[0] is not log_softmax_naive]


def NAME(f) -> str:
    if isinstance(f, partial):
        options = ",".join(f"{key}={value}" for key, value in f.keywords.items())
        return f"{NAME(f.func)}({options})"
    return getattr(f, "__name__", "none")


TOL = {"rtol": 1e-10, "atol": 1e-12}


@st.composite
def logits_and_target(draw, bound=30.0):
    n = draw(st.integers(1, 12))
    c = draw(st.integers(1, 10))
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    logits = draw(arrays(np.float64, (n, c), elements=elements))
    target = draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return logits, target


def torch_value(fn, *arrays_):
    return fn(*(torch.from_numpy(a) for a in arrays_)).detach().numpy()


@pytest.mark.parametrize(("ours", "reference"), ROW_FUNCTIONS, ids=NAME)
@settings(max_examples=40, deadline=None)
@given(data=logits_and_target())
def test_row_functions_match_torch(ours, reference, data):
    logits, _ = data
    test_near(ours(logits), torch_value(reference, logits), **TOL)


@pytest.mark.parametrize(("ours", "reference"), STABLE_ROW_FUNCTIONS, ids=NAME)
@settings(max_examples=40, deadline=None)
@given(data=logits_and_target(bound=1e4))
def test_row_functions_stable_for_extreme_logits(ours, reference, data):
    logits, _ = data
    result = ours(logits)
    assert np.isfinite(result).all()
    test_near(result, torch_value(reference, logits), **TOL)


def test_naive_log_softmax_overflows_where_the_trick_does_not():
    logits = np.array([[1e4, -1e4, 0.0]])
    with np.errstate(all="ignore"):
        assert np.isnan(log_softmax_naive(logits)).any()
    test_near(log_softmax(logits), np.array([[0.0, -2e4, -1e4]]))


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    with np.errstate(divide="ignore"):  # log(0), as numpy reports it
        assert logsumexp(np.array([[-np.inf, -np.inf]]))[0] == -np.inf


@pytest.mark.parametrize(("ours", "reference", "_"), TARGET_FUNCTIONS, ids=NAME)
@settings(max_examples=40, deadline=None)
@given(data=logits_and_target(bound=1e4))
def test_target_functions_match_torch(ours, reference, _, data):
    logits, target = data
    scores = log_softmax(logits) if ours is nll else logits
    test_near(ours(scores, target), float(torch_value(reference, scores, target)), **TOL)


@pytest.mark.parametrize(("ours", "reference", "grad"), GRADIENT_FUNCTIONS, ids=NAME)
@settings(max_examples=40, deadline=None)
@given(data=logits_and_target(bound=1e4))
def test_gradients_match_autograd(ours, reference, grad, data):
    logits, target = data
    scores = log_softmax(logits) if ours is nll else logits
    scores_t = torch.tensor(scores, requires_grad=True)
    reference(scores_t, torch.from_numpy(target)).backward()
    test_near(grad(scores, target), scores_t.grad.numpy(), **TOL)


@pytest.mark.parametrize(("ours", "_", "grad"), GRADIENT_FUNCTIONS, ids=NAME)
@settings(max_examples=15, deadline=None)
@given(data=logits_and_target(bound=5.0))
def test_gradients_match_finite_differences(ours, _, grad, data):
    logits, target = data
    check_grad(lambda s: ours(s, target), logits, grad(logits, target), rtol=1e-5, atol=1e-8)


@settings(max_examples=40, deadline=None)
@given(data=logits_and_target(bound=1e4))
def test_log_softmax_grad_matches_autograd(data):
    logits, _ = data
    grad_out = np.random.default_rng(0).standard_normal(logits.shape)
    logits_t = torch.tensor(logits, requires_grad=True)
    F.log_softmax(logits_t, dim=-1).backward(torch.from_numpy(grad_out))
    test_near(log_softmax_grad(logits, grad_out), logits_t.grad.numpy(), **TOL)


@pytest.mark.parametrize("label_smoothing", [0.0, *SMOOTHINGS])
@settings(max_examples=40, deadline=None)
@given(data=logits_and_target(bound=1e4))
def test_cross_entropy_module_matches_the_functions(label_smoothing, data):
    logits, target = data
    loss = CrossEntropy(label_smoothing=label_smoothing)
    test_near(
        loss(logits, target),
        cross_entropy(logits, target, label_smoothing=label_smoothing),
        **TOL,
    )
    first = loss.backward()
    test_near(first, cross_entropy_grad(logits, target, label_smoothing=label_smoothing), **TOL)
    test_near(loss.backward(), first, **TOL)


@pytest.mark.parametrize("label_smoothing", [0.0, *SMOOTHINGS])
@settings(max_examples=40, deadline=None)
@given(data=logits_and_target(bound=1e4), grad_out=st.floats(-10.0, 10.0))
def test_cross_entropy_module_matches_torch(label_smoothing, data, grad_out):
    logits, target = data
    logits_t = torch.tensor(logits, requires_grad=True)
    loss_t = F.cross_entropy(logits_t, torch.from_numpy(target), label_smoothing=label_smoothing)
    (grad_t,) = torch.autograd.grad(loss_t, logits_t, retain_graph=True)
    (scaled_t,) = torch.autograd.grad(loss_t, logits_t, torch.tensor(grad_out, dtype=torch.float64))
    loss = CrossEntropy(label_smoothing=label_smoothing)
    test_near(loss(logits, target), loss_t.item(), **TOL)
    test_near(loss.backward(), grad_t.numpy(), **TOL)
    test_near(loss.backward(grad_out), scaled_t.numpy(), **TOL)
    test_near(loss.backward(np.array(grad_out)), scaled_t.numpy(), **TOL)


def test_label_smoothing_of_zero_is_the_plain_loss_bit_for_bit():
    logits = np.random.default_rng(0).normal(0, 3, (7, 5))
    target = np.array([0, 4, 2, 2, 1, 3, 0])
    assert cross_entropy(logits, target, label_smoothing=0.0) == nll(log_softmax(logits), target)
    np.testing.assert_array_equal(
        cross_entropy_grad(logits, target, label_smoothing=0), cross_entropy_grad(logits, target)
    )
    plain, smoothed = CrossEntropy(), CrossEntropy(label_smoothing=0.0)
    assert plain(logits, target) == smoothed(logits, target)
    np.testing.assert_array_equal(plain.backward(), smoothed.backward())
    np.testing.assert_array_equal(plain.backward(1.0), plain.backward())


def test_label_smoothing_of_a_class_without_probability_is_infinite_as_in_torch():
    # Smoothing puts eps / C on every class, so a logit of -inf costs an infinite loss.
    logits, target = np.array([[0.0, -np.inf]]), np.array([0])
    logits_t = torch.tensor(logits, requires_grad=True)
    for eps in (0.0, 0.1):
        loss_t = F.cross_entropy(logits_t, torch.from_numpy(target), label_smoothing=eps)
        (grad_t,) = torch.autograd.grad(loss_t, logits_t)
        loss = CrossEntropy(label_smoothing=eps)
        assert cross_entropy(logits, target, label_smoothing=eps) == loss_t.item()
        assert loss(logits, target) == loss_t.item()
        test_near(cross_entropy_grad(logits, target, label_smoothing=eps), grad_t.numpy())
        test_near(loss.backward(), grad_t.numpy())


def test_float32_stays_float32():
    logits = np.array([[1.0, 2.0], [3.0, -1.0]], np.float32)
    target = np.array([1, 0])
    assert log_softmax(logits).dtype == np.float32
    for label_smoothing in (0.0, 0.1):
        grad = cross_entropy_grad(logits, target, label_smoothing=label_smoothing)
        assert grad.dtype == np.float32
        loss = CrossEntropy(label_smoothing=label_smoothing)
        loss(logits, target)
        assert loss.backward().dtype == np.float32
        assert loss.backward(np.float64(2.0)).dtype == np.float32


@pytest.mark.parametrize(
    "fn", [nll, nll_grad, cross_entropy, cross_entropy_grad, accuracy, CrossEntropy()], ids=repr
)
def test_bad_targets_are_rejected(fn):
    scores = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(2,\)"):
        fn(scores, np.array([0, 1]))
    with pytest.raises(ValueError, match="labels must lie in \\[0, 4\\), got labels from -1 to 2"):
        fn(scores, np.array([0, -1, 2]))
    with pytest.raises(ValueError, match="from 0 to 4"):
        fn(scores, np.array([0, 4, 2]))
    with pytest.raises(TypeError, match="integer class labels, got dtype float64"):
        fn(scores, np.array([0.0, 1.0, 2.0]))


# Every function of (scores, target), and the loss module, under the name its errors give.
NAMED = [
    ("nll", nll),
    ("nll_grad", nll_grad),
    ("cross_entropy", cross_entropy),
    ("cross_entropy_grad", cross_entropy_grad),
    ("accuracy", accuracy),
    ("CrossEntropy", CrossEntropy()),
]


@pytest.mark.parametrize(("name", "fn"), NAMED, ids=[name for name, _ in NAMED])
def test_zero_rows_are_an_error_naming_the_function(name, fn):
    with pytest.raises(ValueError, match=rf"^{name}: no rows \(scores of shape \(0, 3\)\)"):
        fn(np.zeros((0, 3)), np.zeros(0, np.int64))


@pytest.mark.parametrize(("name", "fn"), NAMED, ids=[name for name, _ in NAMED])
def test_lists_are_accepted_like_arrays(name, fn):
    scores, target = [[0.5, -1.0, 2.0], [0.0, 3.0, 1.0]], [2, 0]
    expected = fn(np.array(scores), np.array(target))
    np.testing.assert_array_equal(fn(scores, target), expected)


def test_the_loss_module_takes_lists_forward_and_backward():
    scores, target = [[0.5, -1.0, 2.0], [0.0, 3.0, 1.0]], [2, 0]
    loss = CrossEntropy()
    assert loss(scores, target) == cross_entropy(np.array(scores), np.array(target))
    np.testing.assert_allclose(
        loss.backward(), cross_entropy_grad(np.array(scores), np.array(target)), rtol=1e-15
    )


# Each way to give a label smoothing, under the name its errors give.
SMOOTHED_NAMED = [
    ("cross_entropy", lambda eps: cross_entropy([[0.0, 1.0]], [1], label_smoothing=eps)),
    ("cross_entropy_grad", lambda eps: cross_entropy_grad([[0.0, 1.0]], [1], label_smoothing=eps)),
    ("CrossEntropy", lambda eps: CrossEntropy(label_smoothing=eps)([[0.0, 1.0]], [1])),
]


# A label smoothing that is not a real number in [0, 1], the error, and how it ends.
BAD_SMOOTHINGS = [
    (1.5, ValueError, r"must be in \[0, 1\], got 1.5"),
    (-0.1, ValueError, r"must be in \[0, 1\], got -0.1"),
    (float("nan"), ValueError, r"must be in \[0, 1\], got nan"),
    (True, TypeError, r"must be a real number in \[0, 1\], got True of type bool"),
    ("0.1", TypeError, r"must be a real number in \[0, 1\], got '0.1' of type str"),
    (None, TypeError, r"must be a real number in \[0, 1\], got None of type NoneType"),
    (
        np.array(0.1),
        TypeError,
        r"must be a real number in \[0, 1\], got array\(0.1\) of type ndarray",
    ),
]


@pytest.mark.parametrize(("name", "make"), SMOOTHED_NAMED, ids=[n for n, _ in SMOOTHED_NAMED])
@pytest.mark.parametrize(
    ("label_smoothing", "error", "message"),
    BAD_SMOOTHINGS,
    ids=[repr(b[0]) for b in BAD_SMOOTHINGS],
)
def test_bad_label_smoothing_is_an_error_naming_the_function(
    name, make, label_smoothing, error, message
):
    with pytest.raises(error, match=rf"^{name}: label_smoothing {message}$"):
        make(label_smoothing)


@pytest.mark.parametrize(("name", "make"), SMOOTHED_NAMED, ids=[n for n, _ in SMOOTHED_NAMED])
@pytest.mark.parametrize("label_smoothing", [0, 1, np.float32(0.25), np.int64(1)], ids=repr)
def test_any_real_label_smoothing_in_range_is_accepted(name, make, label_smoothing):
    np.testing.assert_array_equal(make(label_smoothing), make(float(label_smoothing)))


def test_label_smoothing_is_keyword_only():
    with pytest.raises(TypeError):
        cross_entropy([[0.0, 1.0]], [1], 0.1)
    with pytest.raises(TypeError):
        cross_entropy_grad([[0.0, 1.0]], [1], 0.1)
    with pytest.raises(TypeError):
        CrossEntropy(0.1)


def test_cross_entropy_repr_shows_label_smoothing_when_there_is_some():
    assert repr(CrossEntropy()) == "CrossEntropy()"
    assert repr(CrossEntropy(label_smoothing=0)) == "CrossEntropy()"
    assert repr(CrossEntropy(label_smoothing=0.1)) == "CrossEntropy(label_smoothing=0.1)"
    assert repr(CrossEntropy(label_smoothing=1)) == "CrossEntropy(label_smoothing=1.0)"


def test_cross_entropy_backward_takes_a_number_only():
    loss = CrossEntropy()
    loss(np.zeros((2, 3)), np.array([0, 2]))
    with pytest.raises(
        ValueError, match=r"^CrossEntropy.backward: grad_out must be a number.*\(2, 3\)"
    ):
        loss.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(loss.backward(0.0), np.zeros((2, 3)))


@pytest.mark.parametrize("fn", [log_softmax, log_softmax_naive, softmax, logsumexp], ids=NAME)
def test_row_functions_take_lists(fn):
    np.testing.assert_array_equal(fn([[1.0, 2.0, 3.0]]), fn(np.array([[1.0, 2.0, 3.0]])))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.int8])
def test_cross_entropy_module_for_any_layout_and_integer_dtype(dtype):
    rng = np.random.default_rng(0)
    logits, target = rng.standard_normal((9, 6)), rng.integers(0, 9, 6)
    expected_loss, expected_grad = (
        cross_entropy(logits.T, target),
        cross_entropy_grad(logits.T, target),
    )
    for layout in (logits.T, np.ascontiguousarray(logits.T), np.asfortranarray(logits.T)):
        loss = CrossEntropy()
        test_near(loss(layout, target.astype(dtype)), expected_loss, **TOL)
        test_near(loss.backward(), expected_grad, **TOL)
    if np.issubdtype(dtype, np.signedinteger):
        with pytest.raises(ValueError, match="got labels from -1 to 5"):
            CrossEntropy()(logits.T, np.array([0, -1, 5, 2, 3, 4], dtype))
    with pytest.raises(ValueError, match="got labels from 0 to 9"):
        CrossEntropy()(logits.T, np.array([0, 9, 5, 2, 3, 4], dtype))
