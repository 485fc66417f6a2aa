"""`vlm video-summarize` asks what the user asks and reports what happened.

- `--prompt` reaches every segment request (after the time range) and `--summary-prompt`
  every chapter and summary request; both are recorded in `--json`, and the dry run's
  prompt tokens grow with them.
- A real run's segments carry what the dry run shows (reason, frames [{index, time_s}],
  visual and prompt tokens), equal field by field.
- An empty generation is a `warning:` with its finish reason, never a blank success.
- Scene detection that fell short (scan degraded, scan failed, scenes merged for the
  segment cap) is one `warning:` line on stderr and `detection.degraded` in `--json`.

Every clip is generated here (tiny, a few seconds), the engine is the fake one or a tiny
random checkpoint.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import tempfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.video_clips import clip_set, render_scenes, write_video
from vlmcli.cli import app
from vlmcli.errors import VideoError
from vlmcli.summaries.scene_report import report_scenes
from vlmcli.summaries.segments import plan_segments, scene_counts
from vlmcli.video.metadata import VideoInfo

runner = CliRunner()
QUESTION = "What colour is the moving box? Answer {in one word}."
INSTRUCTION = "List every colour you were told about."


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@functools.cache
def three_scenes() -> Path:
    """3.0 s, 3.6 s and 2.4 s scenes at 25 fps (64x48): three scene segments."""
    frames, _ = render_scenes([75, 90, 60], width=64, height=48, seed=11)
    path = Path(tempfile.mkdtemp(prefix="vlmcli-prompts-")) / "three.mp4"
    return write_video(path, frames, fps=25.0, gop=25)


@functools.cache
def many_scenes() -> tuple[Path, tuple[int, ...]]:
    """45 scenes of 2.4 s at 5 fps (64x48, 108 s): more scenes than a flat summary keeps."""
    frames, cuts = render_scenes([12] * 45, width=64, height=48, seed=12, noise=2.0)
    path = Path(tempfile.mkdtemp(prefix="vlmcli-many-")) / "many.mp4"
    return write_video(path, frames, fps=5.0, gop=10), cuts


def invoke(*args: str):
    return runner.invoke(app, ["video-summarize", "-q", *map(str, args)])  # stderr: warnings only


# --- prompts ---------------------------------------------------------------------------------------


def test_prompts_reach_every_request_and_the_json(monkeypatch):
    fake = install_fake_engine(monkeypatch, answer=lambda r: "A red box." if r.videos else "Red, green, blue.")
    result = invoke(three_scenes(), "--frames", "2", "--json", "--prompt", QUESTION, "--summary-prompt", INSTRUCTION)
    assert result.exit_code == 0, result.output
    *segment_requests, final = fake.requests
    assert len(segment_requests) == 3 and all(len(r.videos) == 1 for r in segment_requests)
    assert segment_requests[0].prompt == f"These frames are from 0:00.0 to 0:03.0 of a video. {QUESTION}"
    assert all(r.prompt.endswith(QUESTION) for r in segment_requests)
    assert final.videos == () and final.prompt.endswith(INSTRUCTION)
    assert f'answers to "{QUESTION}" for consecutive parts' in final.prompt  # the lines answer the question
    assert "[0:00.0-0:03.0] A red box." in final.prompt
    record = json.loads(result.stdout)
    assert record["prompt"] == QUESTION and record["summary_prompt"] == INSTRUCTION
    assert record["chapter_prompt"] == INSTRUCTION and record["summary"] == "Red, green, blue."
    assert record["finish_reason"] == "stop" and record["warnings"] == [] and result.stderr == ""


def test_default_prompts_are_unchanged_and_recorded(monkeypatch):
    fake = install_fake_engine(monkeypatch)
    result = invoke(three_scenes(), "--frames", "2", "--json")
    assert result.exit_code == 0, result.output
    first, *_, final = fake.requests
    assert first.prompt == (
        "These frames are from 0:00.0 to 0:03.0 of a video. Describe what happens in this part in one or two sentences."
    )
    assert final.prompt.startswith("Here are descriptions of consecutive parts of a 0:09.0 video, in order:\n[0:00.0-")
    assert final.prompt.endswith("\n\nWrite a short summary of the whole video.")
    record = json.loads(result.stdout)
    assert record["prompt"].startswith("Describe what happens") and record["summary_prompt"].startswith("Write a short")
    assert record["chapter_prompt"].startswith("Summarise this stretch")


def test_summary_prompt_is_asked_of_every_chapter(monkeypatch):
    fake = install_fake_engine(monkeypatch)
    args = [clip_set().motion.path, "--frames", "1", "--no-scenes", "--segment-seconds", "1",
            "--hierarchy", "chapters", "--chapter-segments", "2", "--summary-prompt", INSTRUCTION]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    text_only = [r.prompt for r in fake.requests if not r.videos]
    assert len(text_only) == 3  # two chapters, then the summary over them
    assert all(p.endswith(INSTRUCTION) for p in text_only)
    assert "from 0:00.0 to 0:02.0" in text_only[0] and "descriptions of consecutive parts" in text_only[0]


@functools.cache
def one_scene() -> Path:
    """One 2.4 s scene at 25 fps: a single segment."""
    frames, _ = render_scenes([60], width=64, height=48, seed=13)
    path = Path(tempfile.mkdtemp(prefix="vlmcli-one-")) / "one.mp4"
    return write_video(path, frames, fps=25.0, gop=25)


def test_a_one_segment_video_makes_one_call_its_description_the_summary(monkeypatch, tiny_checkpoint):
    fake = install_fake_engine(monkeypatch, answer=lambda r: "A red box slides left." if r.videos else "restated")
    result = invoke(one_scene(), "--frames", "2", "--json")
    assert result.exit_code == 0, result.output
    (request,) = fake.requests  # no text-only call to restate one line
    assert len(request.videos) == 1
    record = json.loads(result.stdout)
    assert len(record["segments"]) == 1 and record["summary"] == "A red box slides left."
    assert record["finish_reason"] == "stop" and record["warnings"] == []
    text = invoke(one_scene(), "--frames", "2")
    assert text.stdout.splitlines() == ["[0:00.0-0:02.4] A red box slides left.", "", "Summary: A red box slides left."]
    dry = invoke(one_scene(), "-m", tiny_checkpoint("qwen2_vl"), "--frames", "2", "--dry-run")
    assert "text-only: none, the one segment's description is the summary" in dry.stdout


@pytest.mark.parametrize("flag", [["--summary-prompt", INSTRUCTION], ["--prompt", QUESTION]])
def test_a_one_segment_video_still_asks_a_summary_prompt_of_its_own(monkeypatch, flag):
    fake = install_fake_engine(monkeypatch, answer=lambda r: "A red box." if r.videos else "Red.")
    result = invoke(one_scene(), "--frames", "2", "--json", *flag)
    assert result.exit_code == 0, result.output
    assert [bool(r.videos) for r in fake.requests] == [True, False]
    assert json.loads(result.stdout)["summary"] == "Red."


@pytest.mark.parametrize("flag", ["--prompt", "--summary-prompt"])
def test_an_empty_prompt_is_refused_before_any_work(monkeypatch, flag):
    fake = install_fake_engine(monkeypatch)
    result = invoke(three_scenes(), flag, "  ")
    assert result.exit_code == 2 and f"{flag} is empty" in result.stderr
    assert fake.engines == []


# --- real run vs dry run, on a tiny model ----------------------------------------------------------


def test_real_segments_carry_what_the_dry_run_shows(tiny_checkpoint):
    base = [three_scenes(), "-m", tiny_checkpoint("qwen2_vl"), "--frames", "2", "--max-tokens", "2", "--json"]
    plan = json.loads(invoke(*base, "--dry-run").stdout)
    real_result = invoke(*base)
    assert real_result.exit_code == 0, real_result.output
    real = json.loads(real_result.stdout)
    assert [s["reason"] for s in plan["segments"]] == ["scene 1", "scene 2", "scene 3"]
    shared = ("index", "start_s", "end_s", "reason", "frames", "visual_tokens", "prompt_tokens")
    def picked(record):
        return [{k: s[k] for k in shared} for s in record["segments"]]

    assert picked(real) == picked(plan)
    frames = real["segments"][1]["frames"]
    assert len(frames) == 2 and set(frames[0]) == {"index", "time_s"}
    assert all(3.0 <= f["time_s"] < 6.6 and f["time_s"] == pytest.approx(f["index"] / 25.0, abs=1e-3) for f in frames)
    assert all(s["visual_tokens"] > 0 and s["finish_reason"] in ("stop", "length") for s in real["segments"])
    assert real["visual_tokens"] == plan["visual_tokens"] == sum(s["visual_tokens"] for s in plan["segments"])
    assert real["detection"] == plan["detection"]
    assert plan["detection"]["method"] == "scenes" and plan["detection"]["scenes"] == 3
    assert plan["detection"]["cuts"] == 2 and plan["detection"]["degraded"] is None
    asked = json.loads(invoke(*base, "--dry-run", "--prompt", QUESTION + " " + INSTRUCTION).stdout)
    assert asked["prompt"] == QUESTION + " " + INSTRUCTION
    for default, longer in zip(plan["segments"], asked["segments"]):  # the question is in the tokenised prompt
        assert longer["prompt_tokens"] > default["prompt_tokens"]
        assert longer["visual_tokens"] == default["visual_tokens"]


# --- empty generations -----------------------------------------------------------------------------


def test_an_empty_summary_is_a_warning_with_its_finish_reason(monkeypatch):
    install_fake_engine(monkeypatch, answer=lambda r: "A red box." if r.videos else " \n ")
    text = invoke(three_scenes(), "--frames", "2")
    assert text.exit_code == 0, text.output
    assert "Summary:" not in text.stdout and text.stdout.splitlines()[0].endswith("A red box.")
    (warning,) = text.stderr.splitlines()
    assert warning.startswith("warning: the summary is empty") and "finish reason: stop" in warning
    record = json.loads(invoke(three_scenes(), "--frames", "2", "--json").stdout)
    assert record["summary"] == "" and record["finish_reason"] == "stop"
    assert record["warnings"] == [warning.removeprefix("warning: ")]


def test_empty_descriptions_are_marked_not_blank(monkeypatch):
    fake = install_fake_engine(monkeypatch, answer=lambda r: "" if r.videos else "Three scenes.")
    result = invoke(three_scenes(), "--frames", "2", "--no-stream")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == ["[0:00.0-0:03.0] (no description)", "[0:03.0-0:06.6] (no description)",
                         "[0:06.6-0:09.0] (no description)"]
    assert lines[-1] == "Summary: Three scenes."
    warnings = result.stderr.splitlines()
    assert len(warnings) == 3 and all(w.startswith("warning: the description of segment ") for w in warnings)
    assert "segment 2 [0:03.0-0:06.6] is empty" in warnings[1] and "finish reason: stop" in warnings[1]
    assert "[0:03.0-0:06.6] (no description)" in fake.requests[-1].prompt


# --- scene detection that fell short ---------------------------------------------------------------


def degrade(monkeypatch, reason: str) -> None:
    from vlmcli.summaries import summarize

    real = summarize.scan_video
    monkeypatch.setattr(summarize, "scan_video", lambda *a, **k: dataclasses.replace(real(*a, **k), degraded=reason))


def test_a_degraded_scan_is_one_warning_and_in_the_json(monkeypatch, tiny_checkpoint):
    reason = "The scan stopped at 0:06.0: frames after it would not decode."
    degrade(monkeypatch, reason)
    fake = install_fake_engine(monkeypatch)
    result = invoke(three_scenes(), "--frames", "2", "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line == "warning: scene detection degraded: The scan stopped at 0:06.0: frames after it would not decode."
    detection = json.loads(result.stdout)["detection"]
    assert detection["degraded"] == reason and detection["method"] == "scenes"
    assert json.loads(result.stdout)["warnings"] == [line.removeprefix("warning: ")]
    dry = invoke(three_scenes(), "-m", tiny_checkpoint("smolvlm"), "--frames", "1", "--dry-run")
    assert dry.exit_code == 0 and dry.stderr.splitlines() == [line]
    assert "3 scene(s) from 2 cut(s) found (degraded)" in dry.stdout
    assert len(fake.engines) == 1  # the dry run loaded no engine


def test_a_failed_scan_falls_back_to_windows_and_says_so(monkeypatch):
    from vlmcli.summaries import summarize

    def broken(path, **kwargs):
        raise VideoError(f"Could not decode frames 0..99 of {path}: the file looks corrupt.")

    monkeypatch.setattr(summarize, "scan_video", broken)
    fake = install_fake_engine(monkeypatch)
    result = invoke(three_scenes(), "--frames", "2", "--segment-seconds", "5", "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: scene detection degraded: the scene scan failed (Could not decode frames 0..99")
    assert line.endswith("so segments are fixed windows.")
    record = json.loads(result.stdout)
    assert record["detection"]["method"] == "windows" and record["detection"]["scenes"] is None
    assert [s["reason"] for s in record["segments"]] == ["window 1/2", "window 2/2"]
    assert len(fake.requests) == 3


def test_no_scenes_is_not_a_degradation(monkeypatch):
    install_fake_engine(monkeypatch)
    result = invoke(three_scenes(), "--frames", "2", "--no-scenes", "--json")
    assert result.exit_code == 0 and result.stderr == ""
    detection = json.loads(result.stdout)["detection"]
    assert detection == {"requested": False, "method": "windows", "cuts": 0, "scenes": None, "cut_frames": [],
                         "degraded": None}


def test_scene_counts_say_what_the_cap_merged():
    info = VideoInfo(path="v.mp4", fps=10.0, frame_count=1530, duration_s=153.0, width=64, height=48)
    cuts = [30 * k for k in range(1, 51)] + [1515]  # 50 scenes of 3 s, then a 1.5 s one (< min_seconds)
    counts = scene_counts(info, cuts=cuts, max_segments=40)
    assert (counts.found, counts.natural, counts.kept, counts.capped) == (52, 51, 40, 11)
    assert len({s.start_frame for s in plan_segments(info, cuts=cuts, max_segments=40)} & set(cuts)) == 39
    report = report_scenes(info, requested=True, scan=None, scan_error=None, cuts=cuts, max_segments=40)
    assert report.method == "windows"  # no scan: nothing to follow
    assert scene_counts(info, cuts=cuts, max_segments=400).capped == 0


def test_a_flat_summary_that_merges_scenes_says_so(monkeypatch):
    from vlmcli.summaries.summarize import plan_summary

    path, cuts = many_scenes()
    flat = plan_summary(path, hierarchy="flat")
    assert len(flat.segments) == 40 and flat.chapters == ()
    assert flat.detection.scenes == 40 and flat.detection.cuts == len(flat.detection.cut_frames) >= 40
    assert "scenes were merged into their neighbours to keep at most 40 segments (--hierarchy flat" in (
        flat.detection.degraded
    )
    auto = plan_summary(path)  # the default keeps every scene, in chapters
    assert auto.detection.degraded is None and auto.detection.scenes == len(auto.segments) == auto.detection.cuts + 1
    assert all(min(abs(found - c) for c in cuts) <= 1 for found in auto.detection.cut_frames)  # the real cuts
    assert len(auto.chapters) == 5 and all(c.last - c.first + 1 == 9 for c in auto.chapters)
    install_fake_engine(monkeypatch)
    result = invoke(path, "--hierarchy", "flat", "--frames", "1", "--json")
    assert result.exit_code == 0, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("warning: scene detection degraded: ") and "keep at most 40 segments" in line
