"""Videos through the real engine on tiny checkpoints: greedy parity with `model.generate` on
the same processor inputs, sparse decoding, temporal pooling with consistent MRoPE
positions, compression of images and frames, frames-as-images families, the feature cache."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from vlmcli.testing.media.video_clips import clip_set
from vlmcli.engine import Engine, EngineConfig, GenerationConfig, ImageInput, Request
from vlmcli.engine.batch import collate
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError
from vlmcli.reduction.compress import parse_compress
from vlmcli.reduction.reducer import TokenReduction
from vlmcli.reduction.temporal import parse_temporal_pool
from vlmcli.testing import sample_photos
from vlmcli.video.decode import DecordReader
from vlmcli.video.sample import sample_video

NEW_TOKENS = 8


def clip(frames: int = 8, *, scenes: int = 2) -> VideoInput:
    """Synthetic frames: `scenes` flat-colour scenes with a moving box, 0.5 s apart."""
    pixels = np.zeros((frames, 48, 64, 3), np.uint8)
    for i in range(frames):
        pixels[i, :, :, (i * scenes // frames) % 3] = 200
        pixels[i, 8 + 2 * i : 20 + 2 * i, 10:30] = 255
    return VideoInput(frames=pixels, timestamps=[0.5 * i for i in range(frames)], fps=10.0, source="clip")


def load(tiny_checkpoint, family: str, *, temporal: str = "none", compress: str = "none") -> Engine:
    reduction = TokenReduction(temporal=parse_temporal_pool(temporal), compress=parse_compress(compress))
    config = EngineConfig(model=str(tiny_checkpoint(family)), device="cpu", dtype="float32", reduction=reduction)
    return Engine.load(config)


def reference(engine: Engine, request: Request) -> list[int]:
    """transformers' own path on the same decoded frames: processor, then model.generate."""
    from transformers.video_utils import VideoMetadata

    (video,) = request.videos
    inputs = engine.loaded.processor(
        text=[engine.adapter.prompt_text(request)],
        videos=[video.frames],
        video_metadata=[VideoMetadata(**video.metadata())],
        do_sample_frames=False,
        return_tensors="pt",
    )
    out = engine.adapter.model.generate(**inputs, do_sample=False, max_new_tokens=NEW_TOKENS)
    kept = []
    for token in out[0, inputs["input_ids"].shape[1] :].tolist():
        kept.append(token)
        if token in engine.token_ids.eos:
            break
    return kept


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen2_5_vl", "qwen3_vl", "smolvlm", "llava_onevision"])
def test_video_greedy_matches_generate(family, tiny_checkpoint):
    engine = load(tiny_checkpoint, family)
    request = Request(prompt="What happens in this video?", videos=(clip(6),))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=NEW_TOKENS))
    assert result.token_ids == reference(engine, request)
    assert len(result.token_ids) > 1
    (usage,) = result.videos
    assert usage.frames == 6 and usage.visual_tokens == result.visual_tokens > 0
    assert result.images == []


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "qwen3_5", "glm4v"])
def test_a_one_frame_video_is_shown_as_that_frame_held(family, tiny_checkpoint):
    """A one-frame video (a still saved as .mp4, a clip cut to one frame) on the families whose
    processors stack frames in pairs: Qwen3-VL's and GLM-4V's refused it ("t:1 must be larger
    than temporal_factor:2"); the engine now holds the frame for one temporal patch, which is
    exactly what Qwen2-VL's own processor does with it."""
    engine = load(tiny_checkpoint, family)
    still = clip(1)
    request = Request(prompt="What is in this video?", videos=(still,))
    (result,) = engine.generate([request], GenerationConfig(max_tokens=NEW_TOKENS))
    held = Request(prompt=request.prompt, videos=(still.at_least(2),))
    assert result.token_ids == reference(engine, held)
    if family == "qwen2_vl":
        assert result.token_ids == reference(engine, request)  # its processor pads the same way
    (usage,) = result.videos
    assert usage.frames == 1 and usage.units == 1 and result.visual_tokens > 0


def test_at_least_repeats_the_last_frame():
    video = clip(3)
    assert video.at_least(2) is video
    held = video.at_least(5)
    assert len(held) == 5 and (held.frames[3] == video.frames[2]).all() and (held.frames[4] == video.frames[2]).all()
    assert held.timestamps[2:] == (1.0, 1.0, 1.0) and held.indices[2:] == (10, 10, 10)
    assert held.duration_s == video.duration_s and held.source == video.source and held.key != video.key


