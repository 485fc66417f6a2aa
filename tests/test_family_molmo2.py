"""Molmo 2 (`molmo2`): the multi-crop planner against transformers' image processor, the
`max_crops` mapping of the policy (caps never raise the cost), the image-token block
attention and added features in the engine's own prefill, the native video path against
`model.generate`, and `vlm ask` end to end on the tiny checkpoint.

Parity alone and batched on images at the default resolution, dry-run token counts and the
caps on real photos are in the registry-parametrised tests (test_engine_parity,
test_engine_token_budget, test_tiling_caps); this file covers what is Molmo 2's own.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image
from transformers import Molmo2ImageProcessor
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.molmo2 import CROP, MARGINS, MAX_CROPS, PATCH
from vlmcli.testing.reference import hf_greedy, new_tokens_until_eos
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.molmo2 import (
    Molmo2Spec,
    molmo2_max_crops,
    plan_molmo2,
    select_tiling,
)

FAMILY = "molmo2"
CHELSEA = Image.fromarray(skimage.data.chelsea())  # 451x300
SIZES = [
    (16, 16), (10, 100), (100, 10), (40, 400), (400, 40), (112, 112), (113, 300), (224, 224), (378, 378),
    (451, 300), (640, 480), (480, 640), (1920, 1080), (1080, 1920), (4000, 3000), (5000, 500), (500, 5000),
    (1000, 1000), (123, 457), (2048, 2048), (266, 532), (645, 645),
]
TINY_SIZES = [(w // 8 + 1, h // 8 + 1) for w, h in SIZES] + [(8, 8), (9, 30), (28, 28), (48, 88), (600, 400)]
TINY = Molmo2Spec(
    crop_size=CROP, patch_size=PATCH, max_crops=MAX_CROPS, left_margin=MARGINS[0], right_margin=MARGINS[1]
)
CAPS = [{"max_tiles": t} for t in (1, 2, 3, 4, 6, 8, 12)] + [{"max_pixels": p} for p in (150_000, 10**6, 10**8)]


def processor_plan(processor: Molmo2ImageProcessor, width: int, height: int, **kwargs) -> tuple[tuple, int, int]:
    """((rows, cols) pooled grids, crops, `<im_patch>` tokens) from really preprocessing one image."""
    out = processor(images=[Image.new("RGB", (width, height), (90, 40, 20))], return_tensors="pt", **kwargs)
    low_h, low_w, high_h, high_w = (int(x) for x in out["image_grids"][0])
    crops = int(out["image_num_crops"][0])
    assert out["image_token_pooling"].shape[0] == low_h * low_w + high_h * high_w
    return (low_h, low_w, high_h, high_w), crops, low_h * low_w + high_h * high_w


def check_plan(spec: Molmo2Spec, processor: Molmo2ImageProcessor, width: int, height: int, max_crops: int) -> None:
    policy = ResolutionPolicy(max_tiles=max_crops) if max_crops < spec.max_crops else ResolutionPolicy()
    plan = plan_molmo2(spec, policy, width=width, height=height)
    grid, crops, tokens = processor_plan(processor, width, height, max_crops=max_crops)
    assert (plan.tiles, plan.visual_tokens) == (crops, tokens), (width, height, max_crops)
    rows, cols = plan.grid
    canvas_w, canvas_h = plan.resized
    assert (canvas_h // spec.patch_size + 1) // 2 == grid[2] and (canvas_w // spec.patch_size + 1) // 2 == grid[3]
    assert canvas_h == rows * spec.window_size + spec.margin_size
    assert canvas_w == cols * spec.window_size + spec.margin_size


# --- the planner against transformers' processor -----------------------------------------------


def test_planner_agrees_with_the_hub_image_processor():
    processor = Molmo2ImageProcessor()  # allenai/Molmo2-8B's settings are the class defaults
    spec = Molmo2Spec()
    for width, height in SIZES:
        check_plan(spec, processor, width, height, spec.max_crops)
    for max_crops in (1, 2, 5):
        for width, height in [(1920, 1080), (5000, 500), (451, 300)]:
            check_plan(spec, processor, width, height, max_crops)


def test_planner_agrees_with_the_tiny_image_processor_over_sizes_and_crop_limits():
    processor = Molmo2ImageProcessor(
        size={"height": CROP, "width": CROP}, patch_size=PATCH, max_crops=MAX_CROPS, overlap_margins=list(MARGINS),
    )  # fmt: skip
    for max_crops in (1, 2, 3, 4, 6, 8):
        for width, height in TINY_SIZES:
            check_plan(TINY, processor, width, height, max_crops)
    # the processor's own count agrees too (what vLLM-style accounting would use)
    for width, height in TINY_SIZES:
        plan = plan_molmo2(TINY, ResolutionPolicy(), width=width, height=height)
        assert processor.get_number_of_image_patches(height, width) == plan.visual_tokens


def test_select_tiling_matches_transformers_including_degenerate_sizes():
    from transformers.models.molmo2.image_processing_molmo2 import (
        select_tiling as reference,
    )

    for height in (-100, -8, 0, 1, 7, 50, 266, 267, 1000, 5000):
        for width in (-100, 0, 3, 266, 300, 800, 4000):
            for max_crops in (1, 3, 8, 12):
                ours = select_tiling(height, width, window=266, max_crops=max_crops)
                assert ours == tuple(reference(height, width, 266, max_crops)), (height, width, max_crops)


def test_hub_examples():
    spec = Molmo2Spec()
    square = plan_molmo2(spec, ResolutionPolicy(), width=378, height=378)
    assert square.grid == (1, 1) and square.resized == (378, 378) and square.visual_tokens == 196 + 196
    full_hd = plan_molmo2(spec, ResolutionPolicy(), width=1920, height=1080)
    assert full_hd.grid == (2, 4) and full_hd.tiles == 9 and full_hd.resized == (1176, 644)
    assert full_hd.visual_tokens == 196 + 23 * 42


# --- the policy --------------------------------------------------------------------------------


def test_policy_maps_onto_max_crops():
    spec = Molmo2Spec()
    assert molmo2_max_crops(spec, ResolutionPolicy()) == 8
    assert molmo2_max_crops(spec, ResolutionPolicy(max_tiles=3)) == 3
    assert molmo2_max_crops(spec, ResolutionPolicy(max_tiles=30)) == 8  # a cap never raises
    assert molmo2_max_crops(spec, ResolutionPolicy(max_pixels=4 * 378 * 378)) == 4
    assert molmo2_max_crops(spec, ResolutionPolicy(min_pixels=12 * 378 * 378)) == 12  # the floor raises
    assert molmo2_max_crops(spec, ResolutionPolicy(min_pixels=12 * 378 * 378, max_tiles=5)) == 5  # caps win
    big = plan_molmo2(spec, ResolutionPolicy(min_pixels=12 * 378 * 378), width=4000, height=3000)
    assert big.grid == (3, 4) and big.tiles == 13


def test_caps_never_raise_the_cost():
    for spec in (Molmo2Spec(), TINY):
        sizes = SIZES if spec is not TINY else TINY_SIZES
        for base in ({}, {"min_pixels": 12 * spec.crop_size**2}):
            for width, height in sizes:
                before = plan_molmo2(spec, ResolutionPolicy(**base), width=width, height=height)
                for cap in CAPS:
                    if cap.get("max_pixels", 10**9) < max(base.get("min_pixels", 0), spec.crop_size**2):
                        continue
                    after = plan_molmo2(spec, ResolutionPolicy(**base, **cap), width=width, height=height)
                    assert after.visual_tokens <= before.visual_tokens, (spec, base, cap, width, height)


# --- the tiny checkpoint -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(tiny_checkpoint) -> Engine:
    return Engine.load(EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32"))


def test_adapter_reads_the_processors_knobs(engine):
    assert engine.adapter._spec() == TINY
    assert engine.adapter.image_token_id == engine.adapter.config.image_patch_id


def test_image_tokens_attend_as_one_block_and_features_are_added(engine):
    """transformers' forward differs with and without `mm_token_type_ids` (so parity tests the
    mask), and the engine's prefill logits equal the forward with them."""
    adapter = engine.adapter
    request = Request(prompt="What is in this picture?", images=(ImageInput(CHELSEA),))
    processor = engine.loaded.processor
    inputs = processor(text=[adapter.prompt_text(request)], images=[[CHELSEA]], return_tensors="pt")
    with torch.inference_mode():
        full = adapter.model(**inputs).logits[:, -1]
        causal = adapter.model(**{k: v for k, v in inputs.items() if k != "mm_token_type_ids"}).logits[:, -1]
        assert not torch.allclose(full, causal)
        prepared = adapter.prepare(request)
        assert torch.equal(prepared.input_ids, inputs["input_ids"][0])
        ids = prepared.input_ids[None]
        embeds = adapter.embed(ids)
        merged = adapter.merge(ids, embeds, adapter.encode(prepared.images))
        patches = ids[0] == adapter.image_token_id
        assert torch.equal(merged.embeds[0, ~patches], embeds[0, ~patches])  # text untouched
        assert not torch.equal(merged.embeds[0, patches], embeds[0, patches])
        mask = torch.ones_like(ids)
        positions = adapter.prefill_positions(ids, mask, extras={}, requests=[prepared])
        out = adapter.decoder(
            inputs_embeds=merged.embeds, attention_mask=mask, position_ids=positions, **merged.decoder_kwargs
        )
        ours = adapter.lm_head(out.last_hidden_state[:, -1])
    torch.testing.assert_close(ours, full)


