"""MiniCPM-V 4.6 (`minicpmv4_6`): a thumbnail plus a grid of ~S x S slices per image, caps
onto `max_slice_nums`, videos as frames, and `vlm ask` end to end on the tiny checkpoint.

The planner is checked against the real `MiniCPMV4_6ImageProcessor` (sizes, panoramas,
slice limits, "4x" mode, slicing off). Parity alone and batched, dry-run token counts and
caps over photos are in the registry-parametrised tests (test_engine_parity,
test_engine_token_budget, test_tiling_caps, test_testing_checkpoints).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from transformers import MiniCPMV4_6ImageProcessor
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.minicpmv4_6 import MAX_SLICES, PATCH, SCALE_RESOLUTION
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.minicpmv4_6 import (
    MiniCPMV4_6Spec,
    minicpmv4_6_layout,
    minicpmv4_6_slice_limit,
    plan_minicpmv4_6,
)

FAMILY = "minicpmv4_6"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100),
         (448, 448), (896, 448), (10, 1000), (1000, 10), (449, 449), (1344, 1344), (333, 777)]  # fmt: skip
CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 6, 9, 16, 36)] + [
    {"max_pixels": p} for p in (300_000, 10**6, 4 * 10**6, 10**8)
]

cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


# --- the planner against the real image processor -----------------------------------------------


def _processor_crops(processor: MiniCPMV4_6ImageProcessor, width: int, height: int, **kwargs):
    """(grid, [(h, w) of each crop in patches]) the real image processor makes of a gray image."""
    image = Image.new("RGB", (width, height), (128, 128, 128))
    out = processor(images=[image], return_tensors="pt", **kwargs)
    (grid,) = out["grids"]
    return tuple(int(v) for v in grid), [tuple(int(v) for v in ts) for ts in out["target_sizes"].tolist()]


SETTINGS = [  # (image processor settings, spec)
    ({}, MiniCPMV4_6Spec()),  # the hub model's: 448-px slices, 14-px patches, 9 slices, "16x"
    ({"scale_resolution": SCALE_RESOLUTION}, MiniCPMV4_6Spec(scale_resolution=SCALE_RESOLUTION)),  # the tiny one
    ({"max_slice_nums": 4}, MiniCPMV4_6Spec(max_slice_nums=4)),
    ({"downsample_mode": "4x"}, MiniCPMV4_6Spec(downsample_mode="4x")),
    ({"slice_mode": False}, MiniCPMV4_6Spec(slice_mode=False)),
]


@pytest.mark.parametrize(("settings", "spec"), SETTINGS)
def test_planner_agrees_with_the_image_processor(settings, spec):
    processor = MiniCPMV4_6ImageProcessor(**settings)
    divisor = spec.patches_per_token
    for width, height in SIZES:
        grid, crops = _processor_crops(processor, width, height)
        layout = minicpmv4_6_layout(spec, width=width, height=height)
        assert (layout.grid or (0, 0)) == grid, (settings, width, height)
        thumb = tuple(v // spec.patch_size for v in layout.thumbnail)
        cell = tuple(v // spec.patch_size for v in layout.slice_size)
        assert crops == [thumb] + [cell] * layout.slices, (settings, width, height)
        plan = plan_minicpmv4_6(spec, ResolutionPolicy(), width=width, height=height)
        assert plan.visual_tokens == sum(h * w // divisor for h, w in crops)
        assert plan.tiles == len(crops) and plan.grid == (layout.grid or (1, 1))


def test_slice_limits_agree_with_the_image_processor():
    processor = MiniCPMV4_6ImageProcessor()
    for limit in (1, 2, 3, 5, 16):
        spec = MiniCPMV4_6Spec(max_slice_nums=limit)
        for width, height in SIZES:
            grid, crops = _processor_crops(processor, width, height, max_slice_nums=limit)
            plan = plan_minicpmv4_6(spec, ResolutionPolicy(), width=width, height=height)
            assert plan.grid == (grid if grid != (0, 0) else (1, 1)) and plan.tiles == len(crops)
            assert plan.visual_tokens == sum(h * w // 16 for h, w in crops), (limit, width, height)


# --- the policy, at the hub model's defaults -----------------------------------------------------


def test_default_plan_is_the_hub_models():
    plan = plan_minicpmv4_6(MiniCPMV4_6Spec(), ResolutionPolicy(), width=1920, height=1080)
    assert plan.grid == (2, 4) and plan.tiles == 9  # ratio 10.3 -> at most 9 slices, 16:9 -> 2 x 4
    small = plan_minicpmv4_6(MiniCPMV4_6Spec(), ResolutionPolicy(), width=100, height=100)
    assert small.tiles == 1 and small.visual_tokens == 64 and small.resized == (448, 448)  # upscaled thumbnail


def test_caps_never_raise_the_cost_and_map_onto_max_slice_nums():
    spec = MiniCPMV4_6Spec()
    for base in ({}, {"min_pixels": 2 * 10**6}):
        for width, height in SIZES:
            before = plan_minicpmv4_6(spec, ResolutionPolicy(**base), width=width, height=height)
            for cap in CAPS:
                if cap.get("max_pixels", 10**9) < base.get("min_pixels", 0):
                    continue
                policy = ResolutionPolicy(**base, **cap)
                limit = minicpmv4_6_slice_limit(spec, policy, [(width, height)])
                assert limit <= policy.tile_cap(448)
                after = plan_minicpmv4_6(spec, policy, width=width, height=height)
                assert after.visual_tokens <= before.visual_tokens, (base, cap, width, height)
                rows, cols = after.grid
                assert after.tiles == 1 or rows * cols <= policy.tile_cap(448)


def test_min_pixels_raises_max_slice_nums_for_large_images():
    spec = MiniCPMV4_6Spec()
    policy = ResolutionPolicy(min_pixels=16 * 448 * 448)
    assert minicpmv4_6_slice_limit(spec, policy, [(4000, 3000)]) == 16
    native = plan_minicpmv4_6(spec, ResolutionPolicy(), width=4000, height=3000)
    raised = plan_minicpmv4_6(spec, policy, width=4000, height=3000)
    assert native.tiles == 10 and raised.tiles > native.tiles and raised.visual_tokens > native.visual_tokens
    capped = ResolutionPolicy(min_pixels=16 * 448 * 448, max_tiles=4)
    assert minicpmv4_6_slice_limit(spec, capped, [(4000, 3000)]) == 4  # the cap wins


def test_max_pixels_below_one_slice_is_refused():
    with pytest.raises(ConfigError, match="below one"):
        plan_minicpmv4_6(MiniCPMV4_6Spec(), ResolutionPolicy(max_pixels=1000), width=640, height=480)


# --- the tiny checkpoint ----------------------------------------------------------------------------


def test_adapter_reads_the_checkpoints_knobs(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    adapter = load_planner(EngineConfig(model=folder)).adapter
    assert adapter._spec() == MiniCPMV4_6Spec(scale_resolution=SCALE_RESOLUTION, patch_size=PATCH,
                                              max_slice_nums=MAX_SLICES)  # fmt: skip
    assert adapter.processor_kwargs([(640, 480)]) == {}
    capped = load_planner(EngineConfig(model=folder, resolution=ResolutionPolicy(max_tiles=2))).adapter
    assert capped.processor_kwargs([(640, 480)]) == {"images_kwargs": {"max_slice_nums": 2}}


def test_caps_lower_and_the_floor_raises_on_the_tiny_checkpoint(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    native = cost(folder, ResolutionPolicy(), request)
    assert native == 4 + 8 * 4  # 451x300 = 10.8 tiny slices, at most 9: 2 x 4 of 4 tokens + the thumbnail
    assert cost(folder, ResolutionPolicy(max_tiles=1), request) == 4  # the thumbnail only
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native
    raised = cost(folder, ResolutionPolicy(min_pixels=12 * SCALE_RESOLUTION**2), request)
    assert raised > native  # 12 slices allowed: 3 x 4
    two = Request(prompt="Compare.", images=(ImageInput(CHELSEA), ImageInput(CHELSEA.resize((90, 60)))))
    assert cost(folder, ResolutionPolicy(max_tiles=4), two) <= cost(folder, ResolutionPolicy(), two)


def clip(frames: int = 4) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def test_video_goes_as_frames_with_time_markers(tiny_checkpoint):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    prepared = engine.adapter.prepare(request)
    text = engine.loaded.processor.decode(prepared.input_ids)
    assert text.count("Frame at t=") == 4 and text.count("<image>") == 4
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    (usage,) = result.videos
    assert usage.frames == 4 and usage.visual_tokens == result.visual_tokens == prepared.visual_tokens > 0


def test_features_do_not_depend_on_the_batch(tiny_checkpoint):
    """One tower call over two images gives each the features it gets alone."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    small = CHELSEA.resize((150, 100))
    request = Request(prompt="Compare.", images=(ImageInput(CHELSEA), ImageInput(small)))
    images = engine.adapter.prepare(request).images
    together = engine.adapter.encode(images)
    alone = [engine.adapter.encode([im])[0] for im in images]
    for a, b, im in zip(together, alone, images):
        assert a["embeds"].shape == (im.visual_tokens, engine.adapter.model.config.text_config.hidden_size)
        torch.testing.assert_close(a["embeds"], b["embeds"])


