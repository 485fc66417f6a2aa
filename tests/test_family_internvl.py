"""InternVL (`internvl`): dynamic tiles, caps onto `max_patches`, the floor onto `min_patches`,
videos as frames, and `vlm ask` end to end on the tiny checkpoint.

Native video (the processor's "FrameN: <img>...</img>" lines) against `model.generate`.
Parity alone and batched, dry-run token counts and planner agreement are in the
registry-parametrised tests (test_engine_parity, test_engine_token_budget,
test_tiling_caps, test_tiling_agreement); this file covers what is InternVL's own.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.internvl import IMAGE_SEQ_LENGTH, MAX_PATCHES, TILE
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.internvl import InternVLSpec, internvl_patch_bounds, plan_internvl

FAMILY = "internvl"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100),
         (448, 448), (896, 448), (10, 1000)]  # fmt: skip
CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 6, 9, 12, 16, 36)] + [
    {"max_pixels": p} for p in (300_000, 10**6, 4 * 10**6, 10**8)
]


cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


# --- the pure mapping at InternVL3's defaults (448-px tiles, 1..12 patches) ---------------------


def test_default_plan_is_the_hub_models():
    plan = plan_internvl(InternVLSpec(), ResolutionPolicy(), width=1920, height=1080)
    assert plan.grid == (2, 4) and plan.tiles == 9 and plan.visual_tokens == 9 * 256  # 2:1 ties 16:9 with 4x2
    assert plan.resized == (4 * 448, 2 * 448)
    square = plan_internvl(InternVLSpec(), ResolutionPolicy(), width=100, height=100)
    assert square.tiles == 1 and square.visual_tokens == 256  # one tile: no thumbnail


def test_caps_never_raise_the_cost_and_map_onto_max_patches():
    spec = InternVLSpec()
    for base in ({}, {"min_pixels": 2 * 10**6}):
        for width, height in SIZES:
            before = plan_internvl(spec, ResolutionPolicy(**base), width=width, height=height)
            for cap in CAPS:
                if cap.get("max_pixels", 10**9) < base.get("min_pixels", 0):
                    continue
                policy = ResolutionPolicy(**base, **cap)
                least, most = internvl_patch_bounds(spec, policy)
                assert least <= most and most <= max(spec.max_patches, policy.min_tiles(448))
                assert most <= policy.tile_cap(448)
                after = plan_internvl(spec, policy, width=width, height=height)
                assert after.visual_tokens <= before.visual_tokens, (base, cap, width, height)
                rows, cols = after.grid
                assert rows * cols <= policy.tile_cap(448)


def test_min_pixels_raises_min_patches_beyond_the_default():
    spec = InternVLSpec()
    policy = ResolutionPolicy(min_pixels=20 * 448 * 448)
    assert internvl_patch_bounds(spec, policy) == (20, 25)  # up to a quarter more: grids of the image's shape
    plan = plan_internvl(spec, policy, width=640, height=480)
    assert plan.grid == (4, 5) and plan.tiles == 21  # 4:3 as 5 columns x 4 rows
    assert internvl_patch_bounds(spec, ResolutionPolicy(min_pixels=20 * 448 * 448, max_tiles=4)) == (4, 4)


def test_max_pixels_below_one_tile_is_refused():
    with pytest.raises(ConfigError, match="below one"):
        plan_internvl(InternVLSpec(), ResolutionPolicy(max_pixels=1000), width=640, height=480)


def test_without_crop_to_patches_the_floor_is_refused_clearly():
    spec = InternVLSpec(crop_to_patches=False)
    assert plan_internvl(spec, ResolutionPolicy(max_tiles=3), width=640, height=480).visual_tokens == 256
    with pytest.raises(ConfigError, match="crop_to_patches"):
        plan_internvl(spec, ResolutionPolicy(min_pixels=10**6), width=640, height=480)


# --- the tiny checkpoint ----------------------------------------------------------------------


def test_adapter_reads_the_checkpoints_knobs(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    assert adapter._spec() == InternVLSpec(tile=TILE, image_seq_length=IMAGE_SEQ_LENGTH, max_patches=MAX_PATCHES)
    capped = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)), resolution=ResolutionPolicy(max_tiles=2)))
    assert capped.adapter.processor_kwargs([(640, 480)]) == {"images_kwargs": {"min_patches": 1, "max_patches": 2}}


def test_min_pixels_above_the_default_is_applied_and_caps_lower(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    native = cost(folder, ResolutionPolicy(), request)
    assert native <= (MAX_PATCHES + 1) * IMAGE_SEQ_LENGTH
    raised = cost(folder, ResolutionPolicy(min_pixels=40_000), request)  # ceil(40000 / 56^2) = 13 crops
    assert raised > native and raised >= 14 * IMAGE_SEQ_LENGTH
    assert cost(folder, ResolutionPolicy(min_pixels=40_000, max_tiles=2), request) <= native
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native


def clip(frames: int = 4) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def reference_video(engine: Engine, request: Request, new_tokens: int) -> list[int]:
    """transformers' own video path on the same decoded frames: processor, then model.generate."""
    import torch
    from transformers.video_utils import VideoMetadata

    inputs = engine.loaded.processor(
        text=[engine.adapter.prompt_text(request)],
        images=[[im.image for im in request.images]] if request.images else None,
        videos=[v.frames for v in request.videos],
        video_metadata=[VideoMetadata(**v.metadata()) for v in request.videos],
        do_sample_frames=False,
        return_tensors="pt",
    )
    with torch.inference_mode():
        out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens)
    kept = []
    for token in out[0, inputs["input_ids"].shape[1] :].tolist():
        kept.append(token)
        if token in engine.token_ids.eos:
            break
    return kept


