"""`vlm caption-dir --videos` on a tiny checkpoint: real photos, synthetic and real videos
and broken videos in one folder. Video rows share the schema, errors are rows, resume
skips done videos and redoes them when the frame sampling changes."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.media.codec_clips import audio_only
from vlmcli.testing.media.video_clips import clip_set, real_video
from vlmcli.cli import app
from vlmcli.sinks import FIELDS
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env

FAMILY = "smolvlm"
NEW_TOKENS = 4
runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("media")
    for i, photo in enumerate(sample_photos()[:2]):
        photo.save(root / f"photo{i}.jpg")
    clips = clip_set()
    shutil.copy(clips.cuts_b.path, root / "cuts.mp4")
    shutil.copy(clips.motion.path, root / "motion_no_extension")  # a video by content only
    shutil.copy(clips.truncated, root / "truncated.mp4")  # moov atom cut off: cannot open
    bikes = real_video("bikes")
    if bikes is not None:
        shutil.copy(bikes, root / "bikes.mp4")
    shutil.move(audio_only(tmp_path_factory.mktemp("memo")), root / "Voice Memo.m4a")  # audio: ignored
    return root


VIDEOS = {"cuts.mp4": (64, 48), "motion_no_extension": (64, 48), "bikes.mp4": None}


def caption(root: Path, out: Path, model: Path, *extra: str):
    import pyarrow.parquet as pq

    args = ["caption-dir", str(root), "-o", str(out), "-m", str(model), "--max-tokens", str(NEW_TOKENS), *extra]
    result = runner.invoke(app, args)
    rows = pq.read_table(out).to_pylist() if any(out.glob("*.parquet")) else []
    return result, {Path(r["path"]).name: r for r in rows}, rows


def test_without_videos_they_are_skipped_and_counted(media, tiny_checkpoint, tmp_path):
    result, rows, _ = caption(media, tmp_path / "out", tiny_checkpoint(FAMILY), "--json")
    assert result.exit_code == 0, result.output
    assert sorted(rows) == ["photo0.jpg", "photo1.jpg"]
    summary = __import__("json").loads(result.stdout)
    expected = 3 + (real_video("bikes") is not None)  # truncated.mp4 is a video by its header too
    assert summary["videos_skipped"] == expected and summary["ignored"] == 1  # the voice memo
    assert f"skipped {expected} videos (add --videos)" in result.stderr


def test_videos_become_rows_errors_and_resume(media, tiny_checkpoint, tmp_path):
    from vlmcli.engine import EngineConfig, GenerationConfig, Request
    from vlmcli.engine.engine import Engine
    from vlmcli.engine.video_input import VideoInput
    from vlmcli.video.sample import sample_video
    from vlmcli.video.sampling import SamplingOptions

    model, out = tiny_checkpoint(FAMILY), tmp_path / "out"
    result, rows, raw = caption(media, out, model, "--videos", "--frames", "3", "-q")
    assert result.exit_code == 9, result.output  # the truncated video is an error row
    assert all(list(r) == list(FIELDS) for r in raw)
    videos = {name for name in VIDEOS if (media / name).exists()}
    assert sorted(rows) == sorted({"photo0.jpg", "photo1.jpg", "truncated.mp4"} | videos)
    bad = rows["truncated.mp4"]
    assert bad["status"] == "error" and "truncated.mp4" in bad["error"] and bad["caption"] is None
    for name in videos:
        row = rows[name]
        assert row["status"] == "ok", row
        assert row["key"] == hashlib.sha256((media / name).read_bytes()).hexdigest()
        assert row["prompt"] == "Describe this video in one or two sentences."
        assert 0 < row["visual_tokens"] < row["prompt_tokens"] and 0 < row["completion_tokens"] <= NEW_TOKENS
        if VIDEOS[name] is not None:
            assert (row["width"], row["height"]) == VIDEOS[name]
    assert rows["photo0.jpg"]["prompt"] == "Describe this image in one or two sentences."
    assert rows["photo0.jpg"]["config_hash"] != rows["cuts.mp4"]["config_hash"]

    # the video caption is the engine's own answer for exactly those 3 sampled frames
    engine = Engine.load(EngineConfig(model=str(model)))
    clip = VideoInput.from_sampled(
        sample_video(media / "cuts.mp4", options=SamplingOptions(frames=3), max_side=768), source="x"
    )
    (direct,) = engine.generate([Request(prompt=rows["cuts.mp4"]["prompt"], videos=(clip,))],
                                GenerationConfig(max_tokens=NEW_TOKENS))
    assert direct.text == rows["cuts.mp4"]["caption"]

    # rerun: every ok row is skipped, only the broken video is retried (and fails again)
    result, again, raw_again = caption(media, out, model, "--videos", "--frames", "3", "--json", "-q")
    assert result.exit_code == 9
    summary = __import__("json").loads(result.stdout)
    assert summary["skipped"] == len(videos) + 2 and summary["error"] == 1 and summary["ok"] == 0
    assert len(raw_again) == len(raw)  # no duplicates: the old error row was retired
    assert {n: r["caption"] for n, r in again.items()} == {n: r["caption"] for n, r in rows.items()}

    # other frame sampling: the videos are redone, the photos are not
    result, _, raw_third = caption(media, out, model, "--videos", "--frames", "2", "--json", "-q")
    summary = __import__("json").loads(result.stdout)
    assert summary["skipped"] == 2 and summary["ok"] == len(videos)
    assert len({(r["path"], r["config_hash"]) for r in raw_third}) == len(raw_third)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
def test_ray_engine_captions_videos_like_the_local_engine(media, tiny_checkpoint, tmp_path):
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vlmcli[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")
    model = tiny_checkpoint(FAMILY)
    local, local_rows, _ = caption(media, tmp_path / "local", model, "--videos", "--frames", "3", "-q")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        remote, ray_rows, _ = caption(media, tmp_path / "ray", model, "--videos", "--frames", "3", "-q", "--engine", "ray")
    finally:
        ray.shutdown()
    assert remote.exit_code == local.exit_code == 9, remote.output  # the truncated video, both ways

    def same(row):
        return {k: row[k] for k in ("key", "status", "caption", "width", "height", "visual_tokens", "config_hash")}

    assert sorted(ray_rows) == sorted(local_rows)
    assert {n: same(r) for n, r in ray_rows.items()} == {n: same(r) for n, r in local_rows.items()}
