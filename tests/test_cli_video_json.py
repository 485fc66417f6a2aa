"""Which frames the model saw: `ask --json` / `describe --json` list per video the sampler,
the decoder and every frame (index, time, reason), so uniform, keyframe and dynamic
sampling can be told apart; a degraded cut scan is reported and warned once; a `--compress`
that changes nothing says so once on stderr. Real tiny Qwen2-VL engine, generated clips."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import isolate_env, save_photo
from vlmcli.testing.media.video_clips import clip_set
from vlmcli.cli import app

runner = CliRunner()
METHODS = ("uniform", "keyframe", "dynamic")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def model(tiny_checkpoint) -> str:
    return str(tiny_checkpoint("qwen2_vl"))


def run_json(args: list[str]) -> tuple[list[dict], str]:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()], result.stderr


def ask_video(model: str, method: str, *extra: str) -> dict:
    clip = clip_set().cuts_b
    args = ["ask", str(clip.path), "What happens?", "-m", model, "--max-tokens", "2", "--json", "--frames", "6",
            "--sampling", method, *extra]
    (record,), _ = run_json(args)
    (video,) = record["videos"]
    return video


def test_each_sampler_lists_its_frames(model):
    clip = clip_set().cuts_b  # 200 frames at 30 fps, hard cuts at 40, 65, 125, 155
    videos = {method: ask_video(model, method) for method in METHODS}
    for method, video in videos.items():
        sampling = video["sampling"]
        assert sampling["method"] == method and video["decoder"] in {"decord", "pyav"}
        frames = sampling["frames"]
        assert len(frames) == video["frames"] == 6
        indices = [f["index"] for f in frames]
        assert indices == sorted(set(indices)) and 0 <= indices[0] and indices[-1] < clip.frame_count
        assert all(abs(f["time_s"] - f["index"] / clip.fps) <= 1.0 / clip.fps for f in frames)
        assert sampling["scan_degraded"] is None
    reasons = {method: {f["reason"].split()[0] for f in video["sampling"]["frames"]} for method, video in videos.items()}
    assert reasons["uniform"] == {"uniform"} and reasons["keyframe"] == {"scene"}
    assert reasons["dynamic"] <= {"change", "floor"}
    assert videos["uniform"]["sampling"]["cuts"] == [] == videos["dynamic"]["sampling"]["cuts"]
    found = [c["index"] for c in videos["keyframe"]["sampling"]["cuts"]]
    assert len(found) == len(clip.cuts) and all(abs(f - t) <= 2 for f, t in zip(found, clip.cuts))
    # one frame from each of the 5 scenes (the keyframe sampler's promise), which uniform does not give
    scenes = [sum(i >= c for c in clip.cuts) for i in (f["index"] for f in videos["keyframe"]["sampling"]["frames"])]
    assert set(scenes) == set(range(len(clip.cuts) + 1))
    samplings = [json.dumps(videos[m]["sampling"], sort_keys=True) for m in METHODS]
    assert len(set(samplings)) == 3


def test_describe_json_has_the_same_video_report(model):
    clip = clip_set().motion
    args = ["describe", str(clip.path), "-m", model, "--max-tokens", "2", "--json", "--frames", "4"]
    (record,), _ = run_json(args)
    sampling = record["videos"][0]["sampling"]
    assert sampling["method"] == "uniform" and [f["reason"] for f in sampling["frames"]] == [
        f"uniform {i}/4" for i in range(1, 5)
    ]


def test_degraded_scan_is_reported_and_warned_once(model, monkeypatch):
    from vlmcli.video import sample

    sentence = "cut detection was degraded: the test said so"
    real_scan = sample.scan_video

    def degraded_scan(*args, **kwargs):
        return dataclasses.replace(real_scan(*args, **kwargs), degraded=sentence)

    monkeypatch.setattr(sample, "scan_video", degraded_scan)
    clip = clip_set().cuts_b
    args = ["ask", str(clip.path), "What happens?", "-m", model, "--max-tokens", "2", "--json", "--frames", "4",
            "--sampling", "keyframe"]
    (record,), stderr = run_json(args)
    assert record["videos"][0]["sampling"]["scan_degraded"] == sentence
    assert stderr.splitlines() == [f"warning: {clip.path}: {sentence}"]


def test_compress_that_changes_nothing_says_so_once(model, tmp_path):
    clip = clip_set().motion
    photo = str(save_photo(tmp_path / "a.png"))
    base = ["describe", str(clip.path), photo, "-m", model, "--max-tokens", "2", "--json", "--frames", "4", "-q"]  # -q: no progress lines
    plain, quiet = run_json(base)
    assert quiet == ""
    same, stderr = run_json([*base, "--compress", "perceiver:100000"])
    assert [r["visual_tokens"] for r in same] == [r["visual_tokens"] for r in plain]  # really nothing changed
    (note,) = stderr.splitlines()  # one line for two inputs (and for every frame)
    assert note.startswith("note: --compress perceiver:100000 changes nothing: ") and "not more than 100000" in note
    reduced, stderr = run_json([*base, "--compress", "perceiver:1"])
    assert stderr == "" and all(r["visual_tokens"] < p["visual_tokens"] for r, p in zip(reduced, plain))
