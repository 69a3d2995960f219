"""The recipes the chapters assert results of, and the margins recorded for them."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from deepfound import recipes
from deepfound.spread import MEASURED, Spread

# The recipes as the chapters run them, under the names the margins sweep records them by.
CHAPTER_RECIPES = {
    "mlp": recipes.MLP(),
    "cnn": recipes.CNN(),
    "adamw": recipes.AdamWMLP(),
    "batchnorm": recipes.BatchNormCNN(),
    "resnet": recipes.ResNet(),
    "depth": recipes.DepthComparison(),
}


@pytest.mark.parametrize("name", CHAPTER_RECIPES)
def test_every_chapter_recipe_has_recorded_margins_that_clear_its_bar(name):
    recipe = CHAPTER_RECIPES[name]
    spread = Spread.of(name, recipe)
    assert len(spread.values) >= 3 * len(spread.threads) * len(spread.kernels)
    assert len(spread.seeds) >= 3 and set(spread.threads) >= {1, 2}
    # The bar is cleared with room to spare in the worst run: 0.05 points of accuracy.
    room = 0.0005 if recipe.target < 1 else 0.1 * recipe.target
    assert min(spread.values) >= recipe.target + room


def test_a_changed_recipe_has_no_margins_until_measured_again():
    changed = dataclasses.replace(recipes.ResNet(), epochs=recipes.ResNet().epochs + 7)
    with pytest.raises(LookupError, match="nox -s margins -- resnet --write"):
        Spread.of("resnet", changed)


def test_measured_file_lists_each_recipe_once():
    measured = json.loads(MEASURED.read_text())
    for entries in measured.values():
        reprs = [entry["recipe"] for entry in entries]
        assert len(reprs) == len(set(reprs))


@pytest.mark.parametrize(
    ("recipe", "shape", "kwargs"),
    [
        (recipes.MLP(), (5, 784), {}),
        (recipes.AdamWMLP(), (5, 784), {}),
        (recipes.CNN(), (5, 1, 28, 28), {}),
        (recipes.BatchNormCNN(), (5, 1, 28, 28), {"batch_norm": True}),
        (recipes.BatchNormCNN(), (5, 1, 28, 28), {"batch_norm": False}),
        (recipes.ResNet(), (5, 1, 28, 28), {}),
    ],
)
def test_models_give_ten_scores_and_depend_on_the_seed(recipe, shape, kwargs):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = recipe.model(0, **kwargs)(x)
    assert out.shape == (5, 10)
    assert np.array_equal(out, recipe.model(0, **kwargs)(x))
    assert not np.array_equal(out, recipe.model(1, **kwargs)(x))


def test_zero_init_starts_every_block_with_a_zero_last_scale():
    model = dataclasses.replace(recipes.ResNet(), zero_init=True).model(0)
    blocks = [layer for layer in model.layers if hasattr(layer, "bn2")]
    assert blocks and all(not block.bn2.weight.data.any() for block in blocks)


def test_depth_comparison_builds_the_depths_it_names():
    comparison = recipes.DepthComparison()
    names = list(comparison.networks(0))
    assert names == ["plain, 20 layers", "plain, 56 layers", "residual, 56 layers"]
    assert comparison.depth(comparison.deep_blocks) == 56


def test_depth_ratio_is_the_deep_plain_loss_over_the_larger_other():
    comparison = recipes.DepthComparison(last=2)
    losses = {
        "a": (np.array([9.0, 1.0, 1.0]), 0.5),
        "b": (np.array([9.0, 4.0, 4.0]), 0.5),
        "c": (np.array([9.0, 2.0, 2.0]), 0.5),
    }
    assert comparison.ratio(losses) == 2.0


def test_the_sweep_runs_a_recipe_in_processes_of_its_own_and_prints_its_margin():
    script = Path(__file__).with_name("margins.py")
    command = [sys.executable, str(script), "mlp", "--seeds", "0", "--threads", "1",
               "--kernels", "as set", "--jobs", "1", "--set", "epochs=1"]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
    assert "[1/1] mlp" in result.stdout
    (row,) = [line for line in result.stdout.splitlines() if line.startswith("06 MLP")]
    bar, low, median, high = map(float, row.split()[3:7])
    assert bar == 97.5 and 90 < low == median == high <= 100
