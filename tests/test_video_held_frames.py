"""A frame held on screen for a long time in a variable-frame-rate video (a paused screen or
meeting recording: the recorder writes one frame, then nothing until the picture changes).

Before: every time centre inside the hold mapped to the held frame, and `spread_unique` pushed
the duplicates onto the frames right after it, so 5 of 8 `uniform` frames landed in 0.16 s
after the pause and the seconds of motion got one frame each side; `video-summarize` dropped
the windows the hold covered and numbered what was left "window 1/7", "window 7/7". Now the
held frame is taken once and the rest are spread by time over the frames that move, and the
windows left are numbered again (`spacing.time_centres`, `summaries.fine_clock`).
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.summaries.segments import plan_segments
from vlmcli.testing.fakes import isolate_env
from vlmcli.video.metadata import VideoInfo
from vlmcli.video.sampling import SamplingOptions
from vlmcli.video.sampling.spacing import spread_unique, time_centres
from vlmcli.video.sampling.uniform import UniformSampler

runner = CliRunner()
# the tester's pause.mp4: 125 frames at 25 fps (0-4.96 s), frame 124 held until 65 s, 125 more
PAUSE = np.array([i / 25 for i in range(125)] + [65.0 + i / 25 for i in range(125)])


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def pause_info(times: np.ndarray = PAUSE, duration: float = 70.0) -> VideoInfo:
    return VideoInfo(
        path="pause.mp4", fps=len(times) / duration, frame_count=len(times), duration_s=duration,
        width=160, height=90, frame_times=times,
    )


def plain_centres(times: np.ndarray, duration: float, n: int) -> list[int]:
    """The rule before: the frame on screen at each centre, collisions pushed to the next frames."""
    centres = (np.arange(n) + 0.5) * (duration / n)
    return spread_unique(np.searchsorted(times, centres, side="right") - 1, stop=len(times)).tolist()


# --- pure: time_centres -----------------------------------------------------------------------------


def test_a_held_frame_is_taken_once_and_the_rest_spread_over_the_motion():
    picked = time_centres(PAUSE, duration=70.0, n=8)
    assert picked.tolist() == [17, 53, 88, 124, 125, 161, 196, 232]
    times = PAUSE[picked]
    assert times.tolist() == pytest.approx([0.68, 2.12, 3.52, 4.96, 65.0, 66.44, 67.84, 69.28])
    assert (picked == 124).sum() == 1  # the held frame, at its real time (4.96 s), once


@pytest.mark.parametrize("n", [8, 16, 32, 100])
def test_picks_are_evenly_spread_on_both_sides_of_the_hold(n):
    picked = time_centres(PAUSE, duration=70.0, n=n)
    before, after = picked[picked < 124], picked[picked > 124]
    assert len(set(picked.tolist())) == n and 124 in picked
    assert abs(len(before) - len(after)) <= 1  # 4.96 s and 5 s of motion: an equal share each
    gaps = np.diff(PAUSE[before])  # evenly spaced, not bunched next to the hold
    assert gaps.max() - gaps.min() <= 0.0401
    assert PAUSE[before[0]] <= 4.96 / len(before)  # the start of the video is sampled


def test_time_centres_are_unchanged_where_no_frame_is_held_longer_than_a_stretch():
    rng = np.random.default_rng(3)
    for _ in range(50):
        gaps = rng.uniform(0.01, 0.2, size=200)
        times = np.concatenate([[0.0], np.cumsum(gaps)[:-1]])
        duration = float(times[-1] + gaps[-1])
        for n in (5, 17, 40):  # a stretch of >= 0.25 s is longer than any frame's 0.2 s
            assert time_centres(times, duration=duration, n=n).tolist() == plain_centres(times, duration, n)


@given(st.lists(st.sampled_from([0.0, 0.04, 0.04, 0.04, 1.0, 30.0]), min_size=2, max_size=60), st.data())
def test_held_frames_are_taken_at_most_once_and_never_crowd_the_motion(gaps, data):
    """Any mix of frames, slides and long holds: n distinct frames in order, and no frame is
    taken because a hold before it pushed a pick onto it (each pick is on screen at its own
    centre of the squeezed timeline, so picks after a hold are one stretch apart, not one frame)."""
    from vlmcli.video.sampling.spacing import capped_durations

    times = np.concatenate([[0.0], np.cumsum(gaps[:-1])])  # (F,)
    duration = float(times[-1] + max(gaps[-1], 0.04))
    shown = np.append(times[1:], duration) - times  # (F,)
    n = data.draw(st.integers(1, int((shown > 0).sum())))
    picked = time_centres(times, duration=duration, n=n)
    assert len(picked) == n and (np.diff(picked) > 0).all() and (shown[picked] > 0).all()
    capped, step = capped_durations(shown, n)
    starts = np.concatenate([[0.0], np.cumsum(capped)[:-1]])  # (F,) on the squeezed timeline
    centres = (np.arange(n) + 0.5) * step
    assert (starts[picked] <= centres + 1e-9).all() and (centres < starts[picked] + capped[picked] + 1e-9).all()


def test_every_frame_when_every_frame_is_asked_for():
    assert time_centres(PAUSE, duration=70.0, n=250).tolist() == list(range(250))
    frames_sharing_a_start = np.array([0.0, 0.0, 0.0, 1.0, 50.0, 51.0])
    assert time_centres(frames_sharing_a_start, duration=52.0, n=6).tolist() == list(range(6))


def test_capped_durations_water_fill():
    from vlmcli.video.sampling.spacing import capped_durations

    d, step = capped_durations(np.array([1.0, 1.0, 60.0, 1.0, 1.0]), 3)
    assert (d.tolist(), step) == ([1.0, 1.0, 2.0, 1.0, 1.0], 2.0)
    d, step = capped_durations(np.array([30.0, 1.0, 30.0, 1.0]), 3)  # two holds: each capped
    assert d.tolist() == [2.0, 1.0, 2.0, 1.0] and step == 2.0  # 3 steps of 2 over 6 capped seconds
    d, step = capped_durations(np.array([1.0, 2.0, 3.0]), 2)  # nothing above 3: unchanged
    assert d.tolist() == [1.0, 2.0, 3.0] and step == 3.0


def test_uniform_sampler_takes_the_held_frame_once():
    plan = UniformSampler().select(pause_info(), None, options=SamplingOptions(frames=8))
    assert [f.t for f in plan.frames].count(4.96) == 1
    assert sum(65.0 <= f.t < 65.2 for f in plan.frames) == 1  # was 4: 65.00, 65.04, 65.08, 65.12


def test_dynamic_floor_does_not_bunch_after_the_hold():
    from vlmcli.video.sampling.dynamic import DynamicSampler
    from vlmcli.video.scan import Scan

    pixel = np.full(250, 0.02)  # steady motion everywhere the frames are
    pixel[0] = 0.0
    scan = Scan(indices=np.arange(250), timestamps=PAUSE, pixel_delta=pixel, hist_delta=pixel.copy())
    plan = DynamicSampler().select(pause_info(), scan, options=SamplingOptions(frames=32))
    times = np.array([f.t for f in plan.frames])
    # the floor's quarter of the budget, spread by time, put 7 picks in the hold: 6 were
    # pushed onto 65.00-65.20 s; now the hold's floor is one pick's worth
    assert np.diff(times).min() > 0.2
    assert (times < 5).sum() == (times >= 65).sum() == 16


# --- pure: video-summarize's windows ----------------------------------------------------------------


def test_windows_a_hold_covers_are_merged_and_the_rest_renumbered():
    segments = plan_segments(pause_info(), segment_seconds=10.0)
    assert [(s.reason, s.start_s, s.end_s) for s in segments] == [
        ("window 1/2", 0.0, 65.0),  # 0-10 s, its held frame, and the windows the hold covers
        ("window 2/2", 65.0, 70.0),
    ]
    assert [s.index for s in segments] == [0, 1]


def test_scene_parts_are_renumbered_and_a_sliver_joins_its_scene():
    # cuts at 3.04 s and 65.48 s: scene 2 (3.04-65.48 s) is 7 windows of 8.9 s, of which the
    # hold leaves the first and 0.48 s of the last: that sliver joins the first
    segments = plan_segments(pause_info(), cuts=(76, 137), segment_seconds=10.0)
    assert [(s.reason, s.start_s, s.end_s) for s in segments] == [
        ("scene 1", 0.0, pytest.approx(3.04)),
        ("scene 2", pytest.approx(3.04), pytest.approx(65.48)),
        ("scene 3", pytest.approx(65.48), 70.0),
    ]
    # a longer tail is a part of its own, numbered after the part the hold kept
    longer = np.concatenate([PAUSE, 70.0 + np.arange(250) / 25])
    segments = plan_segments(pause_info(longer, 80.0), cuts=(76,), segment_seconds=10.0)
    assert [s.reason for s in segments] == ["scene 1", "scene 2 part 1/3", "scene 2 part 2/3", "scene 2 part 3/3"]
    assert all(a.stop_frame == b.start_frame and a.end_s == b.start_s for a, b in zip(segments, segments[1:]))


@pytest.mark.parametrize("seconds", [3.0, 7.0, 10.0, 25.0])
def test_window_numbers_never_skip(seconds):
    segments = plan_segments(pause_info(), segment_seconds=seconds)
    total = len(segments)
    assert total >= 2 and [s.reason for s in segments] == [f"window {j}/{total}" for j in range(1, total + 1)]
    assert segments[0].start_s == 0.0 and segments[-1].end_s == 70.0


# --- a real file ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paused(tmp_path_factory):
    """160x90, frame i shows i: 2 s at 25 fps, frame 49 held until 22 s, 4 s at 25 fps (26 s)."""
    from vlmcli.testing.media.video_clips import ffmpeg_exe, render_indexed

    path = tmp_path_factory.mktemp("held") / "paused.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", "160x90", "-r", "25", "-i", "-", "-vf", r"setpts='(N/25+if(gte(N\,50)\,20\,0))/TB'",
         "-fps_mode", "vfr", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", str(path)],
        input=render_indexed(150, width=160, height=90).tobytes(), check=True,
    )  # fmt: skip
    return path


def test_a_paused_recording_is_sampled_and_summarised_by_its_motion(paused, tiny_checkpoint):
    from vlmcli.testing.media.video_clips import read_index
    from vlmcli.video.sample import sample_video

    sampled = sample_video(paused, options=SamplingOptions(frames=8))
    assert sampled.info.variable_rate and sampled.info.frame_count == 150
    assert [read_index(f) for f in sampled.frames.pixels] == list(sampled.plan.indices)
    times = np.array(sampled.frames.timestamps)
    # 2 s of motion (the held frame at 1.96 s its last), 4 s of motion: 1 + 2 picks and 5
    assert (sampled.plan.indices.count(49), (times < 2).sum(), (times >= 22).sum()) == (1, 3, 5)
    assert np.diff(times).min() > 0.3  # was 5 frames in 22.00-22.16 s

    args = ["video-summarize", str(paused), "-m", str(tiny_checkpoint("qwen2_vl")), "--dry-run", "--json",
            "--no-scenes", "--segment-seconds", "10", "--frames", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    segments = json.loads(result.stdout)["segments"]
    assert [s["reason"] for s in segments] == ["window 1/2", "window 2/2"]  # was window 1/3, 3/3
    assert [t for s in segments for t in (s["start_s"], s["end_s"])] == pytest.approx([0, 22, 22, 26], abs=0.05)
    first = [f["time_s"] for f in segments[0]["frames"]]
    assert first[0] < 0.5 and first.count(1.96) == 1  # the motion, then the held frame once