@pytest.mark.parametrize(("compress", "tokens"), [("pool:2", 9), ("perceiver:2", 18)])
def test_compression_pools_within_crops(tiny_checkpoint, compress, tokens):
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    reduction = TokenReduction(compress=parse_compress(compress))
    engine = Engine.load(
        EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32", reduction=reduction)
    )
    request = Request(prompt="What is it?", images=(ImageInput(CHELSEA),))  # thumbnail + 2x4 slices, 2x2 tokens each
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert result.visual_tokens == result.images[0].visual_tokens == tokens
    prepared = engine.adapter.prepare(request)
    assert int(engine.adapter.visual_mask(prepared.input_ids[None]).sum()) == tokens


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = tmp_path / "minicpmv4_6-tiny"
    shutil.copytree(tiny_checkpoint(FAMILY), folder)
    photo = tmp_path / "photo.png"
    CHELSEA.save(photo)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--max-tokens", "4", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["visual_tokens"] == 36 and payload["images"][0]["width"] == 451
    dry = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)["images"][0]
    assert planned["visual_tokens"] == payload["visual_tokens"] and planned["grid"] == [2, 4]
    capped = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run", "--json",
                                 "--max-tiles", "1"])  # fmt: skip
    assert json.loads(capped.stdout)["images"][0]["visual_tokens"] == 4
