"""--min-pixels is a floor on what the model sees, --max-pixels a cap on what it encodes.

The floor: the image content the model is fed (upscaled, aspect kept) is at least
min_pixels, on the grid with the fewest crops (no crop of pure padding), and a floor below
the model's own default never lowers it. The cap: every image the vision encoder gets,
global/base/thumbnail view included, fits within max_pixels. Checked against the plans
and, for the sizes the processors must keep or choose, against transformers itself.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from vlmcli.errors import ConfigError
from vlmcli.tiling import (
    Idefics3Spec,
    LlavaNextSpec,
    LlavaOnevisionSpec,
    LlavaSpec,
    QwenSpec,
    ResolutionPolicy,
    anyres_input_size,
    anyres_pinpoints,
    plan_idefics3,
    plan_llava15,
    plan_llava_next,
    plan_qwen,
    qwen_prompt_bounds,
    smart_resize,
)

TINY_NEXT = LlavaNextSpec(
    image_size=42, patch_size=14, image_grid_pinpoints=((42, 84), (84, 42), (84, 84), (42, 126), (126, 42))
)
TINY_OV = LlavaOnevisionSpec(
    image_size=42, patch_size=14, image_grid_pinpoints=((42, 42), (42, 84), (84, 42), (84, 84), (42, 126), (126, 42))
)
SIZES = [(20, 20), (512, 512), (4000, 300), (300, 2000), (4000, 3000), (1000, 500), (33, 97)]


@pytest.mark.parametrize("spec", [TINY_NEXT, TINY_OV], ids=["next", "onevision"])
@pytest.mark.parametrize("floor", [3000, 20000, 60000])
@pytest.mark.parametrize(("width", "height"), SIZES)
def test_llava_next_floor_is_met_with_fewest_crops(spec, floor, width, height):
    tile = spec.image_size
    plan = plan_llava_next(spec, ResolutionPolicy(min_pixels=floor), width=width, height=height)
    content_w, content_h = plan.resized
    rows, cols = plan.grid
    assert content_w * content_h >= floor, plan
    assert (rows, cols) == (math.ceil(content_h / tile), math.ceil(content_w / tile)), plan  # no padding crop
    assert plan.tiles == rows * cols + 1
    native = plan_llava_next(spec, ResolutionPolicy(), width=width, height=height)
    assert content_w * content_h >= native.resized[0] * native.resized[1]  # a floor never lowers


def test_llava_next_tiny_image_example():
    """The walk's case: 20x20 with --min-pixels 20000 was a 1x12 strip showing 42x42."""
    plan = plan_llava_next(TINY_NEXT, ResolutionPolicy(min_pixels=20000), width=20, height=20)
    assert plan.grid == (4, 4) and plan.resized == (168, 168) and plan.tiles == 17
    square = plan_llava_next(TINY_NEXT, ResolutionPolicy(min_pixels=20000), width=512, height=512)
    assert square.grid == (4, 4) and square.resized == (168, 168)


@pytest.mark.parametrize(("width", "height"), [(20, 20), (200, 200), (300, 40)])
def test_llava15_floor_tiles_without_blank_crops(width, height):
    spec = LlavaSpec(image_size=56, patch_size=14)
    plan = plan_llava15(spec, ResolutionPolicy(min_pixels=10000), width=width, height=height)
    rows, cols = plan.grid
    assert plan.resized[0] * plan.resized[1] >= 10000
    assert (rows, cols) == (math.ceil(plan.resized[1] / 56), math.ceil(plan.resized[0] / 56))
    assert plan.tiles == rows * cols + 1


@pytest.mark.parametrize(("width", "height"), [(512, 512), (4000, 300), (300, 2000), (4000, 3000), (224, 224)])
@pytest.mark.parametrize("floor", [60000, 200000])
def test_qwen_floor_is_a_floor(width, height, floor):
    policy = ResolutionPolicy(min_pixels=floor)
    spec = QwenSpec(min_pixels=3136, max_pixels=25088)
    plan = plan_qwen(spec, policy, width=width, height=height)
    assert plan.resized[0] * plan.resized[1] >= floor, plan
    assert plan.resized[0] % 28 == 0 and plan.resized[1] % 28 == 0


def test_qwen_low_floor_keeps_the_model_default():
    spec = QwenSpec(min_pixels=3136, max_pixels=25088)
    low = plan_qwen(spec, ResolutionPolicy(min_pixels=100), width=20, height=20)
    assert low == plan_qwen(spec, ResolutionPolicy(), width=20, height=20)
    assert low.resized == (56, 56) and low.visual_tokens == 4


