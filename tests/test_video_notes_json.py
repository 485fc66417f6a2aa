"""`ask --json` and `describe --json` carry the notes they say on stderr about a video read
otherwise than a user may expect (which of several video streams is read, a first picture
after the file's start, `--frames N` cut back to the frames the video holds): `warnings` in
each video's `sampling`, as `video-summarize --json` lists its own. The notes are made where
the frames are sampled (`SamplingReport.notes`); stderr still says each once per video.
Real videos written by ffmpeg, a real tiny Qwen2-VL engine."""

from __future__ import annotations

import json
import subprocess

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.media.names import display_name
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.video_clips import ffmpeg_exe
from vlmcli.video.sample import sample_video
from vlmcli.video.sampling import SamplingOptions
from vlmcli.video.sampling_report import SamplingReport

runner = CliRunner()
STREAMS = "has 2 video streams; only video stream 1"
LATE = "the video's first picture is 1.0 s into the file"
CUT = "30 frames were asked for, but the video holds fewer: 20 read"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _ffmpeg(*args: str) -> None:
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """(two streams, late start, plain): 64x48 testsrc at 10 fps, 20 frames (plain: 40)."""
    folder = tmp_path_factory.mktemp("notes")
    angles, late, plain = folder / "angles.mkv", folder / "late.mp4", folder / "plain.mp4"
    src = "testsrc=size=64x48:rate=10:duration=2"
    _ffmpeg("-f", "lavfi", "-i", src, "-f", "lavfi", "-i", "smptebars=size=32x24:rate=10:duration=2",
            "-map", "0:v", "-map", "1:v", "-c:v", "mpeg4", "-threads", "1", str(angles))
    _ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=4", "-itsoffset", "1", "-f", "lavfi", "-i", src,
            "-map", "0:a", "-map", "1:v", "-c:v", "mpeg4", "-c:a", "aac", "-threads", "1", str(late))
    _ffmpeg("-f", "lavfi", "-i", src.replace("duration=2", "duration=4"), "-c:v", "mpeg4", "-threads", "1", str(plain))
    return angles, late, plain


@pytest.fixture(scope="module")
def model(tiny_checkpoint) -> str:
    return str(tiny_checkpoint("qwen2_vl"))


def _warning_lines(stderr: str) -> list[str]:
    return [line.removeprefix("warning: ") for line in stderr.splitlines() if line.startswith("warning: ")]


def _run_json(args: list[str]) -> tuple[list[dict], list[str]]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], _warning_lines(result.stderr)


def test_sampling_report_makes_the_notes(videos):
    angles, late, plain = videos
    report = SamplingReport.from_sampled(
        sample_video(angles, options=SamplingOptions(frames=30, max_frames=30)), source="cam/a.mkv"
    )
    assert len(report.notes) == 2, report.notes
    assert report.notes[0].startswith(f"cam/a.mkv {STREAMS}")
    assert report.notes[1].startswith(f"cam/a.mkv: {CUT}")
    assert report.to_dict()["warnings"] == list(report.notes)
    late_report = SamplingReport.from_sampled(sample_video(late, options=SamplingOptions(frames=4)))
    assert len(late_report.notes) == 1 and late_report.notes[0].startswith(f"{display_name(str(late))}: {LATE}")
    quiet = SamplingReport.from_sampled(sample_video(plain, options=SamplingOptions(frames=4)))
    assert quiet.notes == () and quiet.to_dict()["warnings"] == []


def test_ask_json_carries_the_notes_per_video(videos, model):
    angles, late, plain = videos
    args = ["ask", str(angles), str(late), str(plain), "What happens?", "-m", model,
            "--max-tokens", "2", "--json", "--frames", "30"]
    (record,), said = _run_json(args)
    by_path = {v["path"]: v["sampling"]["warnings"] for v in record["videos"]}
    a, b = display_name(str(angles)), display_name(str(late))
    streams, cut = by_path[str(angles)]
    assert streams.startswith(f"{a} {STREAMS}") and cut.startswith(f"{a}: {CUT}")
    start, cut = by_path[str(late)]
    assert start.startswith(f"{b}: {LATE}") and cut.startswith(f"{b}: {CUT}")
    assert by_path[str(plain)] == []
    # stderr: the same sentences, each once, one `warning:` line apiece
    noted = [w for ws in by_path.values() for w in ws]
    assert sorted(line for line in said if line in noted) == sorted(noted)
    assert not [line for line in said if line not in noted and (a in line or b in line)], said


def test_describe_json_carries_the_notes_per_video(videos, model):
    angles, late, plain = videos
    args = ["describe", str(angles), str(late), str(plain), str(angles), "-m", model,
            "--max-tokens", "2", "--json", "--frames", "4"]
    records, said = _run_json(args)
    assert [r["inputs"] for r in records] == [[str(angles)], [str(late)], [str(plain)], [str(angles)]]
    warnings = [r["videos"][0]["sampling"]["warnings"] for r in records]
    assert len(warnings[0]) == 1 and warnings[0][0].startswith(f"{display_name(str(angles))} {STREAMS}")
    assert len(warnings[1]) == 1 and warnings[1][0].startswith(f"{display_name(str(late))}: {LATE}")
    assert warnings[2] == [] and warnings[3] == warnings[0]  # a video named twice: its notes both times
    assert [line for line in said if STREAMS in line] == warnings[0]  # ... said once on stderr
    assert [line for line in said if LATE in line] == warnings[1]
    assert not [line for line in said if "frames were asked for" in line]  # all hold 4 frames


def test_video_summarize_says_the_same_notes_once(videos, model):
    """video-summarize lists in --json `warnings` what ask lists per video, each once (stderr too)."""
    angles, late, _ = videos
    for video, kinds in ((angles, (STREAMS, CUT)), (late, (LATE, CUT))):
        (summary,), summarize_said = _run_json(
            ["video-summarize", str(video), "-m", model, "--dry-run", "--json", "--frames", "30", "--no-scenes"]
        )
        (record,), _ = _run_json(
            ["ask", str(video), "What happens?", "-m", model, "--max-tokens", "2", "--json", "--frames", "30"]
        )
        asked = record["videos"][0]["sampling"]["warnings"]
        name = display_name(str(video))
        for kind in kinds:
            listed = [w for w in summary["warnings"] if kind in w]
            assert len(listed) == 1 and [w for w in summarize_said if kind in w] == listed, (summary, summarize_said)
            (ask_note,) = [w for w in asked if kind in w]
            assert ask_note in (listed[0], f"{name}: {listed[0]}")


def test_a_shard_items_notes_name_the_item(videos, model, tmp_path):
    """A clip read from its dataset shard (`<shard>::<key>`) is named as the user named it in
    the notes of ask --json and video-summarize (it was read from a temporary copy)."""
    from vlmcli.testing.media.datasets import write_video_webdataset

    angles, _, _ = videos
    address = f"{write_video_webdataset(tmp_path / 'v2d', [('mkv', angles.read_bytes())])}::000000000"
    (record,), said = _run_json(["ask", address, "What happens?", "-m", model, "--max-tokens", "2", "--json"])
    (streams,) = record["videos"][0]["sampling"]["warnings"]
    assert streams.startswith(f"{display_name(address)} {STREAMS}") and said == [streams]
    (summary,), said = _run_json(["video-summarize", address, "-m", model, "--dry-run", "--json", "--no-scenes"])
    (streams,) = [w for w in summary["warnings"] if STREAMS in w]
    assert streams.startswith(f"{display_name(address)} {STREAMS}") and said == summary["warnings"]