def test_system_prompt_is_folded_into_the_user_turn(engine):
    text = engine.adapter.prompt_text(Request(prompt="What is it?", images=(ImageInput(CHELSEA),), system="Be brief."))
    assert text == "<|image|><|im_start|>user\nBe brief. What is it?<|im_end|>\n<|im_start|>assistant\n"


def test_more_crops_match_generate(tiny_checkpoint):
    """`--min-pixels` raises `max_crops`; the engine follows the processor given that knob."""
    policy = ResolutionPolicy(min_pixels=12 * CROP * CROP)
    engine = Engine.load(
        EngineConfig(model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32", resolution=policy)
    )
    wide = ImageInput(Image.fromarray(np.asarray(CHELSEA.resize((1200, 900)))))
    request = Request(prompt="What is in this picture?", images=(wide,))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=6))
    (plan,) = engine.adapter.plan_images([(1200, 900)])
    assert plan.grid == (3, 4) and plan.tiles == 13 and result.visual_tokens == plan.visual_tokens
    processor = engine.loaded.processor
    text = engine.adapter.prompt_text(request)
    inputs = processor(text=[text], images=[[wide.image]], return_tensors="pt", max_crops=12)
    assert int((inputs["input_ids"] == engine.adapter.image_token_id).sum()) == plan.visual_tokens
    with torch.inference_mode():
        out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=6)
    prompt_length = inputs["input_ids"].shape[1]
    assert [result.token_ids] == new_tokens_until_eos(out, prompt_length=prompt_length, eos=engine.token_ids.eos)