def test_native_video_matches_generate_alone_and_with_an_image(tiny_checkpoint):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    assert "<video>" in engine.adapter.prompt_text(request)
    (result,) = engine.generate([request], GenerationConfig(max_tokens=6))
    assert result.token_ids == reference_video(engine, request, 6)
    (usage,) = result.videos
    assert usage.frames == 4 and usage.visual_tokens == result.visual_tokens == 4 * IMAGE_SEQ_LENGTH
    assert result.images == []
    mixed = Request(prompt="Is the photo in the video?", images=(ImageInput(CHELSEA),), videos=(clip(3),))
    (both,) = engine.generate([mixed], GenerationConfig(max_tokens=6))
    assert both.token_ids == reference_video(engine, mixed, 6)
    assert both.visual_tokens == 7 * IMAGE_SEQ_LENGTH + 3 * IMAGE_SEQ_LENGTH
    batch = engine.generate([request, mixed], GenerationConfig(max_tokens=6))
    assert [r.token_ids for r in batch] == [result.token_ids, both.token_ids]


def test_video_frames_have_a_fixed_cost_and_temporal_pooling_rewrites_the_lines(tiny_checkpoint):
    from vlmcli.reduction.reducer import TokenReduction
    from vlmcli.reduction.temporal import parse_temporal_pool

    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="What happens?", videos=(clip(),))
    native = cost(folder, ResolutionPolicy(), request)
    assert native == 4 * IMAGE_SEQ_LENGTH
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) == native
    reduction = TokenReduction(temporal=parse_temporal_pool("2"))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", reduction=reduction))
    prepared = engine.adapter.prepare(request)
    text = engine.loaded.processor.decode(prepared.input_ids)
    assert text.count("Frame") == 2 and "Frame2: <img>" in text and "Frame3" not in text
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert result.visual_tokens == 2 * IMAGE_SEQ_LENGTH and result.videos[0].units == 2


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = tmp_path / "internvl-tiny"
    shutil.copytree(tiny_checkpoint(FAMILY), folder)
    photo = tmp_path / "photo.png"
    CHELSEA.save(photo)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--max-tokens", "4", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["visual_tokens"] > 0 and payload["images"][0]["width"] == 451
    result = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    dry = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)["images"][0]
    assert planned["visual_tokens"] == payload["visual_tokens"]
    floor = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run", "--json",
                                "--min-pixels", "40000"])  # fmt: skip
    assert floor.exit_code == 0, floor.output
    raised = json.loads(floor.stdout)["images"][0]
    assert raised["visual_tokens"] > planned["visual_tokens"] and raised["grid"][0] * raised["grid"][1] >= 13
    capped = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run", "--json",
                                 "--max-tiles", "1"])  # fmt: skip
    assert json.loads(capped.stdout)["images"][0]["visual_tokens"] == IMAGE_SEQ_LENGTH


@pytest.mark.parametrize(("compress", "tokens"), [("pool:2", 7), ("perceiver:2", 14)])
def test_compression_pools_within_tiles(tiny_checkpoint, compress, tokens):
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    reduction = TokenReduction(compress=parse_compress(compress))
    engine = Engine.load(
        EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32", reduction=reduction)
    )
    request = Request(prompt="What is it?", images=(ImageInput(CHELSEA),))  # 3x2 crops + thumbnail, 4 tokens each
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert result.visual_tokens == result.images[0].visual_tokens == tokens
    prepared = engine.adapter.prepare(request)
    assert int(engine.adapter.visual_mask(prepared.input_ids[None]).sum()) == tokens
