"""ask and describe say what video-summarize says of a video (stderr `warning:`, once per video):
which of several video streams is read, a first picture after the file's start, and a
`--frames N` cut back to the frames the video holds."""

from __future__ import annotations

import subprocess

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.engine.video_input import VideoInput
from vlmcli.video.sample import sample_video
from vlmcli.video.sampling import SamplingOptions

runner = CliRunner()


def _ffmpeg() -> str:
    imageio_ffmpeg = pytest.importorskip("imageio_ffmpeg")
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:
        pytest.skip("no ffmpeg binary")


@pytest.fixture(scope="module")
def two_angles(tmp_path_factory):
    """2 s of 64x48 testsrc and 2 s of 32x24 smptebars at 10 fps (20 frames), one MKV."""
    path = tmp_path_factory.mktemp("angles") / "angles.mkv"
    subprocess.run(
        [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2",
         "-f", "lavfi", "-i", "smptebars=size=32x24:rate=10:duration=2",
         "-map", "0:v", "-map", "1:v", "-c:v", "mpeg4", "-threads", "1", str(path)],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def late_video(tmp_path_factory):
    """4 s of sine from 0, 2 s of 64x48 testsrc from 1.0 s (10 fps)."""
    path = tmp_path_factory.mktemp("late") / "late.mp4"
    subprocess.run(
        [_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
         "-itsoffset", "1", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10:duration=2",
         "-map", "0:a", "-map", "1:v", "-c:v", "mpeg4", "-c:a", "aac", "-threads", "1", str(path)],
        check=True,
    )
    return path


def test_clip_carries_its_notes(two_angles, late_video):
    clip = VideoInput.from_sampled(sample_video(two_angles, options=SamplingOptions(frames=2)), source="a.mkv")
    assert len(clip.notes) == 1 and clip.notes[0].startswith("a.mkv has 2 video streams; only video stream 1")
    late = VideoInput.from_sampled(sample_video(late_video, options=SamplingOptions(frames=2)))
    assert any("1.0 s into the file" in n and n.startswith(str(late_video)) for n in late.notes), late.notes
    assert late.at_least(8).notes == late.notes


def _warnings(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: ") and needle in line]


def test_ask_says_streams_and_frames_cut_back(two_angles, tiny_checkpoint):
    model = str(tiny_checkpoint("qwen2_vl"))
    result = runner.invoke(app, ["ask", str(two_angles), "What happens?", "-m", model, "--dry-run", "--frames", "5000"])
    assert result.exit_code == 0, result.output
    assert len(_warnings(result.stderr, "has 2 video streams")) == 1, result.stderr
    cut = _warnings(result.stderr, "5000 frames were asked for, but the video holds fewer: 20 read")
    assert len(cut) == 1 and str(two_angles) in cut[0], result.stderr


def test_describe_says_each_video_once(two_angles, late_video, tiny_checkpoint):
    model = str(tiny_checkpoint("qwen2_vl"))
    args = ["describe", str(two_angles), str(late_video), "-m", model, "--dry-run", "--frames", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert len(_warnings(result.stderr, "has 2 video streams")) == 1, result.stderr
    assert len(_warnings(result.stderr, "s into the file")) == 1, result.stderr
    assert not _warnings(result.stderr, "frames were asked for"), result.stderr  # both hold 4 frames
