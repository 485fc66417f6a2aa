"""Variable-frame-rate video: phone footage, screen and meeting recordings, where frames come
fast while things move and slowly (one a second, or fewer) while nothing does.

Frame number / fps is then not the time: on the meeting recording below (3 s of motion at
25 fps, a slide held for 30 s at one frame a second, 3 s of motion) the average rate is 5 fps,
so before this was handled the slide was placed at 0:15-0:21, "uniform" frames crowded into
the moving seconds, and the model was told the wrong times. Everything here is in the frames'
own presentation times: detection (`VideoInfo.frame_times`), uniform sampling, the segments
of `video-summarize`, and the times the model is shown.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.video_input import VideoInput
from vlmcli.summaries.segments import FineClock, plan_segments, scene_counts, segment_info, shift_plan
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import render_scenes, write_vfr_video
from vlmcli.video.decode import probe
from vlmcli.video.metadata import VideoInfo, variable_rate_times
from vlmcli.video.sample import sample_video
from vlmcli.video.sampling import SamplingOptions
from vlmcli.video.sampling.base import SampledFrame, SamplePlan
from vlmcli.video.sampling.spacing import time_centres
from vlmcli.video.sampling.uniform import UniformSampler

runner = CliRunner()
SCENES = [75, 30, 75]  # frames: motion at 25 fps, a slide at 1 fps, motion at 25 fps
TIMES = [i / 25 for i in range(75)] + [3.0 + k for k in range(30)] + [33.0 + i / 25 for i in range(75)]
CUTS = (75, 105)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@functools.cache
def meeting() -> Path:
    """The meeting recording, written by PyAV with explicit millisecond timestamps."""
    frames, cuts = render_scenes(SCENES, width=64, height=48, seed=5)
    assert cuts == CUTS
    return write_vfr_video(Path(tempfile.mkdtemp(prefix="vlmcli-vfr-")) / "meeting.mp4", frames, times=TIMES)


def meeting_info(times: list[float] = TIMES, duration: float = 36.0) -> VideoInfo:
    return VideoInfo(
        path="meeting.mp4", fps=len(times) / duration, frame_count=len(times), duration_s=duration,
        width=64, height=48, frame_times=variable_rate_times(np.array(times), len(times) / duration),
    )


# --- pure: detection and the clock ----------------------------------------------------------------


def test_constant_rate_times_are_not_variable():
    assert variable_rate_times(np.arange(100) / 25, 25.0) is None
    jitter = np.arange(100) / 29.97 + np.tile([0.0, 0.0005], 50)  # a millisecond time base's rounding
    jitter[0] = 0.0
    assert variable_rate_times(jitter, 29.97) is None
    assert variable_rate_times(np.array([0.0, 0.04, 0.02]), 25.0) is None  # unusable: nominal clock
    assert variable_rate_times(np.array([0.0]), 25.0) is None


def test_a_recording_that_slows_down_is_variable():
    info = meeting_info()
    assert info.variable_rate and info.fps == 5.0
    assert info.time_of(104) == 32.0 and 104 / info.fps == 20.8  # the nominal clock is 11 s off
    assert [info.boundary_time(i) for i in (0, 75, 105, 180)] == [0.0, 3.0, 33.0, 36.0]
    assert [info.index_at(t) for t in (0.0, 2.99, 3.0, 17.5, 32.9, 33.0, 99.0)] == [0, 74, 75, 89, 104, 105, 179]
    assert info.nominal_index(104) == 160 and info.nominal_index(0) == 0  # 160 / 5 fps = 32 s
    assert info.frame_times.flags.writeable is False
    constant = VideoInfo(path="c.mp4", fps=25.0, frame_count=100, duration_s=4.0, width=8, height=8)
    assert (constant.time_of(50), constant.boundary_time(100), constant.index_at(1.99), constant.nominal_index(7)) == (
        2.0, 4.0, 49, 7,
    )


@pytest.mark.parametrize(
    "times", [[0.0, 1.0], [0.5, 1.0, 2.0], [0.0, 2.0, 1.0], [0.0, float("nan"), 2.0]],
)
def test_frame_times_are_validated(times):
    with pytest.raises(ValueError):
        VideoInfo(path="v", fps=1.0, frame_count=3, duration_s=3.0, width=8, height=8, frame_times=np.array(times))


def test_time_centres_spread_frames_by_time():
    times = np.array(TIMES)
    picked = time_centres(times, duration=36.0, n=6)  # centres at 3, 9, 15, 21, 27, 33 s
    assert picked.tolist() == [75, 81, 87, 93, 99, 105]
    assert time_centres(times, duration=36.0, n=180).tolist() == list(range(180))  # every frame, distinct
    with pytest.raises(ValueError):
        time_centres(times, duration=36.0, n=181)


def test_uniform_sampling_follows_the_clock():
    plan = UniformSampler().select(meeting_info(), None, options=SamplingOptions(fps=0.25))  # 9 frames
    assert [f.t for f in plan.frames] == [2.0, 6.0, 10.0, 14.0, 18.0, 22.0, 26.0, 30.0, 34.0]  # centres 2, 6, ... s
    by_index = UniformSampler().select(
        VideoInfo(path="c", fps=5.0, frame_count=180, duration_s=36.0, width=8, height=8), None,
        options=SamplingOptions(fps=0.25),
    )
    assert by_index.indices == (10, 30, 50, 70, 90, 110, 130, 150, 170)  # constant rate: unchanged


def test_dynamic_sampling_gives_the_held_slide_its_floor_by_time():
    """All the change is in the 6 moving seconds; the floor (a quarter of the budget) is spread
    by time on screen, so the 30 s slide gets about 0.25 * 30/36 * 16 = 3.3 frames (by frame
    count, 0.25 * 30/180 * 16 = 0.7)."""
    from vlmcli.video.sampling.dynamic import DynamicSampler
    from vlmcli.video.scan import Scan

    index = np.arange(180)
    pixel = np.where((index < 75) | (index >= 105), 1.0, 0.0)  # (F,) change only while things move
    pixel[0] = 0.0
    scan = Scan(indices=index, timestamps=np.array(TIMES), pixel_delta=pixel, hist_delta=pixel.copy())
    info = meeting_info()
    assert info.screen_shares()[80] == pytest.approx(1 / 36) and info.screen_shares().sum() == pytest.approx(1.0)
    plan = DynamicSampler().select(info, scan, options=SamplingOptions(frames=16))
    slide = [f for f in plan.frames if 75 <= f.index < 105]
    assert [f.t for f in slide] == [4.0, 13.0, 22.0, 31.0] and {f.reason for f in slide} == {"floor"}
    assert len(plan.frames) == 16


# --- pure: video-summarize's segments --------------------------------------------------------------


def test_segments_are_planned_in_seconds():
    info = meeting_info()
    segments = plan_segments(info, cuts=CUTS, segment_seconds=10.0)
    assert [(s.start_s, s.end_s, s.reason) for s in segments] == [
        (0.0, 3.0, "scene 1"),
        (3.0, 13.0, "scene 2 part 1/3"),
        (13.0, 23.0, "scene 2 part 2/3"),
        (23.0, 33.0, "scene 2 part 3/3"),
        (33.0, 36.0, "scene 3"),
    ]
    assert [(s.start_frame, s.stop_frame) for s in segments] == [(0, 75), (75, 85), (85, 95), (95, 105), (105, 180)]
    assert [s.index for s in segments] == list(range(5))
    assert scene_counts(info, cuts=CUTS).kept == 3
    local = segment_info(info, segments[1])
    assert (local.frame_count, local.duration_s, local.frame_times.tolist()) == (10, 10.0, [float(k) for k in range(10)])
    plan = shift_plan(SamplePlan(frames=(SampledFrame(index=2, t=2.0, reason="r"),)), segments[1], info)
    assert (plan.frames[0].index, plan.frames[0].t) == (77, 5.0)


def test_a_frame_held_across_windows_stays_in_one_segment():
    """A slide shown for 40 s as a single frame: no window is empty, the segments still tile."""
    times = [i / 25 for i in range(50)] + [2.0] + [42.0 + i / 25 for i in range(50)]
    info = meeting_info(times, duration=44.0)
    segments = plan_segments(info, segment_seconds=10.0)
    assert segments[0].start_s == 0.0 and segments[-1].end_s == 44.0
    assert all(a.stop_frame == b.start_frame and a.end_s == b.start_s for a, b in zip(segments, segments[1:]))
    assert all(s.frame_count >= 1 for s in segments)
    held = next(s for s in segments if s.start_frame <= 50 < s.stop_frame)
    assert held.end_s - held.start_s >= 40.0


def test_fine_clock_gives_every_frame_its_own_tick():
    info = meeting_info()
    clock = FineClock.of(info)
    assert clock.rate == pytest.approx(25.0) and (np.diff(clock.ticks) > 0).all()
    assert clock.ticks_of([75, 105, 999]) == [75, 825]


# --- real files -------------------------------------------------------------------------------------


def test_a_written_meeting_recording_is_read_on_its_clock():
    info = probe(meeting())
    assert info.variable_rate and info.frame_count == 180
    np.testing.assert_allclose(info.frame_times, TIMES, atol=1e-3)
    sampled = sample_video(meeting(), options=SamplingOptions(frames=6))
    # centres at 3.0, 9.0, ... 33.0 s less a little (the file ends at 35.961 s): the frames on screen then
    assert list(sampled.frames.timestamps) == pytest.approx([2.96, 8.0, 14.0, 20.0, 26.0, 32.0], abs=1e-3)
    video = VideoInput.from_sampled(sampled)
    shown = [i / video.fps for i in video.indices]  # what processors and adapters tell the model
    assert shown == pytest.approx(video.timestamps, abs=0.5 / info.fps)


def test_video_summarize_dry_run_on_a_meeting_recording(tiny_checkpoint):
    args = ["video-summarize", str(meeting()), "-m", str(tiny_checkpoint("qwen2_vl")), "--dry-run", "--json",
            "--segment-seconds", "10", "--frames", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["variable_frame_rate"] is True and plan["detection"]["cut_frames"] == list(CUTS)
    spans = [t for s in plan["segments"] for t in (s["start_s"], s["end_s"])]
    assert spans == pytest.approx([0, 3, 3, 13, 13, 23, 23, 33, 33, 36], abs=0.05)
    for segment in plan["segments"]:
        assert all(segment["start_s"] <= f["time_s"] < segment["end_s"] for f in segment["frames"])
    text = runner.invoke(app, args[:-5] + ["--dry-run"])
    assert "fps (variable rate)" in text.stdout


def test_qwen3_vl_is_told_the_real_times(tiny_checkpoint):
    """Qwen3-VL's prompt carries one "<t seconds>" per temporal patch: the frames' real times."""
    from vlmcli.engine import Engine, EngineConfig, Request

    engine = Engine.load(EngineConfig(model=str(tiny_checkpoint("qwen3_vl")), device="cpu", dtype="float32"))
    video = VideoInput.from_sampled(sample_video(meeting(), options=SamplingOptions(frames=6)))
    prepared = engine.adapter.prepare(Request(prompt="When does the slide change?", videos=(video,)))
    text = engine.loaded.processor.tokenizer.decode(prepared.input_ids)
    told = [float(t) for t in re.findall(r"<([\d.]+) seconds>", text)]
    pairs = np.array(video.timestamps).reshape(3, 2).mean(axis=1)  # 2 frames per temporal patch
    assert told == pytest.approx(pairs.tolist(), abs=0.11)  # printed to 0.1 s


def test_an_avi_that_dropped_frames_is_read_whole_at_its_real_times(tmp_path):
    """A capture that dropped frames: AVI stores each as an empty chunk, which the demuxer
    skips, so the header counts more frames than the file shows. That was "truncated" (an
    iscc-samples demo.avi: 1443 listed, 1441 shown; ffmpeg plays it whole), and every later
    frame was placed one slot early per dropped frame."""
    import subprocess

    from vlmcli.testing.media.video_clips import ffmpeg_exe, read_index, render_indexed
    from vlmcli.video.decode import read_frames

    path = tmp_path / "capture.avi"
    frames = render_indexed(50)  # frame i shows i; frames 20.. are two slots late (2 dropped)
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", "64x48", "-r", "25", "-i", "-", "-vf", r"setpts='(N+if(gte(N\,20)\,2\,0))/(25*TB)'",
         "-fps_mode", "passthrough", "-c:v", "mpeg4", "-q:v", "2", str(path)],
        input=frames.tobytes(), check=True,
    )  # fmt: skip
    info = probe(path)
    assert info.frame_count == 50 and info.duration_s == pytest.approx(52 / 25)
    assert info.time_of(19) == pytest.approx(19 / 25) and info.time_of(20) == pytest.approx(22 / 25)
    read = read_frames(path, [0, 19, 20, 49], max_side=64)
    assert [read_index(f) for f in read.pixels] == [0, 19, 20, 49]
    assert list(read.timestamps) == pytest.approx([0, 19 / 25, 22 / 25, 51 / 25])


def test_ask_json_says_the_clip_is_variable_rate():
    """README: `--json` says "variable_frame_rate": true; before, only video-summarize's did."""
    reference = Path(__file__).resolve().parents[1] / "models" / "reference"
    args = ["ask", "-m", str(reference), str(meeting()), "What happens?", "--json", "--frames", "4", "--max-tokens", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    (video,) = json.loads(result.stdout)["videos"]
    assert video["variable_frame_rate"] is True
