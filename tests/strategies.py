"""What the tests draw: hypothesis strategies for the oracle's entries and the modules' own tests.

Hypothesis draws shapes, options and a seed; the values come from a numpy generator with
that seed, of order one, so that the same arrays serve the comparisons with PyTorch and
the finite differences. Inputs where a function has a kink keep away from it
(:func:`away_from_zero`, :func:`distinct`): ties and zeros are the subject of tests of
their own.

A pair's inputs are an :class:`Inputs`; a layer's case is a dict of sizes and options
with a ``seed`` and ``modes``, the steps it runs (each ``"train"`` or ``"eval"``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from deepfound.losses import log_softmax


@dataclass
class Inputs:
    """A pair's arguments by name (``None`` for one left out, as a bias), options and a seed."""

    args: dict
    options: dict
    seed: int


seeds = st.integers(0, 2**32 - 1)
STRIDES = st.integers(1, 3)
POOL_STRIDES = st.none() | STRIDES  # none: the kernel size, PyTorch's default
# The steps of a layer with running statistics: the two modes in any order.
modes = st.lists(st.sampled_from(["train", "eval"]), min_size=1, max_size=3)
momenta = st.sampled_from([0.0, 0.1, 0.5, 1.0])
# Label smoothings: none, some, and the extreme of a uniform target.
smoothings = st.sampled_from([0.0, 0.1, 0.5, 1.0])


def away_from_zero(x: np.ndarray) -> np.ndarray:
    """``x`` with no entry within 1e-3 of 0: central differences across ReLU's kink fail."""
    return np.where(np.abs(x) < 1e-3, x + np.copysign(0.1, x), x)


def distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values in [-3, 3), at least 5 / size apart: no window's maximum is nearly tied."""
    size = int(np.prod(shape))
    ranks = rng.permutation(size).reshape(shape)
    return (ranks + rng.uniform(0, 0.1, shape)) * (6 / size) - 3


# The plain pairs' inputs.


@st.composite
def matrices(draw) -> Inputs:
    n, m, seed = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(seeds)
    x = away_from_zero(np.random.default_rng(seed).normal(0, 2, (n, m)))
    return Inputs({"x": x}, {}, seed)


def away_from_clamp(x: np.ndarray, leak: float, sub: float, maxv: float | None) -> np.ndarray:
    """``x`` with no entry whose general ReLU output lies within 1e-3 of the clamp ``maxv``.

    Such an entry moves a whole unit away from zero, keeping its sign: its output moves
    by 1, or by ``leak`` on the negative side (where a slope near 0 makes the kink vanish).
    """
    if maxv is None:
        return x
    out = np.where(x > 0, x, leak * x) - sub
    return np.where(np.abs(out - maxv) < 1e-3, x + np.sign(x), x)


leaks = st.sampled_from([0.0, 0.01, 0.1]) | st.floats(0, 1)
subs = st.sampled_from([0.0, 0.4]) | st.floats(-1, 1)
maxvs = st.none() | st.sampled_from([0.5, 6.0]) | st.floats(-1, 6)


@st.composite
def general_relus(draw) -> Inputs:
    """Rows, and a general ReLU's options; no entry within reach of either kink."""
    n, m, seed = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(seeds)
    options = dict(leak=draw(leaks), sub=draw(subs), maxv=draw(maxvs))
    x = away_from_zero(np.random.default_rng(seed).normal(0, 2, (n, m)))
    return Inputs({"x": away_from_clamp(x, **options)}, options, seed)


@st.composite
def affine(draw) -> Inputs:
    n, n_in, n_out = (draw(st.integers(1, k)) for k in (6, 6, 4))
    seed = draw(seeds)
    rng = np.random.default_rng(seed)
    args = {"x": rng.standard_normal((n, n_in)), "w": rng.standard_normal((n_in, n_out))}
    return Inputs({**args, "b": rng.standard_normal(n_out)}, {}, seed)