def test_engine_decodes_only_the_sampled_frames(tiny_checkpoint):
    readers: list[DecordReader] = []

    def opener(path, size):
        readers.append(DecordReader(path, size))
        return readers[-1]

    path = clip_set().cuts_a.path
    sampled = sample_video(path, options=dataclasses.replace(sampled_options(), frames=6), opener=opener, max_side=64)
    video = VideoInput.from_sampled(sampled)
    assert sum(r.frames_decoded for r in readers) == len(video) == 6  # the probe decodes nothing
    engine = load(tiny_checkpoint, "qwen2_vl")
    (result,) = engine.generate([Request(prompt="What happens?", videos=(video,))], GenerationConfig(max_tokens=2))
    assert result.videos[0].frames == 6 and result.videos[0].units == 3  # 2 frames per temporal patch


def sampled_options():
    from vlmcli.video.sampling import SamplingOptions

    return SamplingOptions(max_frames=8)


def test_qwen2_vl_temporal_pooling_keeps_mrope_positions_consistent(tiny_checkpoint):
    request = Request(prompt="What happens?", videos=(clip(16),))  # 8 temporal patches
    plain = load(tiny_checkpoint, "qwen2_vl")
    full = plain.adapter.prepare(request)
    for spec, units in [("2", 4), ("4", 2), ("sim:0.7", 2)]:
        engine = load(tiny_checkpoint, "qwen2_vl", temporal=spec)
        prepared = engine.adapter.prepare(request)
        (video,) = prepared.videos
        assert video.layout.out_units == units
        assert prepared.visual_tokens == full.visual_tokens * units // 8
        ids = prepared.input_ids
        video_token = engine.adapter.video_token_id
        assert int((ids == video_token).sum()) == prepared.visual_tokens  # placeholders == pooled features
        assert int(prepared.token_extras["mm_token_type_ids"].sum()) == 2 * prepared.visual_tokens  # video = 2
        batch = collate([prepared], pad_id=engine.token_ids.pad)
        positions = engine.adapter.prefill_positions(
            batch.input_ids, batch.attention_mask, extras=batch.token_extras, requests=[prepared]
        )
        assert positions.shape == (4, 1, ids.shape[0])
        at_video = positions[1, 0, ids == video_token]  # temporal MRoPE axis over the video tokens
        assert len(torch.unique(at_video)) == units
        assert positions[0, 0, -1] == ids.shape[0] - 1  # text positions count every token
        (result,) = engine.generate([request], GenerationConfig(max_tokens=4))
        assert result.visual_tokens == prepared.visual_tokens and result.videos[0].units == units
        assert result.prompt_tokens == full.input_ids.shape[0] - (full.visual_tokens - prepared.visual_tokens)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl", "smolvlm", "llava_onevision"])
def test_temporal_pooling_and_compression_run_on_native_video_families(family, tiny_checkpoint):
    request = Request(prompt="What happens?", videos=(clip(8),))
    base = load(tiny_checkpoint, family).adapter.prepare(request).visual_tokens
    engine = load(tiny_checkpoint, family, temporal="2", compress="perceiver:2")
    (result,) = engine.generate([request], GenerationConfig(max_tokens=3))
    (usage,) = result.videos
    expected = usage.units * 2 + (1 if family == "llava_onevision" else 0)  # OneVision keeps its newline
    assert result.visual_tokens == expected < base
    assert result.completion_tokens == 3


@pytest.mark.parametrize(
    "family,compress,tokens",
    [("qwen2_vl", "pool:2", 9), ("qwen2_vl", "perceiver:4", 4), ("smolvlm", "pool:2", 5 * 4),
     ("llava", "perceiver:3", 3), ("llava_next", "perceiver:8", 8)],
)
def test_image_compression_sets_the_placeholder_count(family, compress, tokens, tiny_checkpoint):
    photo = ImageInput(sample_photos()[0], source="photo")
    engine = load(tiny_checkpoint, family, compress=compress)
    (result,) = engine.generate([Request(prompt="What is it?", images=(photo,))], GenerationConfig(max_tokens=3))
    assert result.visual_tokens == result.images[0].visual_tokens == tokens
    prepared = engine.adapter.prepare(Request(prompt="What is it?", images=(photo,)))
    assert int(engine.adapter.visual_mask(prepared.input_ids[None]).sum()) == tokens


