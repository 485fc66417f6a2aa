"""GLM-4.1V / 4.5V (`glm4v`): GLM's smart_resize (bounds over 2 frames), caps onto the image
processor's `size`, the floor applied, MRoPE positions from the model's own `get_rope_index`,
videos as frames with time markers, and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched, dry-run token counts and planner agreement are in the
registry-parametrised tests (test_engine_parity, test_engine_token_budget,
test_tiling_caps, test_tiling_agreement); this file covers what is GLM-4V's own.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.testing.costs import prompt_visual_tokens
from vlmcli.testing.glm4v import FACTOR, MAX_TOKENS, MIN_TOKENS, TEMPORAL
from vlmcli.testing.reference import new_tokens_until_eos
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.glm4v import Glm4vSpec, glm4v_size, plan_glm4v

FAMILY = "glm4v"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (600, 400), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100),
         (10, 1000), (20, 20)]  # fmt: skip
CAPS = [{"max_tiles": t} for t in (1, 2, 4, 16)] + [{"max_pixels": p} for p in (1000, 50_000, 300_000, 10**6, 10**8)]


cost = prompt_visual_tokens  # (folder, policy, request) -> visual tokens, checked against adapter and planner


# --- the pure mapping at GLM-4.1V's defaults ------------------------------------------------------


def test_default_plan_is_the_hub_models():
    spec = Glm4vSpec()
    assert glm4v_size(spec, ResolutionPolicy()) == (112 * 112, 28 * 28 * 15000)
    plan = plan_glm4v(spec, ResolutionPolicy(), width=1920, height=1080)
    assert plan.resized == (1932, 1092) and plan.visual_tokens == 69 * 39  # sides rounded to 28 px, under the bound
    tiny = plan_glm4v(spec, ResolutionPolicy(), width=10, height=20)  # short side scaled up to one cell first
    assert plan.tiles == tiny.tiles == 1 and min(tiny.resized) >= 28


def test_caps_never_raise_the_cost_and_map_onto_size():
    spec = Glm4vSpec()
    for base in ({}, {"min_pixels": 2 * 10**6}):
        for width, height in SIZES:
            before = plan_glm4v(spec, ResolutionPolicy(**base), width=width, height=height)
            for cap in CAPS:
                if cap.get("max_pixels", 10**9) < max(base.get("min_pixels", 0), 28 * 28):
                    continue
                policy = ResolutionPolicy(**base, **cap)
                low, high = glm4v_size(spec, policy)
                assert low <= high <= max(spec.longest_edge, TEMPORAL * base.get("min_pixels", 0))
                after = plan_glm4v(spec, policy, width=width, height=height)
                assert after.visual_tokens <= before.visual_tokens, (
                    base,
                    cap,
                    width,
                    height,
                )
                if "max_pixels" in cap and not base:
                    assert high == min(spec.longest_edge, TEMPORAL * cap["max_pixels"])


def test_min_pixels_above_the_default_upscales():
    spec = Glm4vSpec()
    native = plan_glm4v(spec, ResolutionPolicy(), width=300, height=200)
    raised = plan_glm4v(spec, ResolutionPolicy(min_pixels=400_000), width=300, height=200)
    assert raised.visual_tokens > native.visual_tokens
    assert raised.resized[0] * raised.resized[1] >= 400_000 and raised.resized[0] % 28 == raised.resized[1] % 28 == 0
    capped = plan_glm4v(spec, ResolutionPolicy(min_pixels=400_000, max_tiles=1), width=300, height=200)
    # the cap wins: the floor drops to one nominal 448-px tile (ceil to whole cells may pass it by a row)
    assert capped.visual_tokens < raised.visual_tokens and capped.resized[0] * capped.resized[1] < 448 * 448 * 1.5


def test_max_pixels_below_one_cell_is_refused():
    with pytest.raises(ConfigError, match="below one"):
        plan_glm4v(Glm4vSpec(), ResolutionPolicy(max_pixels=500), width=640, height=480)


# --- the tiny checkpoint ----------------------------------------------------------------------


def test_adapter_reads_the_checkpoints_knobs(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    per_token = FACTOR * FACTOR * TEMPORAL
    assert adapter._glm_spec() == Glm4vSpec(shortest_edge=MIN_TOKENS * per_token, longest_edge=MAX_TOKENS * per_token)
    assert adapter.processor_kwargs([(640, 480)]) == {}
    capped = load_planner(
        EngineConfig(
            model=str(tiny_checkpoint(FAMILY)),
            resolution=ResolutionPolicy(max_pixels=10_000),
        )
    ).adapter
    size = capped.processor_kwargs([(640, 480)])["images_kwargs"]["size"]
    assert size == {"shortest_edge": MIN_TOKENS * per_token, "longest_edge": 20_000}


def test_min_pixels_above_the_default_is_applied_and_caps_lower(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    native = cost(folder, ResolutionPolicy(), request)
    assert MIN_TOKENS <= native <= MAX_TOKENS
    raised = cost(folder, ResolutionPolicy(min_pixels=100_000), request)
    # as Qwen's smart_resize: the floor is also the bound, and an image rounded above it is floored to whole cells
    assert raised > native and raised * FACTOR * FACTOR >= 0.8 * 100_000
    assert cost(folder, ResolutionPolicy(min_pixels=50_000, max_pixels=60_000), request) < raised
    for cap in CAPS:
        assert cost(folder, ResolutionPolicy(**cap), request) <= native


def clip(frames: int = 4) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(
        frames=pixels,
        timestamps=tuple(i * 0.5 for i in range(frames)),
        fps=2.0,
        source="clip",
    )


def reference_videos(engine: Engine, requests: list[Request], new_tokens: int) -> list[list[int]]:
    """transformers' own video path on the same decoded frames (one clip per request): processor, then generate."""
    from transformers.video_utils import VideoMetadata

    processor = engine.loaded.processor
    processor.tokenizer.padding_side = "left"
    inputs = processor(
        text=[engine.adapter.prompt_text(r) for r in requests],
        videos=[r.videos[0].frames for r in requests],
        video_metadata=[VideoMetadata(**r.videos[0].metadata()) for r in requests],
        do_sample_frames=False,
        return_tensors="pt",
        padding=True,
    )
    with torch.inference_mode():
        out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens)
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos)


