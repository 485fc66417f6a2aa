"""caption-dir --videos over dataset shards: video2dataset's tars of clips (mp4, VP9 webm,
one truncated download), a zip of clips written by the `zip` tool, animated GIFs inside a
tar. Before, every such item was an error row ("dataset inputs caption images only") and
`--videos` with a shard was refused. Now each clip is captioned as `caption-dir --videos`
captions the same file in a folder: same key, size, tokens and caption."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile

import numpy as np
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.animations import pillow_gif
from vlmcli.testing.media.codec_clips import CASES, SIZE, build
from vlmcli.testing.media.datasets import jpeg_bytes, write_video_webdataset
from vlmcli.testing.fakes import real_photo
from vlmcli.testing.media.video_clips import clip_set

NEW_TOKENS = 4
VIDEO_PROMPT = "Describe this video in one or two sentences."


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))  # where the clips' files go (and must not stay)


def _leftovers(tmp_path) -> list[str]:
    return [p.name for p in (tmp_path / "tmp").iterdir() if p.name.startswith("vlm-")]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[tuple[str, bytes]]:
    """video2dataset's downloads: two H.264 mp4s, a VP9 webm (when ffmpeg has libvpx-vp9), and
    a download cut short (its moov atom missing)."""
    found = clip_set()
    vp9 = build(next(c for c in CASES if c.name == "vp9-webm"), tmp_path_factory.mktemp("vp9"))
    return [
        ("mp4", found.cuts_a.path.read_bytes()),
        ("mp4", found.motion.path.read_bytes()),
        ("mp4", found.truncated.read_bytes()),
        *([("webm", vp9.read_bytes())] if vp9 is not None else []),
    ]


def test_a_video2dataset_shard_is_captioned_as_its_clips_are_in_a_folder(clips, tiny_checkpoint, tmp_path):
    model = tiny_checkpoint("smolvlm")
    shard = write_video_webdataset(tmp_path / "v2d", clips)
    loose = tmp_path / "loose"  # the same clips as files
    loose.mkdir()
    for i, (ext, data) in enumerate(clips):
        (loose / f"00000{i:04d}.{ext}").write_bytes(data)
    options = ("-m", model, "--max-tokens", NEW_TOKENS, "--videos", "--frames", 3)
    summary = caption(tmp_path / "v2d", "-o", tmp_path / "out", "--keep-columns", "url,caption", *options, code=9)
    assert (summary["ok"], summary["error"]) == (len(clips) - 1, 1)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    files = {r["path"].rsplit("/", 1)[-1].split(".")[0]: r for r in read_results(caption_loose(loose, tmp_path, options))}
    assert sorted(rows) == sorted(files) == [f"00000{i:04d}" for i in range(len(clips))]

    broken = rows["000000002"]
    assert broken["status"] == "error" and broken["path"] == f"{shard.resolve()}::000000002"
    assert f"{shard.resolve()}::000000002" in broken["error"] and "vlm-clips" not in broken["error"]
    for i, (_ext, data) in enumerate(clips):
        key = f"00000{i:04d}"
        if key == "000000002":
            continue
        row, same = rows[key], files[key]
        assert row["status"] == "ok" and row["prompt"] == VIDEO_PROMPT, row
        assert row["key"] == same["key"] == hashlib.sha256(data).hexdigest()
        for column in ("caption", "width", "height", "visual_tokens", "prompt_tokens", "config_hash"):
            assert row[column] == same[column], column
        assert json.loads(row["extra"]) == {"url": f"https://example.com/v/{key}.{_ext}", "caption": f"clip {key}"}
    assert _leftovers(tmp_path) == []  # the clips' files went with their shard

    again = caption(tmp_path / "v2d", "-o", tmp_path / "out", "--keep-columns", "url,caption", *options, code=9)
    assert (again["skipped"], again["ok"], again["error"]) == (len(clips) - 1, 0, 1)  # only the broken one retried
    assert len(read_results(tmp_path / "out")) == len(clips)


def caption_loose(folder, tmp_path, options):
    out = tmp_path / "files-out"
    caption(folder, "-o", out, *options, code=9)
    return out


def test_videos_without_the_flag_say_so_and_are_replaced_when_it_is_given(monkeypatch, clips, tmp_path):
    install_fake_engine(monkeypatch)
    write_video_webdataset(tmp_path / "v2d", clips[:2])
    first = caption(tmp_path / "v2d", "-o", tmp_path / "out", code=9)
    assert (first["ok"], first["error"]) == (0, 2)
    errors = read_results(tmp_path / "out")
    assert all(r["error"].endswith("is a video; add --videos to caption videos too.") for r in errors)

    second = caption(tmp_path / "v2d", "-o", tmp_path / "out", "--videos", "--frames", 2)
    assert (second["ok"], second["error"]) == (2, 0)
    rows = read_results(tmp_path / "out")
    assert len(rows) == 2 and {r["status"] for r in rows} == {"ok"}  # the "add --videos" rows are retired


def test_a_loose_video_named_without_the_flag_is_replaced_too(monkeypatch, clips, tmp_path):
    install_fake_engine(monkeypatch)
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(clips[0][1])
    caption(clip, "-o", tmp_path / "out", code=9)
    caption(clip, "-o", tmp_path / "out", "--videos", "--frames", 2)
    rows = read_results(tmp_path / "out")
    assert [r["status"] for r in rows] == ["ok"]


@pytest.fixture
def mixed(tmp_path, clips):
    """A zip by the `zip` tool (a clip with a space in its name, a photo, an animated GIF) and a
    tar holding a photo and an animated GIF that is not in the zip."""
    zip_tool = shutil.which("zip")
    if zip_tool is None:
        pytest.skip("the zip tool is not installed")
    tree = tmp_path / "tree"
    tree.mkdir()
    frames = [np.full((40, 60, 3), c, np.uint8) for c in (0, 128, 255)]
    (tree / "clip one.mp4").write_bytes(clips[0][1])
    (tree / "photo.jpg").write_bytes(jpeg_bytes(real_photo("astronaut").resize((64, 64))))
    pillow_gif(tree / "anim.gif", frames, delays_ms=[100, 100, 100])
    subprocess.run([zip_tool, "-q", "-r", str(tmp_path / "clips.zip"), "."], cwd=tree, check=True)
    other = pillow_gif(tmp_path / "other.gif", frames[::-1], delays_ms=[80, 80, 80])
    with tarfile.open(tmp_path / "mixed.tar", "w") as tar:
        for name, data in (("a.jpg", jpeg_bytes(real_photo("coffee").resize((48, 32)))), ("b.gif", other.read_bytes())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return tmp_path / "clips.zip", tmp_path / "mixed.tar"


def test_zip_clips_and_animations_in_shards(monkeypatch, mixed, tmp_path):
    install_fake_engine(monkeypatch)
    archive, tar = mixed
    plain = caption(archive, tar, "-o", tmp_path / "plain", code=9)
    assert (plain["ok"], plain["error"], plain["animations_as_pictures"]) == (4, 1, 2)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "plain")}
    assert "add --videos" in rows["clip one.mp4"]["error"] and rows["anim.gif"]["prompt"] != VIDEO_PROMPT

    moving = caption(archive, tar, "-o", tmp_path / "moving", "--videos", "--frames", 3)
    assert (moving["ok"], moving["error"], moving["animations_as_pictures"]) == (5, 0, 0)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "moving")}
    assert {k for k, r in rows.items() if r["prompt"] == VIDEO_PROMPT} == {"clip one.mp4", "anim.gif", "b"}
    assert (rows["anim.gif"]["width"], rows["anim.gif"]["height"]) == (60, 40)
    assert (rows["clip one.mp4"]["width"], rows["clip one.mp4"]["height"]) == (160, 120)
    assert _leftovers(tmp_path) == []


def test_progress_in_a_log_counts_rows_once_over_several_shards(monkeypatch, mixed, tmp_path):
    """Reading the second shard while captioning counted its items as rows done ("7/5 done")."""
    install_fake_engine(monkeypatch)
    archive, tar = mixed
    result = CliRunner().invoke(app, ["caption-dir", str(archive), str(tar), "-o", str(tmp_path / "out"), "--videos"])
    assert result.exit_code == 0, result.output
    last = [line for line in result.stderr.splitlines() if line.startswith("Captioning: ")][-1]
    assert last.startswith("Captioning: 5/5 done (5 ok, 0 errors)"), last


def test_dry_run_counts_the_clips_of_a_shard(monkeypatch, clips, tmp_path):
    install_fake_engine(monkeypatch)
    write_video_webdataset(tmp_path / "v2d", clips)
    report = caption(tmp_path / "v2d", "-o", tmp_path / "out", "--videos", "--dry-run")
    assert (report["counts"]["videos"], report["counts"]["unreadable"], report["counts"]["images"]) == (len(clips) - 1, 1, 0)
    assert not (tmp_path / "out").exists() and _leftovers(tmp_path) == []
    without = caption(tmp_path / "v2d", "-o", tmp_path / "out", "--dry-run")
    assert without["counts"]["videos_skipped"] == len(clips)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
def test_ray_captions_shard_clips_like_the_local_engine(clips, tiny_checkpoint, tmp_path):
    """Read tasks probe each clip on a worker, actors decode it from its spooled bytes; a
    variable-frame-rate clip's frame times travel with its task (they failed to serialise)."""
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vlmcli[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")
    vfr = build(next(c for c in CASES if c.name == "h264-vfr-mp4"), tmp_path)
    write_video_webdataset(tmp_path / "v2d", [*clips[:3], ("mp4", vfr.read_bytes())])
    options = ("-m", tiny_checkpoint("smolvlm"), "--max-tokens", NEW_TOKENS, "--videos", "--frames", 3)
    caption(tmp_path / "v2d", "-o", tmp_path / "local", *options, code=9)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    try:
        caption(tmp_path / "v2d", "-o", tmp_path / "ray", *options, "--engine", "ray", code=9)
    finally:
        ray.shutdown()

    def same(row):
        return {k: row[k] for k in ("status", "caption", "key", "width", "height", "visual_tokens", "config_hash")}

    local, remote = ({r["path"]: same(r) for r in read_results(tmp_path / out)} for out in ("local", "ray"))
    assert remote == local and len(local) == 4
    assert sum(r["status"] == "ok" for r in local.values()) == 3
    assert _leftovers(tmp_path) == []


@pytest.fixture(scope="module")
def codec_shard(tmp_path_factory):
    """One clip of every codec and container the local ffmpeg writes, in one video2dataset tar
    (an MPEG-TS clip's bytes say nothing: its `.ts` member name does)."""
    folder = tmp_path_factory.mktemp("codecs")
    built = [(case, build(case, folder)) for case in CASES]
    built = [(case, path) for case, path in built if path is not None]
    shard = write_video_webdataset(tmp_path_factory.mktemp("v2d-codecs"), [(c.ext, p.read_bytes()) for c, p in built])
    return shard, [case for case, _ in built]


def test_every_codec_in_a_shard_is_captioned_exported_and_shown(monkeypatch, codec_shard, tmp_path):
    install_fake_engine(monkeypatch)
    shard, cases = codec_shard
    summary = caption(shard, "-o", tmp_path / "out", "--videos", "--frames", 2)
    assert (summary["ok"], summary["error"]) == (len(cases), 0)
    rows = read_results(tmp_path / "out")
    assert all((r["width"], r["height"]) == SIZE for r in rows), {r["source_key"]: r["width"] for r in rows}

    result = CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--to", "webdataset", "-o", str(tmp_path / "ex")])
    assert result.exit_code == 0, result.output
    with tarfile.open(next((tmp_path / "ex").glob("*.tar"))) as exported:
        clips = sorted(n for n in exported.getnames() if not n.endswith((".txt", ".json")))
    assert clips == sorted(f"00000{i:04d}.{case.ext}" for i, case in enumerate(cases))  # was ".heic" for an mp4

    result = CliRunner().invoke(app, ["report", str(tmp_path / "out"), "-o", str(tmp_path / "report.html")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/jpeg;base64,") >= len(cases) and "no preview" not in page


def test_hugging_face_video_features_are_clips(monkeypatch, clips, tmp_path):
    """A `datasets` Dataset with a `Video()` column (bytes, or a path to an `.mp4`), as Parquet and
    as a save_to_disk folder: was "has no image column"."""
    from datasets import Dataset, Features, Value, Video

    install_fake_engine(monkeypatch)
    (tmp_path / "clip.mp4").write_bytes(clips[1][1])
    data = {"video": [{"bytes": clips[0][1], "path": None}, {"bytes": None, "path": str(tmp_path / "clip.mp4")}],
            "label": [0, 1]}  # fmt: skip
    dataset = Dataset.from_dict(data, features=Features({"video": Video(), "label": Value("int64")}))
    dataset.to_parquet(str(tmp_path / "clips.parquet"))
    dataset.save_to_disk(str(tmp_path / "on_disk"))
    for source in (tmp_path / "clips.parquet", tmp_path / "on_disk"):
        out = tmp_path / f"out-{source.name}"
        summary = caption(source, "-o", out, "--videos", "--frames", 2)
        assert (summary["ok"], summary["error"]) == (2, 0)
        rows = read_results(out)
        assert [r["prompt"] for r in rows] == [VIDEO_PROMPT] * 2
        assert sorted(r["key"] for r in rows) == sorted(hashlib.sha256(data).hexdigest() for _, data in clips[:2])


def test_picture_formats_leave_videos_out_and_load(monkeypatch, mixed, tmp_path):
    """imagefolder and parquet declare their files as `datasets` Images: a clip there made
    `load_dataset` fail on it ("cannot identify image file"). Now left out and counted."""
    from datasets import load_dataset

    install_fake_engine(monkeypatch)
    archive, tar = mixed
    caption(archive, tar, "-o", tmp_path / "out", "--videos", "--frames", 2)
    for fmt, loader in (("imagefolder", "data_dir"), ("parquet", "data_files")):
        dest = tmp_path / fmt
        result = CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--to", fmt, "-o", str(dest), "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["videos_left_out"] == 1 and json.loads(result.stdout)["records"] == 4
        assert "Left out 1 video" in result.stderr
        where = str(dest) if loader == "data_dir" else str(dest / "*.parquet")
        loaded = load_dataset(fmt, **{loader: where}, split="train")
        assert sorted(row["image"].size for row in loaded) == [(48, 32), (60, 40), (60, 40), (64, 64)]
    result = CliRunner().invoke(app, ["export", str(tmp_path / "out"), "--to", "webdataset", "-o", str(tmp_path / "wds")])
    assert result.exit_code == 0 and "Left out" not in result.stderr
    with tarfile.open(next((tmp_path / "wds").glob("*.tar"))) as kept:
        assert "clip one_mp4.mp4" in kept.getnames()


def test_image_column_names_a_tar_field_such_as_a_clip_beside_its_poster(monkeypatch, clips, tmp_path):
    """A key holding a clip and its poster picture (`key.jpg` beside `key.mp4`): its picture is
    the item unless --image-column names the clip's field. Before, the flag was ignored for tars."""
    install_fake_engine(monkeypatch)
    shard = tmp_path / "posters.tar"
    poster = jpeg_bytes(real_photo("coffee"))
    with tarfile.open(shard, "w") as tar:
        for key, members in {"a": [("jpg", poster), ("mp4", clips[0][1])], "b": [("jpg", poster)]}.items():
            for ext, data in members:
                info = tarfile.TarInfo(f"{key}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    pictures = caption(shard, "-o", tmp_path / "pictures")
    assert pictures["ok"] == 2 and VIDEO_PROMPT not in {r["prompt"] for r in read_results(tmp_path / "pictures")}
    named = caption(shard, "-o", tmp_path / "clips", "--image-column", "MP4", "--videos", "--frames", 2, code=9)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "clips")}
    assert (named["ok"], named["error"]) == (1, 1) and rows["a"]["prompt"] == VIDEO_PROMPT
    assert rows["b"]["error"] == f"{shard.resolve()}::b has no MP4 field (fields: jpg)."
