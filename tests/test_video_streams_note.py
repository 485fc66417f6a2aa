"""What video-summarize used to do silently is said (stderr `warning:` and --json `warnings`):

- a file with two video streams (an MKV with two angles) reads one: which, and how many;
- `--frames N` above what a segment (or the video) holds is cut back: by how much and why."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.video.stream_facts import inspect_video, streams_note
from vlmcli.video.sampling import SamplingOptions
from vlmcli.testing.media.video_clips import ffmpeg_exe

runner = CliRunner()


def _make(path, *inputs: str) -> None:
    args = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    for source in inputs:
        args += ["-f", "lavfi", "-i", source]
    for k in range(len(inputs)):
        args += ["-map", f"{k}:v"]
    args += ["-c:v", "mpeg4", "-threads", "1", str(path)]
    subprocess.run(args, check=True)


@pytest.fixture(scope="module")
def two_angles(tmp_path_factory):
    """2 s of 64x48 testsrc and 2 s of 32x24 smptebars at 10 fps, one MKV."""
    path = tmp_path_factory.mktemp("angles") / "angles.mkv"
    _make(path, "testsrc=size=64x48:rate=10:duration=2", "smptebars=size=32x24:rate=10:duration=2")
    return path


@pytest.fixture(scope="module")
def one_angle(tmp_path_factory):
    path = tmp_path_factory.mktemp("angle") / "one.mkv"
    _make(path, "testsrc=size=64x48:rate=10:duration=2")
    return path


def test_two_video_streams_named(two_angles, one_angle):
    facts = inspect_video(str(two_angles))
    assert (facts.video_streams, facts.video_position, facts.width) == (2, 0, 64)
    note = streams_note(str(two_angles))
    assert note is not None and "has 2 video streams" in note and "video stream 1 (stream #0, 64x48" in note
    assert streams_note(str(one_angle)) is None


def test_frames_cut_back_note():
    assert SamplingOptions(frames=8).reduced_note(8) is None
    assert SamplingOptions(max_frames=8).reduced_note(3) is None  # nothing asked for: nothing cut
    note = SamplingOptions(frames=5000, max_frames=5000).reduced_note(20, holds="a segment")
    assert note.startswith("5000 frames were asked for, but a segment holds fewer: 20 read")


def test_video_summarize_says_both(two_angles, tiny_checkpoint):
    args = ["video-summarize", str(two_angles), "-m", str(tiny_checkpoint("qwen2_vl")), "--dry-run", "--json",
            "--frames", "5000"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert any("has 2 video streams" in w for w in warnings), warnings
    assert any(w.startswith("5000 frames were asked for, but the video holds fewer: 20 read") for w in warnings), warnings
    assert any(line.startswith("warning: ") and "has 2 video streams" in line for line in result.stderr.splitlines())
