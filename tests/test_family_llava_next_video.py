"""LLaVA-NeXT-Video on its tiny checkpoint: native video parity with `model.generate`
(alone, with an image, batched), token accounting of clips, reductions on its frame grid,
the resolution caps on its anyres images, and `vlm ask` end to end (image and video).

Image parity and dry-run image counts are in the registry-parametrised tests
(tests/test_engine_parity.py, tests/test_engine_token_budget.py); the planner's agreement
with the real processor is in tests/test_tiling_agreement.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.cli import app
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.reduction.compress import parse_compress
from vlmcli.reduction.reducer import TokenReduction
from vlmcli.reduction.temporal import parse_temporal_pool
from vlmcli.testing import sample_photos
from vlmcli.testing.reference import new_tokens_until_eos
from vlmcli.tiling import ResolutionPolicy
from vlmcli.tiling.llava_next_video import (
    LlavaNextVideoSpec,
    llava_next_video_frame_tokens,
    plan_llava_next_video,
)

FAMILY = "llava_next_video"
NEW_TOKENS = 8
PER_FRAME = 4  # tiny checkpoint: 56-px frames, 4 x 4 patches pooled 2 x 2


def clip(frames: int, *, seed: int = 0) -> VideoInput:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (frames, 48, 64, 3), dtype=np.uint8)  # (T, H, W, C)
    return VideoInput(frames=pixels, timestamps=[0.5 * i for i in range(frames)], fps=2.0, source=f"clip{seed}")


def load(tiny_checkpoint, *, temporal: str = "none", compress: str = "none") -> Engine:
    reduction = TokenReduction(temporal=parse_temporal_pool(temporal), compress=parse_compress(compress))
    folder = str(tiny_checkpoint(FAMILY))
    return Engine.load(EngineConfig(model=folder, device="cpu", dtype="float32", reduction=reduction))


def reference(engine: Engine, requests: list[Request]) -> list[list[int]]:
    """transformers: processor on the chat template (left padding), then model.generate."""
    import torch
    from transformers.video_utils import VideoMetadata

    processor = engine.loaded.processor
    processor.tokenizer.padding_side = "left"
    images = [[im.image for im in r.images] for r in requests]
    videos = [v.frames for r in requests for v in r.videos]
    inputs = processor(
        text=[engine.adapter.prompt_text(r) for r in requests],
        images=images if any(images) else None,
        videos=videos or None,
        video_metadata=[VideoMetadata(**v.metadata()) for r in requests for v in r.videos] or None,
        do_sample_frames=False,
        padding=True,
        return_tensors="pt",
    )
    with torch.inference_mode():
        out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS)
    return new_tokens_until_eos(out, prompt_length=inputs["input_ids"].shape[1], eos=engine.token_ids.eos)


@pytest.fixture(scope="module")
def photo():
    return ImageInput(sample_photos()[0], source="photo")


def test_video_greedy_matches_generate(tiny_checkpoint, photo):
    engine = load(tiny_checkpoint)
    assert engine.adapter.native_video
    gen = GenerationConfig(max_tokens=NEW_TOKENS)
    video = Request(prompt="What happens in this video?", videos=(clip(6),))
    (result,) = engine.generate([video], gen)
    assert [result.token_ids] == reference(engine, [video])
    (usage,) = result.videos
    assert usage.frames == 6 and usage.visual_tokens == result.visual_tokens == 6 * PER_FRAME
    assert result.images == []
    both = Request(prompt="Is the photo in the video?", images=(photo,), videos=(clip(4, seed=1),))
    (mixed,) = engine.generate([both], gen)
    assert [mixed.token_ids] == reference(engine, [both])
    assert mixed.videos[0].visual_tokens == 4 * PER_FRAME and mixed.images[0].visual_tokens > 0


def test_batched_clips_of_different_lengths_match_generate(tiny_checkpoint):
    engine = load(tiny_checkpoint)
    gen = GenerationConfig(max_tokens=NEW_TOKENS)
    batch = [
        Request(prompt="What happens?", videos=(clip(3, seed=2),)),
        Request(prompt="Describe the colours of this short video, please.", videos=(clip(5, seed=3),)),
    ]
    results = engine.generate(batch, gen)
    assert [r.token_ids for r in results] == [reference(engine, [r])[0] for r in batch]


def test_clip_tokens_are_what_the_prompt_holds(tiny_checkpoint):
    folder = str(tiny_checkpoint(FAMILY))
    for policy in (ResolutionPolicy(), ResolutionPolicy(max_pixels=5000), ResolutionPolicy(min_pixels=20_000)):
        adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter  # no weights
        prepared = adapter.prepare(Request(prompt="?", videos=(clip(5),)))
        (video,) = prepared.videos
        assert video.visual_tokens == 5 * PER_FRAME == int((prepared.input_ids == adapter.video_token_id).sum())
        assert video.layout.grid == (2, 2) and video.resized == (56, 56)  # fixed size and cost
        assert int((prepared.input_ids == adapter.image_token_id).sum()) == 0


def test_temporal_pooling_and_compression_on_the_frame_grid(tiny_checkpoint):
    request = Request(prompt="What happens?", videos=(clip(8),))
    for temporal, compress, tokens in [("2", "none", 4 * PER_FRAME), ("none", "pool:2", 8), ("2", "perceiver:2", 8)]:
        engine = load(tiny_checkpoint, temporal=temporal, compress=compress)
        (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
        assert result.visual_tokens == result.videos[0].visual_tokens == tokens, (temporal, compress)
        prepared = engine.adapter.prepare(request)
        assert int((prepared.input_ids == engine.adapter.video_token_id).sum()) == tokens


def test_caps_never_cost_more_and_the_floor_raises():
    spec = LlavaNextVideoSpec()  # the 7B hub checkpoint: CLIP-336, five 2-3 tile canvases
    assert llava_next_video_frame_tokens(spec) == 144
    for width, height in [(640, 480), (1920, 1080), (300, 4000), (100, 100)]:
        native = plan_llava_next_video(spec, ResolutionPolicy(), width=width, height=height).visual_tokens
        for cap in ({"max_tiles": 1}, {"max_tiles": 2}, {"max_tiles": 9}, {"max_pixels": 300_000}, {"max_pixels": 10**8}):
            capped = plan_llava_next_video(spec, ResolutionPolicy(**cap), width=width, height=height)
            assert capped.visual_tokens <= native, (cap, width, height)
        floor = plan_llava_next_video(spec, ResolutionPolicy(min_pixels=6 * 336 * 336), width=width, height=height)
        assert floor.grid[0] * floor.grid[1] >= 6 and floor.visual_tokens >= native  # unpadding may drop the added crops


def test_unsupported_video_geometry_is_refused_clearly():
    with pytest.raises(ConfigError, match="2x2"):
        llava_next_video_frame_tokens(LlavaNextVideoSpec(image_size=42, patch_size=14, frame_size=(42, 42),
                                                         image_grid_pinpoints=((42, 84),)))
    with pytest.raises(ConfigError, match="square"):
        llava_next_video_frame_tokens(LlavaNextVideoSpec(frame_size=(224, 224)))


def test_vlm_ask_image_and_video_end_to_end(tiny_checkpoint, tmp_path, monkeypatch):
    isolate_env(monkeypatch, tmp_path)
    folder = str(tiny_checkpoint(FAMILY))
    photo_path = tmp_path / "photo.png"
    sample_photos()[1].save(photo_path)
    base = ["-m", folder, "--max-tokens", "4", "--dtype", "float32", "--json"]
    runner = CliRunner()
    result = runner.invoke(app, ["ask", str(photo_path), "What is in this picture?", *base])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["visual_tokens"] > 0 and payload["completion_tokens"] >= 1
    dry = runner.invoke(app, ["ask", str(photo_path), "What is in this picture?", *base, "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert json.dumps(payload["visual_tokens"]) in dry.stdout
    from vlmcli.testing.media.video_clips import clip_set

    video = str(clip_set().motion.path)
    result = runner.invoke(app, ["ask", video, "What happens?", *base, "--frames", "4"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["visual_tokens"] == 4 * PER_FRAME