@st.composite
def regression(draw, *, flat_target: bool) -> Inputs:
    """A prediction (n, width) and its target; (n, 1) against (n,) with ``flat_target``."""
    n, seed = draw(st.integers(1, 8)), draw(seeds)
    width = 1 if flat_target else draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    pred = rng.standard_normal((n, width))
    target = rng.standard_normal(n if flat_target else (n, width))
    return Inputs({"pred": pred, "target": target}, {}, seed)


def logits(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    """Logits (n, c), normal with a spread from 0.1 (near uniform) to 10 (near one-hot)."""
    return rng.normal(0, rng.uniform(0.1, 10), (n, c))


@st.composite
def classification(
    draw, *, log_probs: bool = False, label_smoothing=None, soft: bool = False
) -> Inputs:
    """Logits (or their log-softmax) and labels, a label smoothing drawn from the strategy given.

    With ``soft``, the target of each row is a distribution over the classes instead of a label.
    """
    n, c, seed = draw(st.integers(1, 8)), draw(st.integers(1, 10)), draw(seeds)
    rng = np.random.default_rng(seed)
    scores, target = logits(rng, n, c), rng.integers(0, c, n)
    if soft:
        target = rng.dirichlet(np.ones(c), n)
    options = {} if label_smoothing is None else {"label_smoothing": draw(label_smoothing)}
    if log_probs:
        return Inputs({"log_probs": log_softmax(scores), "target": target}, options, seed)
    return Inputs({"logits": scores, "target": target}, options, seed)


def logit_rows() -> st.SearchStrategy[Inputs]:
    """Logits alone, for the functions of rows."""
    return classification().map(lambda i: Inputs({"x": i.args["logits"]}, {}, i.seed))


@st.composite
def conv_cases(draw, *, stride=STRIDES, square: bool = False) -> dict:
    """Shapes, stride and padding of a convolution that fits; images down to the kernel's size."""
    k = draw(st.integers(1, 4))
    # Mostly square kernels, some not.
    kw = k if square else draw(st.one_of(st.just(k), st.integers(1, 4)))
    padding = draw(st.integers(0, 2))
    # The padded image must hold one kernel: a 1×1 output.
    smallest_h, smallest_w = max(1, k - 2 * padding), max(1, kw - 2 * padding)
    return dict(
        n=draw(st.integers(1, 3)),
        c_in=draw(st.integers(1, 3)),
        c_out=draw(st.integers(1, 3)),
        h=draw(st.integers(smallest_h, smallest_h + 6)),
        w=draw(st.integers(smallest_w, smallest_w + 6)),
        k=k,
        kw=kw,
        stride=draw(stride),
        padding=padding,
        bias=draw(st.booleans()),
        seed=draw(seeds),
    )


def conv_arrays(case: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The input, weight and bias (or ``None``) of a drawn convolution."""
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c_in"], case["h"], case["w"]))
    weight = rng.standard_normal((case["c_out"], case["c_in"], case["k"], case["kw"]))
    return x, weight, rng.standard_normal(case["c_out"]) if case["bias"] else None


def convolutions(*, stride) -> st.SearchStrategy[Inputs]:
    def inputs(case: dict) -> Inputs:
        x, weight, bias = conv_arrays(case)
        options = dict(stride=case["stride"], padding=case["padding"])
        return Inputs({"x": x, "weight": weight, "bias": bias}, options, case["seed"])

    return conv_cases(stride=stride).map(inputs)


@st.composite
def pool_cases(draw, *, stride=POOL_STRIDES, ceil_mode: bool = False) -> dict:
    """A pooling's sizes; with ``ceil_mode``, images that end in a partial window or more."""
    k = draw(st.integers(1, 3))
    options = {"ceil_mode": True} if ceil_mode else {}
    return dict(
        **options,
        n=draw(st.integers(1, 3)),
        c=draw(st.integers(1, 3)),
        h=draw(st.integers(k, k + 6)),
        w=draw(st.integers(k, k + 6)),
        k=k,
        stride=draw(stride),
        seed=draw(seeds),
    )


def poolings(*, stride, ceil_mode: bool = False) -> st.SearchStrategy[Inputs]:
    def inputs(case: dict) -> Inputs:
        rng = np.random.default_rng(case["seed"])
        x = distinct(rng, (case["n"], case["c"], case["h"], case["w"]))
        options = dict(kernel_size=case["k"], stride=case["stride"])
        options |= {"ceil_mode": True} if ceil_mode else {}
        return Inputs({"x": x}, options, case["seed"])

    return pool_cases(stride=stride).map(inputs)


@st.composite
def images(draw) -> Inputs:
    """A batch of images (n, c, h, w) of any small size, for the functions of whole images."""
    shape = tuple(draw(st.integers(1, k)) for k in (3, 4, 5, 5))
    seed = draw(seeds)
    return Inputs({"x": np.random.default_rng(seed).standard_normal(shape)}, {}, seed)


@st.composite
def norm_shapes(draw, *, training: bool = True, images: bool | None = None) -> tuple[int, ...]:
    """(n, c), or (n, c, h, w) if ``images`` (either if None); in training, 2 values a channel."""
    if not (draw(st.booleans()) if images is None else images):
        n, c = draw(st.integers(1, 7)), draw(st.integers(1, 5))
        return (max(n, 2) if training else n, c)
    n, c, h, w = (draw(st.integers(1, k)) for k in (4, 5, 5, 5))
    return (2 if training and n * h * w < 2 else n, c, h, w)


def off_centre(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Data with a mean and a spread of their own, so that running averages move."""
    return rng.normal(rng.normal(0, 3), rng.uniform(0.5, 4), shape)


@st.composite
def batch_norms(draw, *, training: bool) -> Inputs:
    shape, seed = draw(norm_shapes(training=training)), draw(seeds)
    rng = np.random.default_rng(seed)
    c = shape[1]
    args = {
        "x": off_centre(rng, shape),
        "running_mean": rng.standard_normal(c),
        "running_var": rng.uniform(0.5, 2.0, c),
        "weight": rng.standard_normal(c),
        "bias": rng.standard_normal(c),
    }
    return Inputs(args, dict(training=training, momentum=draw(momenta)), seed)


@st.composite
def normalizations(draw) -> Inputs:
    """An array of 1 to 4 axes, a nonempty set of them to normalize over, and an ``eps``."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    axes = draw(st.sets(st.integers(0, len(shape) - 1), min_size=1))
    seed = draw(seeds)
    x = off_centre(np.random.default_rng(seed), shape)
    return Inputs({"x": x}, dict(axes=tuple(sorted(axes)), eps=draw(norm_eps)), seed)


norm_eps = st.sampled_from([1e-5, 0.1])


@st.composite
def layer_norm_cases(draw) -> dict:
    """An input of 1 to 4 axes, normalized over its last 1 to all of them."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    dims = draw(st.integers(1, len(shape)))
    return dict(
        shape=shape,
        normalized_shape=shape[len(shape) - dims :],
        eps=draw(norm_eps),
        seed=draw(seeds),
        modes=["train"],
    )


@st.composite
def group_norm_cases(draw) -> dict:
    """(n, c, ...) with 0 to 2 axes of pixels, and groups that divide the channels."""
    groups, per_group = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    pixels = tuple(draw(st.lists(st.integers(1, 4), max_size=2)))
    # PyTorch refuses one value a channel (n * pixels = 1), though a group may hold several.
    n = draw(st.integers(1 if np.prod(pixels) > 1 else 2, 3))
    return dict(
        shape=(n, groups * per_group, *pixels),
        num_groups=groups,
        eps=draw(norm_eps),
        seed=draw(seeds),
        modes=["train"],
    )


def _with_parameters(case: dict, shape: tuple) -> Inputs:
    rng = np.random.default_rng(case["seed"])
    x = off_centre(rng, case["shape"])
    args = {"x": x, "weight": rng.standard_normal(shape), "bias": rng.standard_normal(shape)}
    return Inputs(
        args,
        {k: v for k, v in case.items() if k in ("normalized_shape", "num_groups", "eps")},
        case["seed"],
    )


def layer_norms() -> st.SearchStrategy[Inputs]:
    return layer_norm_cases().map(lambda case: _with_parameters(case, case["normalized_shape"]))


def group_norms() -> st.SearchStrategy[Inputs]:
    return group_norm_cases().map(lambda case: _with_parameters(case, case["shape"][1:2]))


# The layers' cases.


def one_step(**sizes) -> st.SearchStrategy[dict]:
    """Cases of a layer without running statistics: sizes drawn, one training step."""
    return st.fixed_dictionaries({**sizes, "seed": seeds, "modes": st.just(["train"])})


@st.composite
def mse_cases(draw) -> dict:
    width = draw(st.integers(1, 4))
    return dict(
        n=draw(st.integers(1, 8)),
        width=width,
        flat_target=width == 1 and draw(st.booleans()),  # (n, 1) against (n,)
        seed=draw(seeds),
        modes=["train"],
    )


def conv_layer_cases() -> st.SearchStrategy[dict]:
    return conv_cases(square=True).map(lambda case: {**case, "modes": ["train"]})


def pool_layer_cases(*, ceil_mode: bool = False) -> st.SearchStrategy[dict]:
    return pool_cases(ceil_mode=ceil_mode).map(lambda case: {**case, "modes": ["train"]})


@st.composite
def norm_cases(draw, *, images: bool) -> dict:
    return dict(
        shape=draw(norm_shapes(images=images)),
        n_eval=draw(st.integers(1, 3)),  # evaluation mode takes any batch, one row or pixel too
        momentum=draw(momenta),
        seed=draw(seeds),
        modes=draw(modes),
    )


@st.composite
def block_cases(draw, *, projection: bool, pool_shortcut: bool = False) -> dict:
    """Shapes of a residual block and its input; ``projection`` picks the shortcut kind."""
    c_in = draw(st.integers(1, 4))
    stride = draw(st.integers(1, 3)) if projection else 1
    c_out = draw(st.integers(1, 4)) if projection else c_in
    if projection and stride == 1 and c_out == c_in:
        c_out += 1
    n, h, w = draw(st.integers(1, 3)), draw(st.integers(2, 7)), draw(st.integers(2, 7))
    # Batch normalization in training mode needs two values per channel at the output; two
    # layers in a row over only two would amplify rounding twice over (see resnet_cases).
    pixels = ((h - 1) // stride + 1) * ((w - 1) // stride + 1)
    n = max(n, -(-4 // pixels))
    return dict(
        n=n,
        n_eval=draw(st.integers(1, 3)),
        c=c_in,
        c_out=c_out,
        stride=stride,
        h=h,
        w=w,
        pool_shortcut=pool_shortcut,
        seed=draw(seeds),
        modes=draw(modes),
    )


@st.composite
def resnet_cases(draw) -> dict:
    widths, stem_stride = (2, 3), draw(st.integers(1, 2))
    # Images that end at least 2 × 2: batch normalization over two values a channel is
    # nearly singular (its gradient is rounding amplified up to 1 / sqrt(eps)), and a stack
    # of such layers would amplify it again at each.
    smallest = stem_stride * 2 ** (len(widths) - 1) + 1
    return dict(
        widths=widths,
        blocks=draw(st.integers(1, 2)),
        residual=draw(st.booleans()),
        stem_stride=stem_stride,
        n=2,
        n_eval=draw(st.integers(1, 2)),
        c=1,
        h=draw(st.integers(smallest, smallest + 2)),
        w=draw(st.integers(smallest, smallest + 2)),
        seed=draw(seeds),
        modes=draw(modes),
    )
