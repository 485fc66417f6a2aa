"""Pure pieces of the video engine path: temporal plans, token layouts and reduction counts,
prompt splicing, segment planning, VideoInput validation, frames-as-images conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vlmcli.engine.adapters.frames import videos_as_frames
from vlmcli.engine.adapters.prompt import resize_runs, splice
from vlmcli.engine.request import Request
from vlmcli.engine.video_input import VideoInput
from vlmcli.errors import ConfigError, ModelNotFoundError
from vlmcli.reduction.compress import parse_compress
from vlmcli.reduction.pooling import average_groups
from vlmcli.reduction.reducer import Reducer, TokenLayout, TokenReduction, read_resampler_config
from vlmcli.reduction.temporal import (
    TemporalMode,
    frame_signatures,
    parse_temporal_pool,
    plan_groups,
    unit_signatures,
)
from vlmcli.summaries.segments import plan_segments, segment_info, segment_scan
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.scan import Scan


def two_scene_frames(per_scene: int = 4) -> np.ndarray:
    frames = np.zeros((2 * per_scene, 24, 32, 3), np.uint8)
    frames[:per_scene, :, :, 0] = 220  # red scene
    frames[per_scene:, :, :, 2] = 220  # blue scene
    for i in range(2 * per_scene):
        frames[i, 4 + i : 8 + i, 4:10] = 255  # a small moving box
    return frames


def reducer(temporal: str = "none", compress: str = "none") -> Reducer:
    return Reducer(TokenReduction(temporal=parse_temporal_pool(temporal), compress=parse_compress(compress)))


# --- --temporal-pool ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,mode,k,threshold",
    [("none", TemporalMode.NONE, 1, 0.95), ("1", TemporalMode.NONE, 1, 0.95), ("4", TemporalMode.FIXED, 4, 0.95),
     ("sim", TemporalMode.SIMILAR, 1, 0.95), ("SIM:0.8", TemporalMode.SIMILAR, 1, 0.8)],
)
def test_parse_temporal_pool(text, mode, k, threshold):
    spec = parse_temporal_pool(text)
    assert (spec.mode, spec.k, spec.threshold) == (mode, k, threshold)


@pytest.mark.parametrize("text", ["0", "-2", "fast", "sim:x", "sim:1.5"])
def test_parse_temporal_pool_rejects(text):
    with pytest.raises(ConfigError):
        parse_temporal_pool(text)


def test_similarity_groups_follow_scenes_and_fixed_groups_count():
    frames = two_scene_frames()
    sig = frame_signatures(frames)  # (8, 768)
    assert plan_groups(parse_temporal_pool("sim:0.9"), units=8, signatures=sig) == ((0, 1, 2, 3), (4, 5, 6, 7))
    pairs = unit_signatures(sig, frames_per_unit=2)  # Qwen temporal patches
    assert plan_groups(parse_temporal_pool("sim:0.9"), units=4, signatures=pairs) == ((0, 1), (2, 3))
    assert plan_groups(parse_temporal_pool("3"), units=8) == ((0, 1, 2), (3, 4, 5), (6, 7))
    assert plan_groups(parse_temporal_pool("none"), units=8) is None
    assert plan_groups(parse_temporal_pool("sim:1.0"), units=8, signatures=sig) is None  # nothing identical


def test_average_groups_means_each_group():
    x = torch.arange(4, dtype=torch.float32).reshape(4, 1, 1).expand(4, 2, 3)
    assert average_groups(x, ((0, 1, 2), (3,)))[:, 0, 0].tolist() == [1.0, 3.0]


# --- token layouts and the reducer ------------------------------------------------------------


def test_reducer_counts_match_applied_shapes():
    layout = TokenLayout(units=4, per_unit=6 * 4, grid=(6, 4), tail=1, groups=((0, 1), (2, 3)))
    feats = {"embeds": torch.randn(layout.encoder_tokens, 8), "deepstack.0": torch.randn(layout.encoder_tokens, 8)}
    cases = [("none", 24, (6, 4)), ("pool:2", 6, (3, 2)), ("perceiver:6", 6, (3, 2)), ("perceiver:5", 5, (5, 1)),
             ("perceiver:7", 7, (1, 7)), ("perceiver:99", 24, (6, 4))]  # 7 has no pair in 6x4: a strip
    for compress, per_unit, grid in cases:
        r = reducer("2", compress)
        assert r.unit_tokens(layout) == per_unit and r.unit_grid(layout) == grid, compress
        out = r.apply(feats, layout)
        assert {k: v.shape for k, v in out.items()} == {k: (r.count(layout), 8) for k in feats}
        assert r.count(layout) == 2 * per_unit + 1
        assert torch.equal(out["embeds"][-1], feats["embeds"][-1])  # the tail is kept


def test_reducer_is_identity_when_off_and_pool_needs_a_grid():
    layout = TokenLayout(units=1, per_unit=10)
    feats = {"embeds": torch.randn(10, 4)}
    assert reducer().apply(feats, layout) is feats
    assert reducer(compress="perceiver:4").count(layout) == 4
    with pytest.raises(ConfigError, match="perceiver"):
        reducer(compress="pool:2").count(layout)


def test_layout_validation():
    with pytest.raises(ValueError):
        TokenLayout(units=2, per_unit=6, grid=(2, 2))
    with pytest.raises(ValueError):
        TokenLayout(units=3, per_unit=4, groups=((0, 1),))


def test_learned_resampler_config_from_weights(tmp_path):
    from safetensors.torch import save_file

    from vlmcli.reduction.resampler import PerceiverResampler, ResamplerConfig

    config = ResamplerConfig(dim=16, num_latents=4, depth=2, heads=4, ff_mult=2)
    path = tmp_path / "r.safetensors"
    save_file(PerceiverResampler(config).state_dict(), str(path), metadata={"heads": "4"})
    assert read_resampler_config(path, num_latents=4) == config
    with pytest.raises(ConfigError, match="perceiver:4"):
        read_resampler_config(path, num_latents=8)
    with pytest.raises(ModelNotFoundError):
        read_resampler_config(tmp_path / "missing.safetensors", num_latents=4)
    with pytest.raises(ConfigError, match="perceiver"):
        TokenReduction(resampler_weights=path)
    learned = Reducer(TokenReduction(compress=parse_compress("perceiver:4"), resampler_weights=path))
    layout = TokenLayout(units=3, per_unit=9, grid=(3, 3))
    assert learned.count(layout) == 12
    assert learned.apply({"embeds": torch.randn(27, 16)}, layout)["embeds"].shape == (12, 16)


# --- prompt splicing ---------------------------------------------------------------------------


def test_splice_and_resize_runs():
    text = "A<i>B<v>C"
    offsets = [{"span": (1, 4)}, {"span": (5, 8)}]
    assert splice(text, offsets, ["xx", "yyy"]) == "AxxByyyC"
    tiles = "<r1><im><im><im><im>\n<r2><im><im><im><im>"
    assert resize_runs(tiles, "<im>", per_unit=4, new_per_unit=1) == "<r1><im>\n<r2><im>"
    assert resize_runs("<im>" * 8, "<im>", per_unit=4, new_per_unit=2) == "<im>" * 4
    with pytest.raises(ValueError):
        resize_runs("<im>" * 5, "<im>", per_unit=4, new_per_unit=2)


# --- VideoInput ---------------------------------------------------------------------------------


def test_video_input_defaults_and_metadata():
    from PIL import Image

    frames = two_scene_frames(2)
    video = VideoInput(frames=[Image.fromarray(f) for f in frames], timestamps=[0, 0.5, 1.0, 1.5], fps=10.0)
    assert video.frames.shape == (4, 24, 32, 3) and video.indices == (0, 5, 10, 15)
    assert video.duration_s == pytest.approx(1.6)
    assert video.metadata()["frames_indices"] == [0, 5, 10, 15] and video.metadata()["total_num_frames"] == 16
    same = VideoInput(frames=frames, timestamps=[0, 0.5, 1.0, 1.5], fps=10.0)
    assert same.key == video.key
    assert VideoInput(frames=frames, timestamps=[0, 0.5, 1.0, 1.5], fps=10.0, indices=(0, 5, 10, 16)).key != video.key


@pytest.mark.parametrize(
    "kwargs",
    [{"timestamps": [0, 1]}, {"timestamps": [0, 2, 1, 3]}, {"fps": 0}, {"frames": np.zeros((4, 8, 8), np.uint8)},
     {"frames": np.zeros((4, 8, 8, 3), np.float32)}],
)
def test_video_input_rejects(kwargs):
    base = {"frames": np.zeros((4, 8, 8, 3), np.uint8), "timestamps": [0, 1, 2, 3], "fps": 1.0}
    with pytest.raises(ConfigError):
        VideoInput(**(base | kwargs))


# --- frames as images --------------------------------------------------------------------------


def test_videos_as_frames_markers_and_pooling():
    video = VideoInput(frames=two_scene_frames(), timestamps=[0.5 * i for i in range(8)], fps=2.0, source="v.mp4")
    request = Request(prompt="What happens?", videos=(video,))
    plain = videos_as_frames(request, temporal=parse_temporal_pool("none"), interleave=True)
    assert len(plain.request.images) == 8 and plain.owners == (0,) * 8 and not plain.request.videos
    assert [c["text"] for c in plain.content if c["type"] == "text"][:2] == ["Frame at t=0.0s:", "Frame at t=0.5s:"]
    pooled = videos_as_frames(request, temporal=parse_temporal_pool("sim:0.9"), interleave=False)
    assert len(pooled.request.images) == 2
    assert pooled.content[-2]["text"] == "The last 2 images are frames of a video at t=0.0-1.5s, t=2.0-3.5s."
    assert pooled.request.images[1].source == "v.mp4@2.00s"


# --- segments ------------------------------------------------------------------------------------


def info(frames: int, fps: float = 10.0) -> VideoInfo:
    return VideoInfo(path="v.mp4", fps=fps, frame_count=frames, duration_s=frames / fps, width=64, height=48)


def test_segments_follow_cuts_split_long_scenes_and_merge_short_ones():
    segs = plan_segments(info(1000), cuts=[100, 105, 400], segment_seconds=20.0)
    bounds = [(0, 105), (105, 252), (252, 400), (400, 600), (600, 800), (800, 1000)]  # [100, 105) joined
    assert [(s.start_frame, s.stop_frame) for s in segs] == bounds
    assert [s.reason for s in segs][:3] == ["scene 1", "scene 2 part 1/2", "scene 2 part 2/2"]
    assert [s.reason for s in segs][-1] == "scene 3 part 3/3"
    assert segs[1].start_s == 10.5 and segs[-1].end_s == 100.0
    windows = plan_segments(info(95), segment_seconds=3.0)
    assert [s.frame_count for s in windows] == [23, 24, 24, 24] and windows[0].reason == "window 1/4"


def test_segments_are_capped_for_long_videos():
    hour = info(36000)  # 1 h at 10 fps
    segs = plan_segments(hour, cuts=range(50, 36000, 50), segment_seconds=30.0, max_segments=40)
    assert len(segs) <= 40 and segs[0].start_frame == 0 and segs[-1].stop_frame == 36000
    assert all(a.stop_frame == b.start_frame for a, b in zip(segs, segs[1:]))


@pytest.mark.parametrize("frames", [12900, 12901, 451, 36007])
def test_the_segment_cap_is_a_cap(frames):
    """Before: a 21:30 clip cut into fixed windows gave 41 segments under --hierarchy flat's 40
    (windows were floored below duration / 40), and scenes split into parts could double it."""
    clip = info(frames)  # 10 fps
    assert 36 <= len(plan_segments(clip, segment_seconds=1.0, max_segments=40)) <= 40
    uneven = [frames // 3, frames // 3 + 7, frames - frames // 5]  # scenes whose parts round up
    segs = plan_segments(clip, cuts=uneven, segment_seconds=1.0, max_segments=40)
    assert 36 <= len(segs) <= 40 and segs[-1].stop_frame == frames


def test_segment_views_for_samplers():
    whole = info(100)
    (seg,) = [s for s in plan_segments(whole, cuts=[40], segment_seconds=100.0) if s.start_frame == 40]
    local = segment_info(whole, seg)
    assert local.frame_count == 60 and local.duration_s == 6.0
    scan = Scan(
        indices=np.arange(0, 100, 10), timestamps=np.arange(0, 10.0, 1.0),
        pixel_delta=np.full(10, 0.5), hist_delta=np.full(10, 0.5),
    )
    part = segment_scan(scan, seg)
    assert part.indices.tolist() == [0, 10, 20, 30, 40, 50] and part.pixel_delta[0] == 0.0
