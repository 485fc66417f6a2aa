"""`--min-pixels` is a floor on GLM-4V too (help: "Fewest pixels of each image the model sees").

Before: GLM's smart_resize, given the floor as its bound, rounds a side up past the bound and
then takes its downscale branch, which floors both sides: `--min-pixels 50000` gave a wide
picture 504x84 = 42,336 px and the 512x512 astronaut 196x196 = 38,416 px. Now such an image
is lifted above the floor and handed to the processor at that size, with bounds that keep it
(as Qwen-VL's, `glm4v_prompt_bounds`); a floor below the model's own changes nothing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vlmcli.engine import ImageInput, Request
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.glm4v import FACTOR
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.glm4v import Glm4vSpec, glm4v_prompt_bounds, plan_glm4v

TINY = Glm4vSpec(shortest_edge=2 * 4 * 28 * 28, longest_edge=2 * 32 * 28 * 28)  # the tiny checkpoint's bounds
SIZES = [(1000, 167), (512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500),
         (100, 100), (20, 20), (10, 1000)]  # fmt: skip
FLOORS = [50_000, 100_000, 30_000]


@pytest.mark.parametrize("floor", FLOORS)
def test_every_image_gets_at_least_the_floor(floor):
    for width, height in SIZES:
        plan = plan_glm4v(TINY, ResolutionPolicy(min_pixels=floor), width=width, height=height)
        assert plan.resized[0] * plan.resized[1] >= floor, (width, height, plan.resized)
        assert plan.resized[0] % FACTOR == plan.resized[1] % FACTOR == 0
        assert plan.visual_tokens * FACTOR * FACTOR == plan.resized[0] * plan.resized[1]


def test_caps_still_win_over_the_floor():
    policy = ResolutionPolicy(min_pixels=50_000, max_pixels=60_000)
    for width, height in SIZES:
        plan = plan_glm4v(TINY, policy, width=width, height=height)
        assert plan.resized[0] * plan.resized[1] <= 60_000 or min(plan.resized) == FACTOR, (width, height)


def test_a_floor_below_the_models_own_changes_nothing():
    for width, height in SIZES:
        native = plan_glm4v(TINY, ResolutionPolicy(), width=width, height=height)
        assert plan_glm4v(TINY, ResolutionPolicy(min_pixels=100), width=width, height=height) == native


@pytest.mark.parametrize("floor", FLOORS)
def test_the_image_processor_keeps_the_planned_size(floor):
    """Glm4vImageProcessor, given the prompt's bounds and each image as the adapter hands it
    over (already at its planned size when `resize`), makes exactly the planned grid."""
    from transformers import Glm4vImageProcessor

    policy = ResolutionPolicy(min_pixels=floor)
    sizes = [s for s in SIZES if s[0] * s[1] <= 2_000_000]
    low, high, resize = glm4v_prompt_bounds(TINY, policy, sizes)
    assert resize  # these sizes need the lift
    processor = Glm4vImageProcessor(
        size={"shortest_edge": low, "longest_edge": high}, patch_size=14, temporal_patch_size=2, merge_size=2
    )
    for width, height in sizes:
        plan = plan_glm4v(TINY, policy, width=width, height=height)
        fed = plan.resized if resize else (width, height)
        image = Image.fromarray(np.zeros((fed[1], fed[0], 3), dtype=np.uint8))
        t, h, w = (int(v) for v in processor(images=[image], return_tensors="pt")["image_grid_thw"][0])
        assert (w * 14, h * 14) == plan.resized and t * h * w // 4 == plan.visual_tokens, (width, height)


def test_the_reported_pictures_on_the_tiny_checkpoint(tiny_checkpoint):
    """`describe -m <tiny glm4v> wide.png astronaut.png --min-pixels 50000`: both at or above
    the floor, and the prompt holds the planned tokens (`prompt_visual_tokens` checks)."""
    folder = str(tiny_checkpoint("glm4v"))
    wide, astronaut = Image.new("RGB", (1000, 167), "gray"), Image.new("RGB", (512, 512), "red")
    request = Request(prompt="Describe.", images=(ImageInput(wide), ImageInput(astronaut)))
    floored = ResolutionPolicy(min_pixels=50_000)
    from vlmcli.engine.config import EngineConfig
    from vlmcli.engine.loader import load_planner

    adapter = load_planner(EngineConfig(model=folder, resolution=floored)).adapter
    plans = adapter.plan_images([(1000, 167), (512, 512)])
    assert all(p.resized[0] * p.resized[1] >= 50_000 for p in plans), [p.resized for p in plans]
    prepared = adapter.prepare(request)
    assert [im.visual_tokens for im in prepared.images] == [p.visual_tokens for p in plans]
    assert prompt_visual_tokens(folder, floored, request) == sum(p.visual_tokens for p in plans)
    native = prompt_visual_tokens(folder, ResolutionPolicy(), request)
    assert prompt_visual_tokens(folder, ResolutionPolicy(min_pixels=100), request) == native
