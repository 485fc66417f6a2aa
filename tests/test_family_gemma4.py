"""Gemma 4 (`gemma4`, `gemma4_unified`): the soft-token budget as the one resolution knob
(planner against both real image processors, caps and the floor), the engine's prefill
masks and per-layer embeddings against transformers' forward, the native video path
against `generate`, reductions, and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched at the default resolution, dry-run token counts and caps are in
the registry-parametrised tests (test_engine_parity, test_engine_token_budget,
test_tiling_caps); this file covers what is Gemma 4's own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from transformers import Gemma4ImageProcessor, Gemma4UnifiedImageProcessor
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.reduction.compress import parse_compress
from vlmcli.reduction.reducer import TokenReduction
from vlmcli.reduction.temporal import parse_temporal_pool
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.gemma4 import IMAGE_SOFT_TOKENS, PATCH, POOLING, VIDEO_SOFT_TOKENS
from vlmcli.testing.reference import hf_greedy, new_tokens_until_eos
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.gemma4 import (
    SOFT_TOKEN_BUDGETS,
    Gemma4Spec,
    gemma4_budget,
    plan_gemma4,
)

TYPES = ("gemma4", "gemma4_unified")
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [(512, 512), (451, 300), (1920, 1080), (3000, 4000), (6000, 500), (100, 100), (10, 1000), (37, 2)]
POLICIES = [
    ResolutionPolicy(),
    ResolutionPolicy(max_tiles=1),
    ResolutionPolicy(max_pixels=1),
    ResolutionPolicy(max_pixels=100_000),
    ResolutionPolicy(max_pixels=300_000),
    ResolutionPolicy(min_pixels=10**6),
    ResolutionPolicy(min_pixels=10**8),
    ResolutionPolicy(min_pixels=200_000, max_pixels=400_000),
]
HUB = Gemma4Spec()  # gemma-4-E2B-it: 16-px patches, 3x3 pooling, 280 soft tokens
M = HUB.side_multiple  # 48


def processed(processor, image: Image.Image, budget: int) -> tuple[tuple[int, int], int]:
    """((width, height) the processor resized to, soft tokens) for one image at `budget`."""
    out = processor(images=[image], max_soft_tokens=budget, return_tensors="pt")
    positions = out["image_position_ids"][0]  # (P, 2) x, y; -1 on padding
    real = positions[(positions != -1).all(-1)]
    scale = processor.patch_size * (POOLING if isinstance(processor, Gemma4UnifiedImageProcessor) else 1)
    size = (int(real[:, 0].max() + 1) * scale, int(real[:, 1].max() + 1) * scale)
    return size, int(out["num_soft_tokens_per_image"][0])


# --- the pure mapping and the real image processors -------------------------------------------


@pytest.mark.parametrize("processor_class", [Gemma4ImageProcessor, Gemma4UnifiedImageProcessor])
@pytest.mark.parametrize("spec", [HUB, Gemma4Spec(patch_size=PATCH, pooling_kernel_size=POOLING, max_soft_tokens=140)])
def test_planner_agrees_with_the_image_processors(processor_class, spec):
    processor = processor_class(patch_size=spec.patch_size, pooling_kernel_size=spec.pooling_kernel_size)
    for width, height in SIZES:
        image = Image.new("RGB", (width, height), (200, 120, 40))
        for policy in POLICIES:
            plan = plan_gemma4(spec, policy, width=width, height=height)
            resized, tokens = processed(processor, image, gemma4_budget(spec, policy))
            assert (plan.resized, plan.visual_tokens) == (resized, tokens), (width, height, policy)
            assert plan.tiles == 1 and plan.grid == (1, 1)


def test_budgets_follow_the_policy():
    assert gemma4_budget(HUB, ResolutionPolicy()) == 280
    assert gemma4_budget(HUB, ResolutionPolicy(max_tiles=1)) == 280  # one view: always met
    assert gemma4_budget(HUB, ResolutionPolicy(max_pixels=140 * M * M)) == 140
    assert gemma4_budget(HUB, ResolutionPolicy(max_pixels=140 * M * M - 1)) == 70
    assert gemma4_budget(HUB, ResolutionPolicy(max_pixels=1)) == 70  # the smallest the processor takes
    assert gemma4_budget(HUB, ResolutionPolicy(max_pixels=10**9)) == 280  # a cap never raises
    assert gemma4_budget(HUB, ResolutionPolicy(min_pixels=1)) == 280  # met already
    assert gemma4_budget(HUB, ResolutionPolicy(min_pixels=280 * M * M + 1)) == 560
    assert gemma4_budget(HUB, ResolutionPolicy(min_pixels=10**9)) == 1120  # best effort
    assert gemma4_budget(HUB, ResolutionPolicy(min_pixels=10**6, max_tiles=1, max_pixels=10**6)) == 280  # caps win


def test_caps_never_raise_and_the_floor_never_lowers_the_cost():
    for width, height in SIZES:
        native = plan_gemma4(HUB, ResolutionPolicy(), width=width, height=height).visual_tokens
        for policy in POLICIES:
            tokens = plan_gemma4(HUB, policy, width=width, height=height).visual_tokens
            if policy.min_pixels is None:
                assert tokens <= native, (width, height, policy)
            elif policy.max_pixels is None:
                assert tokens >= native, (width, height, policy)
        assert plan_gemma4(HUB, ResolutionPolicy(), width=width, height=height).visual_tokens <= 280
    full_hd = plan_gemma4(HUB, ResolutionPolicy(), width=1920, height=1080)
    assert (full_hd.resized, full_hd.visual_tokens) == ((1056, 576), 22 * 12)


def test_spec_rejects_budgets_the_processor_refuses():
    from vlmcli.errors import ConfigError

    with pytest.raises(ConfigError, match="max_soft_tokens"):
        Gemma4Spec(max_soft_tokens=100)
    assert SOFT_TOKEN_BUDGETS == (70, 140, 280, 560, 1120)


# --- the tiny checkpoints ---------------------------------------------------------------------


def engine_for(tiny_checkpoint, model_type: str, **config) -> Engine:
    folder = str(tiny_checkpoint(model_type))
    return Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", **config))


@pytest.mark.parametrize("model_type", TYPES)
def test_adapter_reads_the_processors_knobs(tiny_checkpoint, model_type):
    adapter = load_planner(EngineConfig(model=str(tiny_checkpoint(model_type)))).adapter
    assert adapter._spec() == Gemma4Spec(patch_size=PATCH, pooling_kernel_size=POOLING, max_soft_tokens=IMAGE_SOFT_TOKENS)
    assert adapter.family == "gemma4" and adapter.native_video


@pytest.mark.parametrize("model_type", TYPES)
def test_prefill_masks_and_per_layer_inputs_match_the_forward(tiny_checkpoint, model_type):
    """transformers' forward differs with and without `mm_token_type_ids` (so the tests see
    the vision blocks), and the engine's prefill logits equal the forward with them."""
    engine = engine_for(tiny_checkpoint, model_type)
    adapter = engine.adapter
    request = Request(prompt="What is in this picture?", images=(ImageInput(CHELSEA),))
    inputs = engine.loaded.processor(text=[adapter.prompt_text(request)], images=[[CHELSEA]], return_tensors="pt")
    assert int((inputs["mm_token_type_ids"] == 1).sum()) == int((inputs["input_ids"] == adapter.image_token_id).sum())
    with torch.inference_mode():
        full = adapter.model(**inputs).logits[:, -1]
        causal = adapter.model(**{k: v for k, v in inputs.items() if k != "mm_token_type_ids"}).logits[:, -1]
        assert not torch.allclose(full, causal)
        prepared = adapter.prepare(request)
        assert torch.equal(prepared.input_ids, inputs["input_ids"][0])
        ids = prepared.input_ids[None]
        merged = adapter.merge(ids, adapter.embed(ids), adapter.encode(prepared.images))
        assert torch.equal(merged.decoder_kwargs["token_type_ids"], inputs["mm_token_type_ids"])
        assert ("per_layer_inputs" in merged.decoder_kwargs) is (model_type == "gemma4")
        mask = torch.ones_like(ids)
        positions = adapter.prefill_positions(ids, mask, extras={}, requests=[prepared])
        out = adapter.decoder(
            inputs_embeds=merged.embeds, attention_mask=mask, position_ids=positions, **merged.decoder_kwargs
        )
        ours = adapter.lm_head(out.last_hidden_state[:, -1])
    torch.testing.assert_close(ours, full)


