"""Times are on the file's timeline, as a player and subtitles show them: a video stream that
starts 2 s after the file (audio first, `-itsoffset 2`) has its frames and segments reported
from 2 s, with a note saying why; a file whose picture starts at 0 is unchanged."""

from __future__ import annotations

import subprocess

import pytest

from vlmcli.summaries.summarize import plan_summary
from vlmcli.video.decode import probe
from vlmcli.video.sample import sample_video
from vlmcli.video.sampling import SamplingOptions
from vlmcli.video.sampling_report import SamplingReport
from vlmcli.testing.media.video_clips import ffmpeg_exe


@pytest.fixture(scope="module")
def late_video(tmp_path_factory):
    """6 s of sine from 0, 4 s of testsrc from 2.0 s (10 fps, 64x48)."""
    path = tmp_path_factory.mktemp("late") / "late.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=6",
         "-itsoffset", "2", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=4",
         "-map", "0:a", "-map", "1:v", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-threads", "1",
         str(path)],
        check=True,
    )
    return path


def test_probe_says_where_the_picture_starts(late_video):
    info = probe(late_video)
    assert info.start_s == pytest.approx(2.0, abs=0.05)
    assert info.duration_s == pytest.approx(4.0, abs=0.15)
    assert "2.0 s into the file" in info.start_note()


def test_summary_segments_and_frames_are_on_the_file_timeline(late_video):
    plan = plan_summary(late_video, options=SamplingOptions(frames=2), segment_seconds=30)
    (item,) = plan.segments
    assert item.segment.start_s == pytest.approx(2.0, abs=0.05)
    assert item.segment.end_s == pytest.approx(6.0, abs=0.15)
    assert all(2.0 <= f.t <= 6.0 for f in item.frames.frames)
    assert [f.index for f in item.frames.frames] == [10, 30]  # frame numbers are unchanged


def test_ask_json_frame_times_are_on_the_file_timeline(late_video):
    sampled = sample_video(late_video, options=SamplingOptions(frames=2))
    report = SamplingReport.from_sampled(sampled).to_dict()
    assert report["video_start_s"] == pytest.approx(2.0, abs=0.05)
    assert [f["time_s"] for f in report["frames"]] == pytest.approx([3.0, 5.0], abs=0.06)


def test_a_video_starting_with_the_file_is_unchanged(tmp_path):
    path = tmp_path / "plain.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
         "testsrc=size=64x48:rate=10:duration=3", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-threads", "1", str(path)],
        check=True,
    )
    info = probe(path)
    assert info.start_s == 0.0 and info.start_note() is None
    plan = plan_summary(path, options=SamplingOptions(frames=2), segment_seconds=30)
    assert plan.segments[0].segment.start_s == 0.0