def clip(frames: int = 4, *, fps: float = 2.0) -> VideoInput:
    pixels = np.stack([np.asarray(CHELSEA.crop((20 * i, 0, 20 * i + 320, 240))) for i in range(frames)])
    return VideoInput(frames=pixels, timestamps=tuple(i / fps for i in range(frames)), fps=fps, source="clip")


def video_reference(engine: Engine, requests: list[Request], *, new_tokens: int) -> list[list[int]]:
    """`model.generate` on the processor's video inputs (the clips' own frames and times)."""
    processor = engine.loaded.processor
    texts = [engine.adapter.prompt_text(r) for r in requests]
    videos = [v.frames for r in requests for v in r.videos]
    metadata = [v.metadata() for r in requests for v in r.videos]
    inputs = processor(
        text=texts, videos=videos, video_metadata=metadata, do_sample_frames=False, padding=True, return_tensors="pt"
    )
    with torch.inference_mode():
        out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=new_tokens)
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos)


def test_native_video_matches_generate_alone_and_batched(engine):
    one = Request(prompt="What happens in this video?", videos=(clip(),))
    two = Request(prompt="Describe the motion, briefly.", videos=(clip(6, fps=3.0),))
    gen = GenerationConfig(max_tokens=8)
    (result,) = engine.generate([one], gen)
    assert result.token_ids == video_reference(engine, [one], new_tokens=8)[0]
    assert result.videos[0].frames == 4 and result.videos[0].units == 4 and result.images == []
    assert result.visual_tokens == 4 * 3 * 3  # 7x7 patches pooled 3x3 per frame
    batched = engine.generate([one, two], gen)
    assert [r.token_ids for r in batched] == video_reference(engine, [one, two], new_tokens=8)