def test_floor_raises_the_budget_and_matches_generate(tiny_checkpoint):
    policy = ResolutionPolicy(min_pixels=140 * (PATCH * POOLING) ** 2)
    engine = engine_for(tiny_checkpoint, "gemma4", resolution=policy)
    request = Request(prompt="What is in this picture?", images=(ImageInput(CHELSEA),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=8))
    plan = engine.adapter.plan_images([CHELSEA.size])[0]
    assert result.visual_tokens == plan.visual_tokens > IMAGE_SOFT_TOKENS
    image_processor = engine.loaded.processor.image_processor
    image_processor.max_soft_tokens = 140
    try:
        assert result.token_ids == hf_greedy(engine, [request], new_tokens=8)[0]
    finally:
        image_processor.max_soft_tokens = IMAGE_SOFT_TOKENS


def clip(frames: int = 4) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((8 * i, 0, 8 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def video_generate(engine: Engine, request: Request, *, new_tokens: int) -> list[int]:
    """`model.generate` on the processor's own video prompt (frames as decoded, with their metadata)."""
    adapter = engine.adapter
    inputs = engine.loaded.processor(
        text=[adapter.prompt_text(request)], videos=[v.frames for v in request.videos], return_tensors="pt",
        **adapter.video_kwargs(list(request.videos)),
    )  # fmt: skip
    with torch.inference_mode():
        out = adapter.model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens)
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos)[0]