def test_max_pixels_counts_the_global_view():
    photo = (4000, 3000)
    idefics = Idefics3Spec(longest_edge=256, max_image_size=64, image_seq_len=16)
    plan = plan_idefics3(idefics, ResolutionPolicy(max_pixels=20000), width=photo[0], height=photo[1])
    assert plan.tiles * 64 * 64 <= 20000
    for cap in (2 * 42 * 42, 5000, 9 * 42 * 42, 20000):
        plan = plan_llava_next(TINY_NEXT, ResolutionPolicy(max_pixels=cap), width=photo[0], height=photo[1])
        assert plan.tiles * 42 * 42 <= cap, (cap, plan)
        floored = plan_llava15(
            LlavaSpec(image_size=42, patch_size=14),
            ResolutionPolicy(max_pixels=cap, min_pixels=cap),
            width=photo[0],
            height=photo[1],
        )
        assert floored.tiles * 42 * 42 <= cap, (cap, floored)
    with pytest.raises(ConfigError, match="base view"):
        plan_llava_next(TINY_NEXT, ResolutionPolicy(max_pixels=42 * 42 + 1), width=100, height=100)


# --- what transformers does with the sizes we hand it -----------------------------------


@pytest.fixture(scope="module")
def hf():
    transformers = pytest.importorskip("transformers")
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize as hf_smart_resize

    return transformers, hf_smart_resize


@pytest.mark.slow
@pytest.mark.parametrize("floor", [60000, 100, None])
def test_qwen_processor_keeps_the_planned_sizes(hf, floor):
    """One prompt of several images: the processor, given the planned sizes and the prompt's
    bounds, keeps every one (transformers' own smart_resize)."""
    _, hf_smart_resize = hf
    spec, policy = QwenSpec(min_pixels=3136, max_pixels=25088), ResolutionPolicy(min_pixels=floor)
    sizes = [(512, 512), (4000, 300), (300, 2000), (20, 20)]
    low, high, resize = qwen_prompt_bounds(spec, policy, sizes)
    for width, height in sizes:
        plan = plan_qwen(spec, policy, width=width, height=height)
        fed_w, fed_h = plan.resized if resize else (width, height)
        kept = hf_smart_resize(fed_h, fed_w, factor=28, min_pixels=low, max_pixels=high)
        assert kept == (plan.resized[1], plan.resized[0]), (width, height)
        assert kept == smart_resize(height=fed_h, width=fed_w, factor=28, min_pixels=low, max_pixels=high)


@pytest.mark.slow
@pytest.mark.parametrize("spec", [TINY_NEXT, TINY_OV], ids=["next", "onevision"])
@pytest.mark.parametrize("policy", [ResolutionPolicy(min_pixels=20000), ResolutionPolicy(min_pixels=3000),
                                    ResolutionPolicy(max_pixels=5000), ResolutionPolicy(min_pixels=9000, max_tiles=4)],
                         ids=["floor20k", "floor3k", "cap5000", "floor9k-tiles4"])  # fmt: skip
def test_llava_next_processor_encodes_the_plan(hf, spec, policy):
    """The real image processor, given the image at `anyres_input_size` and our pinpoints,
    makes exactly the planned number of encoder images, and its token count is ours."""
    transformers, _ = hf
    pinpoints = [list(p) for p in anyres_pinpoints(spec, policy)]
    processor = transformers.LlavaNextImageProcessor(
        size={"shortest_edge": 42}, crop_size={"height": 42, "width": 42}, image_grid_pinpoints=pinpoints
    )
    for width, height in SIZES:
        plan = plan_llava_next(spec, policy, width=width, height=height)
        fed = anyres_input_size(spec, policy, width=width, height=height)
        image = Image.fromarray(np.zeros((height, width, 3), dtype=np.uint8)).resize(fed)
        out = processor(images=[image], return_tensors="pt")
        assert out["pixel_values"].shape[1] == plan.tiles, (width, height, plan)
        assert tuple(out["image_sizes"][0].tolist()) == (fed[1], fed[0])
        best = transformers.image_processing_utils.select_best_resolution((fed[1], fed[0]), pinpoints)
        assert (best[0] // 42, best[1] // 42) == plan.grid, (width, height)


def test_idefics3_images_of_one_prompt_are_planned_alone(tiny_checkpoint):
    """One `longest_edge` per processor call used to make a tall image's tiles depend on the
    photo beside it (1 tile with it, 3 alone); now each image is fed at its own edge."""
    from vlmcli.engine import EngineConfig, ImageInput, Request
    from vlmcli.engine.loader import load_planner

    adapter = load_planner(
        EngineConfig(model=str(tiny_checkpoint("idefics3")), resolution=ResolutionPolicy(max_pixels=17000))
    ).adapter
    tall, photo = ImageInput(Image.new("RGB", (300, 2000), "gray")), ImageInput(Image.new("RGB", (4000, 3000), "red"))

    def tiles(*images):
        prepared = adapter.prepare(Request(prompt="Describe.", images=images))
        return [im.visual_tokens for im in prepared.images]  # image_seq_len per encoder image

    alone = tiles(tall)
    assert tiles(tall, photo)[0] == alone[0] and tiles(photo, tall)[1] == alone[0]
    plans = adapter.plan_images([(300, 2000), (4000, 3000)])
    assert plans[0].tiles > 1 and [p.visual_tokens for p in plans] == tiles(tall, photo)