def test_pool_compression_is_refused_for_packed_tokens(tiny_checkpoint):
    engine = load(tiny_checkpoint, "llava_onevision", compress="pool:2")
    with pytest.raises(ConfigError, match="perceiver"):
        engine.adapter.prepare(Request(prompt="?", images=(ImageInput(sample_photos()[0]),)))


def test_frames_as_images_family_pools_frames(tiny_checkpoint):
    request = Request(prompt="What happens?", videos=(clip(8),))
    plain = load(tiny_checkpoint, "llava")
    (result,) = plain.generate([request], GenerationConfig(max_tokens=3))
    per_frame = result.visual_tokens // 8
    assert result.videos[0].units == 8 and result.images == []  # frames are reported with the video
    pooled = load(tiny_checkpoint, "llava", temporal="2")
    (half,) = pooled.generate([request], GenerationConfig(max_tokens=3))
    assert half.videos[0].units == 4 and half.visual_tokens == 4 * per_frame


def test_second_question_about_a_video_reuses_its_features(tiny_checkpoint):
    engine = load(tiny_checkpoint, "qwen2_vl", temporal="2")
    video = clip(8)
    first, = engine.generate([Request(prompt="What happens?", videos=(video,))], GenerationConfig(max_tokens=2))
    second, = engine.generate([Request(prompt="Which colours?", videos=(video,))], GenerationConfig(max_tokens=2))
    assert (first.vision_cache_hits, second.vision_cache_hits) == (0, 1)


def test_prompt_rewrite_without_changes_reproduces_the_processor(tiny_checkpoint):
    """The splice-and-retokenize path gives the processor's own ids when nothing is reduced."""
    for family in ("qwen3_vl", "smolvlm", "llava_onevision"):
        engine = load(tiny_checkpoint, family)
        request = Request(prompt="What happens?", videos=(clip(4),))
        prepared = engine.adapter.prepare(request)
        adapter = engine.adapter
        kwargs = adapter.video_kwargs(list(request.videos))
        text = adapter.prompt_text(request)
        out = adapter.processor(text=[text], videos=[request.videos[0].frames], return_tensors="pt",
                                return_text_replacement_offsets=True, **kwargs)
        ids, extras = adapter._rewrite_prompt(text, out, prepared.images, prepared.videos)
        assert torch.equal(ids, prepared.input_ids), family
        assert extras.keys() == prepared.token_extras.keys()


def test_summarize_decodes_each_segment_just_before_its_call():
    """Scan thumbnails + each segment's planned frames, decoded only when that segment is described."""
    from vlmcli.testing.fakes import FakeEngine
    from vlmcli.summaries.summarize import SegmentDone, SummaryDone, plan_summary, summarize
    from vlmcli.video.sampling import SamplingOptions

    readers: list[DecordReader] = []

    def opener(path, size):
        readers.append(DecordReader(path, size))
        return readers[-1]

    def decoded() -> int:
        return sum(r.frames_decoded for r in readers)

    path = clip_set().cuts_b.path  # 200 frames at 30 fps
    plan = plan_summary(path, options=SamplingOptions(frames=3), segment_seconds=2.0, opener=opener)
    scanned = decoded()
    assert 0 < scanned <= 200 and len(plan.segments) >= 3
    seen: dict[str, int] = {}  # segment clip (or the summary) -> frames decoded when the engine got it

    def answer(request: Request) -> str:
        seen.setdefault(request.videos[0].key if request.videos else "summary", decoded())
        return "a description" if request.videos else "the summary"

    events = list(summarize(FakeEngine(EngineConfig(model="fake"), answer=answer), plan, GenerationConfig(),
                            max_side=64, opener=opener))
    counts = list(seen.values())[:-1]  # the last request is the text-only summary
    assert counts == [scanned + 3 * (k + 1) for k in range(len(plan.segments))]  # one segment at a time
    assert [type(e) for e in events if not hasattr(e, "token_id")][-1] is SummaryDone
    assert sum(isinstance(e, SegmentDone) for e in events) == len(plan.segments)
