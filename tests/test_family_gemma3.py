"""Gemma 3 (`gemma3`): fixed views, pan-and-scan crops as the one resolution knob (caps and
the floor), the bidirectional attention over each image's soft tokens in the engine's own
prefill, videos as frames, and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched at the default resolution, dry-run token counts and planner
agreement are in the registry-parametrised tests (test_engine_parity,
test_engine_token_budget, test_tiling_caps, test_tiling_agreement); this file covers what
is Gemma 3's own.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

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
from vlmcli.testing import sample_photos
from vlmcli.testing.gemma3 import IMAGE_SIZE, TOKENS_PER_VIEW
from vlmcli.testing.reference import hf_greedy
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.gemma3 import Gemma3Spec, gemma3_pan_and_scan, plan_gemma3

FAMILY = "gemma3"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
VIEW = IMAGE_SIZE * IMAGE_SIZE
WIDE = Image.fromarray(np.asarray(CHELSEA.resize((900, 300))))  # 3:1, pan-and-scan cuts it in 3
SIZES = [(512, 512), (451, 300), (1920, 1080), (4000, 3000), (3000, 4000), (6000, 500), (100, 100), (10, 1000)]
CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 9)] + [{"max_pixels": p} for p in (10**6, 4 * 10**6, 10**8)]


@contextmanager
def pan_and_scan(processor, **knobs):
    """Pan-and-scan on in this processor (its `images_kwargs` override the image processor's)."""
    processor.images_kwargs = {**type(processor).images_kwargs, "do_pan_and_scan": True, **knobs}
    try:
        yield
    finally:
        del processor.images_kwargs


def cost(adapter, request: Request) -> int:
    prepared = adapter.prepare(request)
    in_prompt = int((prepared.input_ids == adapter.image_token_id).sum())
    assert prepared.visual_tokens == in_prompt
    sizes = [(im.image.width, im.image.height) for im in request.images]
    assert [p.visual_tokens for p in adapter.plan_images(sizes)] == [im.visual_tokens for im in prepared.images]
    return in_prompt


# --- the pure mapping at gemma-3-4b-it's defaults (896 px, 256 tokens, pan-and-scan off) ----------


def test_default_is_one_view_and_caps_change_nothing():
    spec = Gemma3Spec()
    for width, height in SIZES:
        plan = plan_gemma3(spec, ResolutionPolicy(), width=width, height=height)
        assert plan.visual_tokens == 256 and plan.tiles == 1 and plan.resized == (896, 896)
        for cap in CAPS:
            assert plan_gemma3(spec, ResolutionPolicy(**cap), width=width, height=height) == plan
        with pytest.raises(ConfigError, match="below one 896x896 view"):  # the global view always stays
            plan_gemma3(spec, ResolutionPolicy(max_pixels=1000), width=width, height=height)


def test_caps_lower_pan_and_scan_and_never_raise_the_cost():
    spec = Gemma3Spec(do_pan_and_scan=True)
    wide = plan_gemma3(spec, ResolutionPolicy(), width=6000, height=500)
    assert wide.tiles == 5 and wide.grid == (1, 4) and wide.visual_tokens == 5 * 256
    assert gemma3_pan_and_scan(spec, ResolutionPolicy(max_tiles=1)).enabled is False  # 2 crops at least
    assert plan_gemma3(spec, ResolutionPolicy(max_tiles=2), width=6000, height=500).tiles == 3
    assert plan_gemma3(spec, ResolutionPolicy(max_pixels=4 * 896 * 896), width=6000, height=500).tiles == 4
    assert plan_gemma3(spec, ResolutionPolicy(max_pixels=3 * 896 * 896), width=6000, height=500).tiles == 3
    for base in ({}, {"min_pixels": 4 * 896 * 896}):
        for width, height in SIZES:
            before = plan_gemma3(spec, ResolutionPolicy(**base), width=width, height=height)
            for cap in CAPS:
                if cap.get("max_pixels", 10**9) < base.get("min_pixels", 0):
                    continue
                after = plan_gemma3(spec, ResolutionPolicy(**base, **cap), width=width, height=height)
                assert after.visual_tokens <= before.visual_tokens, (base, cap, width, height)


def test_min_pixels_turns_pan_and_scan_on_for_any_aspect_ratio():
    spec = Gemma3Spec()
    assert plan_gemma3(spec, ResolutionPolicy(min_pixels=896 * 896), width=1000, height=1000).tiles == 1  # met
    floor = ResolutionPolicy(min_pixels=3 * 896 * 896)
    assert gemma3_pan_and_scan(spec, floor).max_num_crops == 4  # the checkpoint's 4 >= ceil(3)
    assert plan_gemma3(spec, floor, width=1000, height=1000).tiles == 3  # a square: 2 crops
    assert plan_gemma3(spec, floor, width=3000, height=1000).tiles == 4  # 3:1: 3 crops
    assert plan_gemma3(spec, ResolutionPolicy(min_pixels=6 * 896 * 896), width=6000, height=500).tiles == 7
    assert plan_gemma3(spec, floor, width=300, height=300).tiles == 1  # crops below 256 px: none
    capped = ResolutionPolicy(min_pixels=3 * 896 * 896, max_tiles=1)
    assert plan_gemma3(spec, capped, width=3000, height=1000).tiles == 1  # caps win


# --- the tiny checkpoint ----------------------------------------------------------------------


def test_adapter_reads_the_processors_knobs(tiny_checkpoint):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(FAMILY)))).adapter
    assert adapter._spec() == Gemma3Spec(image_size=IMAGE_SIZE, image_seq_length=TOKENS_PER_VIEW)
    with pan_and_scan(adapter.processor, pan_and_scan_max_num_crops=3):
        assert adapter._spec().do_pan_and_scan and adapter._spec().max_num_crops == 3


