"""vlmcli's own tiling for LLaVA 1.5 (a fixed-resolution family) under a resolution policy.

The plan (pure arithmetic) must equal what the engine feeds; the tiles must cover the
image; the engine must run the tiled prompt end to end and give exactly what transformers'
own `generate` gives for the same views and placeholder run.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.testing import sample_photos
from vlmcli.tiling import LlavaSpec, ResolutionPolicy, cut_tiles, global_and_tiles, grid_for, plan_llava15
from vlmcli.tiling.anyres_floor import FLOOR_SEARCH

SIZES = [
    (16, 16), (1, 10), (10, 1), (4000, 3000), (3000, 4000), (10, 100), (100, 10), (56, 56), (57, 56),
    (112, 56), (56, 112), (640, 480), (480, 640), (1920, 1080), (1080, 1920), (5000, 500), (500, 5000),
    (300, 100), (100, 300), (123, 457), (2048, 2048), (200, 201),
]
POLICIES = [  # only a floor tiles (caps never raise the default single view)
    ResolutionPolicy(max_tiles=1),
    ResolutionPolicy(max_tiles=4),
    ResolutionPolicy(min_pixels=2 * 56 * 56),
    ResolutionPolicy(min_pixels=4 * 56 * 56),
    ResolutionPolicy(min_pixels=6 * 56 * 56, max_tiles=6),
    ResolutionPolicy(min_pixels=3 * 56 * 56, max_pixels=3 * 56 * 56),
    ResolutionPolicy(min_pixels=4 * 56 * 56, max_tiles=2),
]
TILE = 56  # the tiny checkpoint's CLIP input: 4x4 patches = 16 tokens per view


@pytest.fixture(scope="module")
def folder(tiny_checkpoint):
    return str(tiny_checkpoint("llava"))


def _image(size: tuple[int, int]) -> ImageInput:
    return ImageInput(Image.new("RGB", size, (120, 60, 30)))


@pytest.mark.parametrize("policy", POLICIES, ids=repr)
def test_planned_tokens_equal_fed_tokens(folder, policy):
    adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter
    tiled = 0
    for width, height in SIZES:
        plan = adapter.plan_images([(width, height)])[0]
        prepared = adapter.prepare(Request(prompt="Describe.", images=(_image((width, height)),)))
        fed = int((prepared.input_ids == adapter.image_token_id).sum())
        image = prepared.images[0]
        assert plan.visual_tokens == image.visual_tokens == fed == plan.tiles * 16, (width, height)
        assert image.inputs["pixel_values"].shape == (plan.tiles, 3, TILE, TILE)  # thumbnail + crops
        rows, cols = plan.grid
        assert plan.tiles == (1 if rows * cols == 1 else rows * cols + 1)
        if policy.max_tiles is not None:
            assert rows * cols <= policy.max_tiles and plan.tiles <= policy.max_tiles + 1
        tiled += plan.tiles > 1
    # two images of different grids in one prompt
    sizes = [(4000, 3000), (16, 16)]
    plans = adapter.plan_images(sizes)
    prepared = adapter.prepare(Request(prompt="Compare.", images=tuple(_image(s) for s in sizes)))
    assert [im.visual_tokens for im in prepared.images] == [p.visual_tokens for p in plans]
    assert int((prepared.input_ids == adapter.image_token_id).sum()) == sum(p.visual_tokens for p in plans)
    assert (tiled > 0) == (policy.min_pixels is not None)


def test_one_crop_policy_is_the_default_view(folder):
    photo = ImageInput(sample_photos()[1])
    request = Request(prompt="What is it?", images=(photo,))
    default = load_planner(EngineConfig(model=folder)).adapter.prepare(request)
    one = load_planner(EngineConfig(model=folder, resolution=ResolutionPolicy(max_tiles=1))).adapter.prepare(request)
    assert default.input_ids.tolist() == one.input_ids.tolist()
    assert default.images[0].inputs["pixel_values"].equal(one.images[0].inputs["pixel_values"])


@settings(max_examples=150, deadline=None)
@given(width=st.integers(1, 5000), height=st.integers(1, 5000), max_tiles=st.integers(2, 9))
def test_grid_properties(width, height, max_tiles):
    spec = LlavaSpec(image_size=TILE, patch_size=14)
    assert plan_llava15(spec, ResolutionPolicy(max_tiles=max_tiles), width=width, height=height).tiles == 1
    plan = plan_llava15(spec, ResolutionPolicy(min_pixels=max_tiles * TILE * TILE), width=width, height=height)
    rows, cols = plan.grid  # at least the floor's crops, at most FLOOR_SEARCH times as many
    assert max_tiles <= rows * cols <= max_tiles * FLOOR_SEARCH and plan.tiles == rows * cols + 1
    if plan.resized[0] * plan.resized[1] >= max_tiles * TILE * TILE:  # floor met: no crop of pure padding
        assert (rows, cols) == (math.ceil(plan.resized[1] / TILE), math.ceil(plan.resized[0] / TILE))
    if rows * cols > 1:
        content_w, content_h = plan.resized
        assert content_w <= cols * TILE and content_h <= rows * TILE  # inside the canvas
        assert content_w == cols * TILE or content_h == rows * TILE  # one side fills it
        if min(content_w, content_h) >= 20:  # aspect kept up to the 1-px ceil of the short side
            assert abs(content_w / content_h - width / height) / (width / height) < 0.06


@pytest.mark.parametrize("size, rows, cols", [((300, 100), 1, 3), ((1000, 700), 2, 3), ((90, 250), 3, 1)])
def test_tiles_cover_the_image(size, rows, cols):
    """Reassembling the crops gives the letterboxed canvas; the content box is all image."""
    image = sample_photos()[0].resize(size)
    grid = grid_for(width=size[0], height=size[1], rows=rows, cols=cols, tile_size=TILE)
    fill = (1, 2, 3)
    views = global_and_tiles(image, grid, fill=fill)
    assert len(views) == rows * cols + 1 and all(v.size == (TILE, TILE) for v in views)
    assert [v.tobytes() for v in views[1:]] == [t.tobytes() for t in cut_tiles(image, grid, fill=fill)]
    canvas = Image.new("RGB", (cols * TILE, rows * TILE))
    for index, tile in enumerate(views[1:]):
        canvas.paste(tile, ((index % cols) * TILE, (index // cols) * TILE))
    left, top = grid.offset
    content = image.resize((grid.resized_width, grid.resized_height), Image.Resampling.BICUBIC)
    box = (left, top, left + grid.resized_width, top + grid.resized_height)
    assert canvas.crop(box).tobytes() == content.tobytes()
    pixels = np.asarray(canvas).copy()  # (H, W, 3)
    pixels[box[1] : box[3], box[0] : box[2]] = fill
    assert (pixels == np.array(fill, dtype=np.uint8)).all()  # everything outside the content is padding


def test_tiled_run_matches_transformers_on_the_same_views(folder):
    """End to end: every view through the tower (`tiles_per_call` at a time), thumbnail first,
    and greedy output equal to `model.generate` given the same pixel values and placeholder run."""
    import torch

    policy = ResolutionPolicy(min_pixels=4 * TILE * TILE)
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", resolution=policy))
    photos = sample_photos()
    request = Request(prompt="What is in these pictures?", images=(ImageInput(photos[1]), ImageInput(photos[5])))
    plans = engine.adapter.plan_images([(p.width, p.height) for p in (photos[1], photos[5])])
    assert all(p.tiles > 1 for p in plans)

    calls = []
    tower = engine.adapter.model.model.get_image_features

    def counting(**kwargs):
        calls.append(kwargs["pixel_values"].shape[0])
        return tower(**kwargs)

    engine.adapter.model.model.get_image_features = counting
    try:
        result = engine.generate([request], GenerationConfig(max_tokens=8))[0]
    finally:
        engine.adapter.model.model.get_image_features = tower
    step, views = engine.adapter.tiles_per_call, sum(p.tiles for p in plans)
    assert sum(calls) == views and all(n <= step for n in calls)  # CPU: views in calls of <= step
    assert result.visual_tokens == sum(p.visual_tokens for p in plans)
    assert [u.grid for u in result.images] == [p.grid for p in plans]

    prepared = engine.adapter.prepare(request)
    pixel_values = torch.cat([im.inputs["pixel_values"] for im in prepared.images])  # (V, 3, S, S)
    reference = engine.adapter.model.generate(
        input_ids=prepared.input_ids[None],
        attention_mask=torch.ones_like(prepared.input_ids)[None],
        pixel_values=pixel_values,
        do_sample=False,
        max_new_tokens=8,
    )[0, prepared.input_ids.shape[0] :].tolist()
    kept = []
    for token in reference:
        kept.append(token)
        if token in engine.token_ids.eos:
            break
    assert result.token_ids == kept


def test_thumbnail_features_come_first(folder):
    import torch

    engine = Engine.load(
        EngineConfig(model=folder, device="cpu", dtype="float32", resolution=ResolutionPolicy(min_pixels=3 * TILE * TILE))
    )
    prepared = engine.adapter.prepare(Request(prompt="?", images=(ImageInput(sample_photos()[5]),)))
    image = prepared.images[0]
    views = image.inputs["pixel_values"]  # (1 + crops, 3, S, S)
    with torch.inference_mode():
        embeds = engine.adapter.encode([image])[0]["embeds"]  # (views * 16, D)
        one_by_one = [engine.adapter.encode([_only(image, v)])[0]["embeds"] for v in views]
    assert embeds.shape[0] == views.shape[0] * 16
    assert torch.allclose(embeds, torch.cat(one_by_one), atol=1e-5)


def _only(image, view):
    from dataclasses import replace

    return replace(image, inputs={"pixel_values": view[None]})