def test_video_prompt_is_the_processors_and_temporal_pooling_rewrites_it(engine, tiny_checkpoint):
    from vlmcli.reduction.reducer import TokenReduction
    from vlmcli.reduction.temporal import parse_temporal_pool

    adapter = engine.adapter
    request = Request(prompt="What happens?", videos=(clip(4),))
    prepared = adapter.prepare(request)
    text = adapter.processor.tokenizer.decode(prepared.input_ids)
    assert "0.0 <frame_start>" in text and " 1.5 <frame_start>" in text and text.count("<frame_end>") == 4
    # the adapter's own frame string is the processor's, so a reduced clip is written alike
    video = prepared.videos[0]
    assert adapter.video_replacement(video, "") in text
    pooled = adapter.__class__(
        model=adapter.model, processor=adapter.processor, model_type=FAMILY,
        reduction=TokenReduction(temporal=parse_temporal_pool("2")),
    )  # fmt: skip
    reduced = pooled.prepare(request)
    assert reduced.visual_tokens == 2 * 9 == int((reduced.input_ids == pooled.image_token_id).sum())
    reduced_text = pooled.processor.tokenizer.decode(reduced.input_ids)
    assert reduced_text.startswith("<|endoftext|>0.0 <frame_start>") and " 1.0 <frame_start>" in reduced_text
    pooled_engine = Engine.load(
        EngineConfig(
            model=str(tiny_checkpoint(FAMILY)), device="cpu", dtype="float32",
            reduction=TokenReduction(temporal=parse_temporal_pool("2")),
        )
    )  # fmt: skip
    (result,) = pooled_engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.visual_tokens == 18 and result.completion_tokens >= 1


def test_an_image_and_a_clip_share_a_prompt_and_two_clips_are_refused(engine):
    from vlmcli.errors import ConfigError

    request = Request(prompt="Is the cat in the video?", images=(ImageInput(CHELSEA),), videos=(clip(3),))
    prepared = engine.adapter.prepare(request)
    image_tokens = plan_molmo2(TINY, ResolutionPolicy(), width=451, height=300).visual_tokens
    in_prompt = int((prepared.input_ids == engine.adapter.image_token_id).sum())
    assert prepared.visual_tokens == image_tokens + 3 * 9 == in_prompt
    (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
    assert result.visual_tokens == prepared.visual_tokens and result.completion_tokens >= 1
    with pytest.raises(ConfigError, match="at most one video"):
        engine.adapter.prepare(Request(prompt="Compare.", videos=(clip(2), clip(3))))


def test_compress_is_refused_for_images(engine):
    from vlmcli.errors import ConfigError
    from vlmcli.reduction.compress import parse_compress
    from vlmcli.reduction.reducer import TokenReduction

    adapter = engine.adapter
    compressed = adapter.__class__(
        model=adapter.model, processor=adapter.processor, model_type=FAMILY,
        reduction=TokenReduction(compress=parse_compress("pool:2")),
    )  # fmt: skip
    with pytest.raises(ConfigError):
        compressed.prepare(Request(prompt="Describe.", images=(ImageInput(CHELSEA),)))


def test_vlm_ask_end_to_end_and_dry_run(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint(FAMILY))
    path = tmp_path / "photo.png"
    CHELSEA.save(path)
    runner = CliRunner()
    result = runner.invoke(app, ["ask", "--model", folder, str(path), "What is this?", "--max-tokens", "4"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()
    base = ["ask", "--model", folder, str(path), "q", "--dry-run", "--json"]
    plain = json.loads(runner.invoke(app, base).stdout)
    expected = plan_molmo2(TINY, ResolutionPolicy(), width=451, height=300)
    assert plain["images"][0]["visual_tokens"] == expected.visual_tokens
    assert plain["images"][0]["tiles"] == expected.tiles and plain["images"][0]["resized"] == list(expected.resized)
    capped = json.loads(runner.invoke(app, [*base, "--max-tiles", "1"]).stdout)
    assert capped["images"][0]["visual_tokens"] == 16 + 16 and capped["images"][0]["tiles"] == 2
    folder_adapter = load_planner(EngineConfig(model=folder, resolution=ResolutionPolicy(max_tiles=1))).adapter
    prepared = folder_adapter.prepare(Request(prompt="q", images=(ImageInput(CHELSEA),)))
    assert prepared.visual_tokens == int((prepared.input_ids == folder_adapter.image_token_id).sum()) == 32


def test_hf_greedy_reference_on_two_images(engine):
    """Two images of different crop counts in one prompt: per-image pooling indices are re-based by the model."""
    wide = ImageInput(Image.fromarray(np.asarray(CHELSEA.resize((600, 100)))), source="wide")
    request = Request(prompt="Compare them.", images=(ImageInput(CHELSEA, source="cat"), wide))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=8))
    assert [result.token_ids] == hf_greedy(engine, [request], new_tokens=8)
    assert [u.grid for u in result.images] == [p.grid for p in engine.adapter.plan_images([(451, 300), (600, 100)])]
