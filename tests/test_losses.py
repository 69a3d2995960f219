"""deepfound.losses: extreme logits, and what the oracle (tests/oracle.py) does not check.

``log_softmax``, ``nll`` and ``cross_entropy`` (with and without label smoothing) with
their gradients, ``softmax``, ``logsumexp``, ``log_softmax_naive`` and ``accuracy``, and
the ``CrossEntropy`` module, against PyTorch, finite differences and the plain pairs,
are entries of the oracle's table, on logits of order one to ten. Here the same
comparisons run on logits up to ±1e4, where ``exp`` overflows unless the maximum is
taken out first (and where central differences lose their meaning); then labels,
label smoothing, dtypes, layouts and errors.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from oracle import (
    LAYERS_BY_NAME,
    PAIRS_BY_NAME,
    assert_close,
    check_layer_step,
    check_pair_gradients,
    check_pair_value,
    check_step_equals_pair,
)
from strategies import Inputs

from deepfound.losses import (
    CrossEntropy,
    accuracy,
    cross_entropy,
    cross_entropy_grad,
    log_softmax,
    log_softmax_naive,
    logsumexp,
    nll,
    nll_grad,
    soft_cross_entropy,
    soft_cross_entropy_grad,
    softmax,
)
from deepfound.testing import test_near


@st.composite
def extreme_logits(draw, bound=1e4):
    """Logits anywhere in [-bound, bound] (ties at the bounds included), and labels."""
    n, c = draw(st.integers(1, 12)), draw(st.integers(1, 10))
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    logits = draw(arrays(np.float64, (n, c), elements=elements))
    target = draw(arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    return logits, target


# The oracle's entries that take logits, and their arguments made of logits and labels.
OF_LOGITS = {
    "log_softmax": lambda logits, target: {"x": logits},
    "softmax": lambda logits, target: {"x": logits},
    "logsumexp": lambda logits, target: {"x": logits},
    "nll": lambda logits, target: {"log_probs": log_softmax(logits), "target": target},
    "cross_entropy": lambda logits, target: {"logits": logits, "target": target},
    "cross_entropy, label_smoothing": lambda logits, target: {"logits": logits, "target": target},
    "accuracy": lambda logits, target: {"logits": logits, "target": target},
}
# Label smoothings beside none, among them the extreme of a uniform target.
SMOOTHINGS = [0.1, 0.5, 1.0]


@pytest.mark.parametrize("name", OF_LOGITS)
@settings(max_examples=40, deadline=None)
@given(data=extreme_logits(), label_smoothing=st.sampled_from(SMOOTHINGS), seed=st.integers(0, 99))
def test_logits_of_1e4_match_torch(name, data, label_smoothing, seed):
    pair = PAIRS_BY_NAME[name]
    options = {"label_smoothing": label_smoothing} if "label_smoothing" in name else {}
    inputs = Inputs(OF_LOGITS[name](*data), options, seed)
    check_pair_value(pair, inputs)
    if pair.f_grad is not None:
        check_pair_gradients(pair, inputs)


@pytest.mark.parametrize("label_smoothing", [0.0, *SMOOTHINGS])
@settings(max_examples=40, deadline=None)
@given(data=extreme_logits(), seed=st.integers(0, 99))
def test_cross_entropy_module_at_logits_of_1e4_matches_torch_and_the_functions(
    label_smoothing, data, seed
):
    layer = LAYERS_BY_NAME["CrossEntropy"]
    ours, theirs = layer.build({"label_smoothing": label_smoothing}, None)
    check_layer_step("CrossEntropy", ours, theirs, data, np.random.default_rng(seed))
    check_step_equals_pair(layer, "CrossEntropy", ours, data, np.random.default_rng(seed))


def test_naive_log_softmax_overflows_where_the_trick_does_not():
    logits = np.array([[1e4, -1e4, 0.0]])
    with np.errstate(all="ignore"):
        assert np.isnan(log_softmax_naive(logits)).any()
    test_near(log_softmax(logits), np.array([[0.0, -2e4, -1e4]]))


def test_logsumexp_of_all_minus_infinity_is_minus_infinity():
    with np.errstate(divide="ignore"):  # log(0), as numpy reports it
        assert logsumexp(np.array([[-np.inf, -np.inf]]))[0] == -np.inf


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
    assert cross_entropy(logits, target, label_smoothing=0.1) == np.inf
    for eps in (0.0, 0.1):
        inputs = Inputs({"logits": logits, "target": target}, {"label_smoothing": eps}, seed=0)
        check_pair_value(PAIRS_BY_NAME["cross_entropy, label_smoothing"], inputs)
        check_pair_gradients(PAIRS_BY_NAME["cross_entropy, label_smoothing"], inputs)
        ours, theirs = LAYERS_BY_NAME["CrossEntropy"].build({"label_smoothing": eps}, None)
        check_layer_step("CrossEntropy", ours, theirs, (logits, target), np.random.default_rng(0))


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
    np.testing.assert_array_equal(loss.backward(np.array(2.0)), loss.backward(2.0))


@pytest.mark.parametrize(
    "fn", [log_softmax, log_softmax_naive, softmax, logsumexp], ids=lambda f: f.__name__
)
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
        assert_close(loss(layout, target.astype(dtype)), expected_loss, "CrossEntropy: loss")
        assert_close(loss.backward(), expected_grad, "CrossEntropy: gradient")
    if np.issubdtype(dtype, np.signedinteger):
        with pytest.raises(ValueError, match="got labels from -1 to 5"):
            CrossEntropy()(logits.T, np.array([0, -1, 5, 2, 3, 4], dtype))
    with pytest.raises(ValueError, match="got labels from 0 to 9"):
        CrossEntropy()(logits.T, np.array([0, 9, 5, 2, 3, 4], dtype))


# Targets that are distributions over the classes (mixup's).


def soft_case(seed: int, n: int = 6, c: int = 5):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 3, (n, c)), rng.dirichlet(np.ones(c), n), rng.integers(0, c, n)


@pytest.mark.parametrize("eps", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_the_module_and_cross_entropy_take_soft_targets_as_torch_does(eps, seed):
    logits, probs, _ = soft_case(seed)
    t_logits = torch.tensor(logits, requires_grad=True)
    theirs = F.cross_entropy(t_logits, torch.tensor(probs), label_smoothing=eps)
    theirs.backward()
    loss = CrossEntropy(label_smoothing=eps)
    assert_close(loss(logits, probs), theirs, "CrossEntropy, soft target")
    assert_close(loss.backward(), t_logits.grad, "CrossEntropy.backward, soft target")
    assert_close(cross_entropy(logits, probs, label_smoothing=eps), theirs, "cross_entropy")
    grad = cross_entropy_grad(logits, probs, label_smoothing=eps)
    assert_close(grad, t_logits.grad, "cross_entropy_grad, soft target")


@pytest.mark.parametrize("eps", [0.0, 0.3])
def test_one_hot_targets_give_the_labels_loss(eps):
    logits, _, labels = soft_case(0)
    one_hot = np.eye(logits.shape[1])[labels]
    test_near(
        soft_cross_entropy(logits, one_hot, label_smoothing=eps),
        cross_entropy(logits, labels, label_smoothing=eps),
    )
    test_near(
        soft_cross_entropy_grad(logits, one_hot, label_smoothing=eps),
        cross_entropy_grad(logits, labels, label_smoothing=eps),
    )


def test_the_loss_of_a_blended_target_is_the_blend_of_the_losses():
    # What mixup relies on: the loss is linear in the target.
    logits, _, a = soft_case(1)
    b, lam = np.roll(a, 1), np.random.default_rng(1).uniform(0.5, 1, len(a))
    eye = np.eye(logits.shape[1])
    blended = lam[:, None] * eye[a] + (1 - lam[:, None]) * eye[b]
    rows = -log_softmax(logits)
    by_row = lam * rows[np.arange(len(a)), a] + (1 - lam) * rows[np.arange(len(a)), b]
    test_near(soft_cross_entropy(logits, blended), by_row.mean())


def test_a_float32_soft_target_keeps_the_gradient_float32():
    logits, probs, _ = soft_case(2)
    loss = CrossEntropy()
    loss(logits.astype(np.float32), probs.astype(np.float32))
    assert loss.backward().dtype == np.float32


@pytest.mark.parametrize(
    ("target", "error", "message"),
    [
        (np.full((2, 3), 1 / 3)[:, :2], ValueError, "same shape expected"),
        (np.array([[0.5, 0.6, -0.1], [1.0, 0.0, 0.0]]), ValueError, "probabilities >= 0"),
        (np.array([[0.5, 0.6, 0.0], [1.0, 0.0, 0.0]]), ValueError, "summing to 1"),
        (np.array([[0, 1, 0], [1, 0, 0]]), TypeError, "as floats"),
    ],
    ids=["shape", "negative", "sum", "integers"],
)
@pytest.mark.parametrize(
    "fn",
    [
        soft_cross_entropy,
        soft_cross_entropy_grad,
        cross_entropy,
        cross_entropy_grad,
        lambda logits, target: CrossEntropy()(logits, target),
    ],
    ids=["soft_cross_entropy", "soft_cross_entropy_grad", "cross_entropy", "grad", "module"],
)
def test_bad_soft_targets_are_rejected(fn, target, error, message):
    with pytest.raises(error, match=message):
        fn(np.zeros((2, 3)), target)