def test_native_video_matches_generate_alone_and_batched(tiny_checkpoint):
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    assert engine.adapter.native_video
    video = Request(prompt="What happens in this video?", videos=(clip(),))
    assert "<|begin_of_video|><|video|><|end_of_video|>" in engine.adapter.prompt_text(video)
    (result,) = engine.generate([video], GenerationConfig(max_tokens=6))
    assert [result.token_ids] == reference_videos(engine, [video], 6)
    (usage,) = result.videos
    assert usage.frames == 4 and usage.units == 2 and usage.visual_tokens == result.visual_tokens > 0
    longer = Request(prompt="Describe it.", videos=(clip(7),))  # odd: the last frame is repeated
    batch = engine.generate([video, longer], GenerationConfig(max_tokens=6))
    assert [r.token_ids for r in batch] == reference_videos(engine, [video, longer], 6)
    assert batch[0].token_ids == result.token_ids
    # an image and a clip in one prompt (transformers' own forward cannot: it checks all <|image|> tokens
    # against the image features alone); the engine scatters both in prompt order
    mixed = Request(
        prompt="Is the photo in the video?",
        images=(ImageInput(CHELSEA),),
        videos=(clip(3),),
    )
    (both,) = engine.generate([mixed], GenerationConfig(max_tokens=3))
    prepared = engine.adapter.prepare(mixed)
    assert both.visual_tokens == int((prepared.input_ids == engine.adapter.image_token_id).sum())


def test_video_caps_and_temporal_pooling(tiny_checkpoint):
    from vlmcli.reduction.reducer import TokenReduction
    from vlmcli.reduction.temporal import parse_temporal_pool

    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="What happens?", videos=(clip(),))
    native = cost(folder, ResolutionPolicy(), request)
    for cap in CAPS[:-1]:
        if cap.get("max_pixels", 10**9) >= 28 * 28:
            assert cost(folder, ResolutionPolicy(**cap), request) <= native
    assert cost(folder, ResolutionPolicy(max_pixels=5_000), request) < native
    assert cost(folder, ResolutionPolicy(min_pixels=100_000), request) > native
    reduction = TokenReduction(temporal=parse_temporal_pool("2"))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", reduction=reduction))
    longer = Request(prompt="What happens?", videos=(clip(7),))  # 4 temporal patches -> 2 pooled units
    prepared = engine.adapter.prepare(longer)
    text = engine.loaded.processor.decode(prepared.input_ids)
    assert text.count("<|begin_of_image|>") == 2 and text.count("<|begin_of_video|>") == 1
    (result,) = engine.generate([longer], GenerationConfig(max_tokens=3))
    assert result.videos[0].units == 2
    assert result.visual_tokens == int((prepared.input_ids == engine.adapter.image_token_id).sum())


def test_compression_keeps_valid_positions(tiny_checkpoint):
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    reduction = TokenReduction(compress=parse_compress("pool:2"))
    engine = Engine.load(
        EngineConfig(
            model=str(tiny_checkpoint(FAMILY)),
            device="cpu",
            dtype="float32",
            reduction=reduction,
        )
    )
    request = Request(prompt="What is it?", images=(ImageInput(CHELSEA),))
    full = cost(str(tiny_checkpoint(FAMILY)), ResolutionPolicy(), request)
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    assert 0 < result.visual_tokens < full
    prepared = engine.adapter.prepare(request)
    assert int(engine.adapter.visual_mask(prepared.input_ids[None]).sum()) == result.visual_tokens


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = tmp_path / "glm4v-tiny"
    shutil.copytree(tiny_checkpoint(FAMILY), folder)
    photo = tmp_path / "photo.png"
    CHELSEA.save(photo)
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["ask", "--model", str(folder), str(photo), "q", "--max-tokens", "4", "--json"],
    )
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
                                "--min-pixels", "100000"])  # fmt: skip
    assert floor.exit_code == 0, floor.output
    assert json.loads(floor.stdout)["images"][0]["visual_tokens"] > planned["visual_tokens"]
    capped = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run", "--json",
                                 "--max-pixels", "5000"])  # fmt: skip
    assert json.loads(capped.stdout)["images"][0]["visual_tokens"] <= planned["visual_tokens"]
    bad = runner.invoke(app, ["ask", "--model", str(folder), str(photo), "q", "--dry-run",
                              "--min-pixels", "800000", "--max-pixels", "400000"])  # fmt: skip
    assert bad.exit_code == 2