@pytest.mark.parametrize("model_type", TYPES)
def test_native_video_matches_generate(tiny_checkpoint, model_type):
    engine = engine_for(tiny_checkpoint, model_type)
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    prepared = engine.adapter.prepare(request)
    prompt = engine.loaded.processor.tokenizer.decode(prepared.input_ids)
    assert "00:00 <|image>" in prompt and "00:01 <|image>" in prompt
    per_frame = int((prepared.input_ids == engine.adapter.video_token_id).sum()) // 4
    assert 1 <= per_frame <= VIDEO_SOFT_TOKENS and prepared.videos[0].layout.units == 4
    (result,) = engine.generate([request], GenerationConfig(max_tokens=8))
    assert result.videos[0].frames == 4 and result.images == []
    assert result.token_ids == video_generate(engine, request, new_tokens=8)


def test_temporal_pool_keeps_one_timestamp_per_group(tiny_checkpoint):
    engine = engine_for(tiny_checkpoint, "gemma4", reduction=TokenReduction(temporal=parse_temporal_pool("2")))
    request = Request(prompt="What happens in this video?", videos=(clip(),))
    prepared = engine.adapter.prepare(request)
    video = prepared.videos[0]
    assert video.layout.out_units == 2 and video.visual_tokens == 2 * video.layout.per_unit
    assert int((prepared.input_ids == engine.adapter.video_token_id).sum()) == video.visual_tokens
    prompt = engine.loaded.processor.tokenizer.decode(prepared.input_ids)
    assert prompt.count("<|image>") == 2 and "00:00 <|image>" in prompt and "00:01 <|image>" in prompt
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.completion_tokens >= 1


def test_compress_pool_shrinks_the_soft_token_grid(tiny_checkpoint):
    engine = engine_for(tiny_checkpoint, "gemma4", reduction=TokenReduction(compress=parse_compress("pool:2")))
    request = Request(prompt="Describe.", images=(ImageInput(CHELSEA),))
    prepared = engine.adapter.prepare(request)
    rows, cols = prepared.images[0].layout.grid
    assert rows * cols == plan_gemma4(engine.adapter._spec(), ResolutionPolicy(), width=451, height=300).visual_tokens
    assert prepared.visual_tokens == -(-rows // 2) * -(-cols // 2)
    assert int((prepared.input_ids == engine.adapter.image_token_id).sum()) == prepared.visual_tokens
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.completion_tokens >= 1


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint("gemma4"))
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    base = ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)["images"][0]
    expected = plan_gemma4(Gemma4Spec(PATCH, POOLING, IMAGE_SOFT_TOKENS), ResolutionPolicy(), width=451, height=300)
    assert plain["visual_tokens"] == expected.visual_tokens and plain["resized"] == list(expected.resized)
    capped = json.loads(runner.invoke(app, [*base, "--max-pixels", "1000"]).stdout)["images"][0]
    assert capped["visual_tokens"] == plain["visual_tokens"]  # 70 is already the smallest budget
    raised = json.loads(runner.invoke(app, [*base, "--min-pixels", str(10**6)]).stdout)["images"][0]
    assert raised["visual_tokens"] > plain["visual_tokens"]