def test_image_tokens_attend_bidirectionally_and_the_engine_does_too(tiny_checkpoint):
    """transformers' forward differs with and without `token_type_ids` (so parity tests the
    mask), and the engine's prefill logits equal the forward with them."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    adapter = engine.adapter
    request = Request(prompt="What is in this picture?", images=(ImageInput(CHELSEA),))
    processor = engine.loaded.processor
    inputs = processor(text=[adapter.prompt_text(request)], images=[[CHELSEA]], return_tensors="pt")
    assert int(inputs["token_type_ids"].sum()) == TOKENS_PER_VIEW
    with torch.inference_mode():
        full = adapter.model(**inputs).logits[:, -1]
        causal = adapter.model(**{k: v for k, v in inputs.items() if k != "token_type_ids"}).logits[:, -1]
        assert not torch.allclose(full, causal)
        prepared = adapter.prepare(request)
        assert torch.equal(prepared.input_ids, inputs["input_ids"][0])
        ids = prepared.input_ids[None]
        merged = adapter.merge(ids, adapter.embed(ids), adapter.encode(prepared.images))
        mask = torch.ones_like(ids)
        positions = adapter.prefill_positions(ids, mask, extras={}, requests=[prepared])
        out = adapter.decoder(
            inputs_embeds=merged.embeds, attention_mask=mask, position_ids=positions, **merged.decoder_kwargs
        )
        ours = adapter.lm_head(out.last_hidden_state[:, -1])
    torch.testing.assert_close(ours, full)


def test_pan_and_scan_crops_match_generate_alone_and_batched(tiny_checkpoint):
    """With pan-and-scan on (32-px minimum crops), each image's views are its global view and
    its crops, in prompt order; two images of different crop counts share a tower call."""
    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    photos = [ImageInput(p, source=f"photo{i}") for i, p in enumerate(sample_photos())]
    one = Request(prompt="What is in this picture?", images=(ImageInput(WIDE),))
    two = Request(prompt="Which of these two photos is brighter, and why?", images=(photos[1], ImageInput(CHELSEA)))
    gen = GenerationConfig(max_tokens=8)
    with pan_and_scan(engine.loaded.processor, pan_and_scan_min_crop_size=32):
        assert cost(engine.adapter, one) == 4 * TOKENS_PER_VIEW  # 3 crops + the global view
        assert [r.token_ids for r in engine.generate([one], gen)] == hf_greedy(engine, [one], new_tokens=8)
        assert [r.token_ids for r in engine.generate([one, two], gen)] == hf_greedy(engine, [one, two], new_tokens=8)


def test_floor_and_caps_on_the_tiny_checkpoint(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    request = Request(prompt="Describe.", images=(ImageInput(WIDE),))
    native = cost(load_planner(EngineConfig(model=folder)).adapter, request)
    assert native == TOKENS_PER_VIEW
    for cap in CAPS:
        policy = ResolutionPolicy(**cap)
        assert cost(load_planner(EngineConfig(model=folder, resolution=policy)).adapter, request) == native
    floor = load_planner(EngineConfig(model=folder, resolution=ResolutionPolicy(min_pixels=3 * VIEW))).adapter
    assert cost(floor, request) == 4 * TOKENS_PER_VIEW  # 900x300 (crops above 256 px): 3 crops
    capped = ResolutionPolicy(min_pixels=3 * VIEW, max_tiles=2)
    assert cost(load_planner(EngineConfig(model=folder, resolution=capped)).adapter, request) == 3 * TOKENS_PER_VIEW


def test_floor_matches_generate(tiny_checkpoint):
    policy = ResolutionPolicy(min_pixels=3 * VIEW)
    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", resolution=policy))
    request = Request(prompt="What is in this picture?", images=(ImageInput(WIDE),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=8))
    assert result.visual_tokens == 4 * TOKENS_PER_VIEW
    knobs = gemma3_pan_and_scan(engine.adapter._spec(), policy).processor_kwargs()
    with pan_and_scan(engine.loaded.processor, **knobs):
        assert result.token_ids == hf_greedy(engine, [request], new_tokens=8)[0]


def clip(frames: int = 3) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def test_video_frames_as_images(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    engine = Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32"))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.videos[0].units == 3 and result.images == [] and result.completion_tokens >= 1
    assert engine.adapter.prepare(request).visual_tokens == 3 * TOKENS_PER_VIEW


def test_compress_pool_shrinks_each_view(tiny_checkpoint):
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))
    pooled = engine.adapter.__class__(
        model=engine.adapter.model, processor=engine.adapter.processor, model_type=FAMILY,
        reduction=TokenReduction(compress=parse_compress("pool:2")),
    )  # fmt: skip
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    prepared = pooled.prepare(request)
    assert prepared.visual_tokens == TOKENS_PER_VIEW // 4 == int((prepared.input_ids == pooled.image_token_id).sum())


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint(FAMILY))
    path = tmp_path / "photo.png"
    WIDE.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    base = ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)
    assert plain["images"][0]["visual_tokens"] == TOKENS_PER_VIEW and plain["images"][0]["resized"] == [64, 64]
    capped = json.loads(runner.invoke(app, [*base, "--max-tiles", "1"]).stdout)
    assert capped["images"][0]["visual_tokens"] == TOKENS_PER_VIEW
    raised = json.loads(runner.invoke(app, [*base, "--min-pixels", str(3 * VIEW)]).stdout)
    assert raised["images"][0]["visual_tokens"] == 4 * TOKENS_PER_VIEW and raised["images"][0]["tiles"] == 4
