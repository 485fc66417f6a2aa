"""--max-pixels / --max-tiles / --min-pixels apply to video frames too, and the count is exact.

Native video paths (Qwen2-VL, Qwen3-VL, SmolVLM2, LLaVA-OneVision) and frames-as-images
paths (LLaVA 1.5, LLaVA-NeXT, Idefics3) on tiny checkpoints: a lower per-frame budget
costs fewer tokens where the family allows it, and what the plan reports is what the
engine feeds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.cli import app
from vlmcli.engine import EngineConfig, ImageInput, Request
from vlmcli.engine.loader import load_planner
from vlmcli.engine.video_input import VideoInput
from vlmcli.testing import sample_photos
from vlmcli.tiling import QwenSpec, ResolutionPolicy, idefics3_video_edge, plan_qwen, qwen_video_size


def _clip(frames: int = 6, width: int = 320, height: int = 240) -> VideoInput:
    pixels = np.random.default_rng(0).integers(0, 255, (frames, height, width, 3), dtype=np.uint8)
    return VideoInput(frames=pixels, timestamps=tuple(i * 0.5 for i in range(frames)), fps=2.0, source="clip")


def _run(folder: str, policy: ResolutionPolicy, request: Request):
    adapter = load_planner(EngineConfig(model=folder, resolution=policy)).adapter
    prepared = adapter.prepare(request)
    fed = int(adapter.visual_mask(prepared.input_ids[None]).sum())  # placeholders in the prompt
    return adapter, prepared, fed


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl", "llava", "llava_next", "idefics3"])
def test_lower_max_pixels_costs_fewer_frame_tokens(family, tiny_checkpoint):
    folder = str(tiny_checkpoint(family))
    request = Request(prompt="What happens?", videos=(_clip(),))
    costs = []
    for max_pixels in (60_000, 20_000, 4_500):
        adapter, prepared, fed = _run(folder, ResolutionPolicy(max_pixels=max_pixels), request)
        (usage,) = prepared.usage
        assert usage.visual_tokens == prepared.visual_tokens == fed, (family, max_pixels)
        assert usage.frames == 6
        costs.append(usage.visual_tokens)
    assert costs == sorted(costs, reverse=True), (family, costs)
    if family == "llava":  # its default is one view per frame: a cap can only keep it
        assert costs[0] == costs[2], costs
    else:
        assert costs[0] > costs[2], (family, costs)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
@pytest.mark.parametrize("max_pixels", [3_000, 9_000, 30_000])
def test_qwen_frames_honour_the_per_frame_cap(family, max_pixels, tiny_checkpoint):
    request = Request(prompt="?", videos=(_clip(frames=4),))
    _, prepared, _ = _run(str(tiny_checkpoint(family)), ResolutionPolicy(max_pixels=max_pixels), request)
    width, height = prepared.usage[0].resized
    factor = 28 if family == "qwen2_vl" else 32
    assert width * height <= max_pixels or factor in (width, height)


@pytest.mark.parametrize("family", ["qwen2_vl", "qwen3_vl"])
def test_image_and_video_in_one_prompt_keep_their_own_bounds(family, tiny_checkpoint):
    """The image bounds go to the image processor only, the frame bounds to the video processor."""
    folder = str(tiny_checkpoint(family))
    policy = ResolutionPolicy(max_pixels=12_000)
    photo = ImageInput(sample_photos()[0])
    clip = _clip(frames=4)
    adapter, both, fed = _run(folder, policy, Request(prompt="?", images=(photo,), videos=(clip,)))
    _, alone, _ = _run(folder, policy, Request(prompt="?", videos=(clip,)))
    plan = adapter.plan_images([(photo.image.width, photo.image.height)])[0]
    assert both.images[0].visual_tokens == plan.visual_tokens
    assert both.videos[0].visual_tokens == alone.videos[0].visual_tokens
    assert fed == plan.visual_tokens + alone.videos[0].visual_tokens


def test_qwen_video_size_mapping():
    spec = QwenSpec(patch_size=14, merge_size=2, min_pixels=3136, max_pixels=12544)
    native = ResolutionPolicy()
    assert qwen_video_size(spec, native, frames=8, per_clip=False, capped=False) == (3136, 12544)
    low, high = qwen_video_size(spec, ResolutionPolicy(max_pixels=5000), frames=8, per_clip=False, capped=True)
    assert high == 5000 and int(low * 1.05) <= high  # transformers' 1.05 floor stays under the cap
    # Qwen3-VL bounds the clip: per-frame values times the frame count
    clip_spec = QwenSpec(patch_size=16, merge_size=2, min_pixels=8192, max_pixels=131072)
    low, high = qwen_video_size(clip_spec, ResolutionPolicy(max_pixels=5000), frames=6, per_clip=True, capped=False)
    assert high == 6 * 5000 and low <= high
    # --max-tiles 1 caps a frame at one nominal 512-px tile, so the native per-frame share stays
    one_tile = qwen_video_size(clip_spec, ResolutionPolicy(max_tiles=1), frames=2, per_clip=True, capped=True)
    assert one_tile[1] == 131072  # 2 frames x 65536, below 2 x 512^2
    small = qwen_video_size(clip_spec, ResolutionPolicy(max_tiles=1), frames=1, per_clip=True, capped=True)
    assert small[1] == 131072  # one frame's share is the clip's, 131072 px, below 512^2
    assert plan_qwen(spec, ResolutionPolicy(max_pixels=5000), width=320, height=240).visual_tokens > 0


def test_smolvlm2_frames_stay_one_tile_but_lose_detail(tiny_checkpoint):
    folder = str(tiny_checkpoint("smolvlm"))
    request = Request(prompt="?", videos=(_clip(frames=3),))
    _, native, fed_native = _run(folder, ResolutionPolicy(), request)
    _, low, fed_low = _run(folder, ResolutionPolicy(max_pixels=1_000), request)
    assert native.visual_tokens == low.visual_tokens == fed_native == fed_low  # a frame is always one tile
    before = native.videos[0].inputs["pixel_values"]
    after = low.videos[0].inputs["pixel_values"]
    assert before.shape == after.shape and not before.equal(after)  # resized down to 36 px, then back up
    assert idefics3_video_edge(128, ResolutionPolicy(max_pixels=1_000), width=320, height=240) == 36
    assert idefics3_video_edge(128, ResolutionPolicy(max_pixels=10**7), width=320, height=240) == 128
    assert idefics3_video_edge(128, ResolutionPolicy(max_tiles=3), width=320, height=240) == 128


def test_onevision_frames_have_a_fixed_cost(tiny_checkpoint):
    folder = str(tiny_checkpoint("llava_onevision"))
    request = Request(prompt="?", videos=(_clip(frames=3),))
    counts = {_run(folder, policy, request)[2] for policy in (ResolutionPolicy(), ResolutionPolicy(max_pixels=3000))}
    assert len(counts) == 1


# --- CLI: the dry-run plan of a video equals what a real run feeds --------------------------------


@pytest.fixture()
def isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.mark.parametrize(
    "family, flags, cheaper",
    [("qwen2_vl", ["--max-pixels", "2000"], True), ("llava", ["--min-pixels", str(2 * 56 * 56)], False)],
)
def test_dry_run_video_plan_equals_the_real_run(family, flags, cheaper, tiny_checkpoint, isolated):
    folder = str(tiny_checkpoint(family))
    clip = str(clip_set().motion.path)
    base = ["ask", clip, "What happens?", "-m", folder, "--json", "--frames", "4", "--max-tokens", "2"]
    runner = CliRunner()
    plans = []
    for extra in ([], flags):
        dry = runner.invoke(app, [*base, "--dry-run", *extra])
        assert dry.exit_code == 0, dry.output
        plans.append(json.loads(dry.stdout)["videos"][0])
    default, planned = plans
    assert (planned["visual_tokens"] < default["visual_tokens"]) == cheaper
    assert planned["visual_tokens"] != default["visual_tokens"]  # LLaVA 1.5 frames get tiles
    real = runner.invoke(app, [*base, *flags])
    assert real.exit_code == 0, real.output
    record = json.loads(real.stdout)
    assert record["videos"][0] == planned
    assert record["visual_tokens"] == planned["visual_tokens"]
