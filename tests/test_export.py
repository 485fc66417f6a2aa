"""`vlm export`: a caption run's rows joined back to their images and written in the formats
trainers read, each loaded back with the library its consumers use (`datasets`, `webdataset`),
not only with our own reader. Runs use the fake engine on real photos plus a broken file."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.records import ColumnNaming, join_rows
from vlmcli.exports.results import read_results
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

runner = CliRunner()
PROMPTS = ("Describe this photo.", "List the objects.")
IMAGES = ("astro.jpg", "cat.v2.png", "sub/coffee.jpg", "sub/deeper/camera.webp")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def photos(tmp_path) -> Path:
    root = tmp_path / "photos"
    (root / "sub" / "deeper").mkdir(parents=True)
    for name, photo in zip(IMAGES, ("astronaut", "chelsea", "coffee", "camera")):
        save_photo(root / name, photo)
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10)
    return root


def caption(monkeypatch, photos: Path, out: Path, *extra: str, fmt: str = "parquet") -> None:
    install_fake_engine(monkeypatch)
    args = ["caption-dir", str(photos), "-o", str(out), "--format", fmt, "-q"]
    result = runner.invoke(app, [*args, "-p", PROMPTS[0], "-p", PROMPTS[1], *extra])
    assert result.exit_code == 9, result.output  # the broken file failed, the rest captioned


@pytest.fixture
def run(monkeypatch, photos, tmp_path) -> Path:
    out = tmp_path / "captions"
    caption(monkeypatch, photos, out)
    return out


def export(*args: str):
    return runner.invoke(app, ["export", *map(str, args)])


def expected_captions(run: Path) -> dict[tuple[str, str], str]:
    return {(os.path.basename(r["path"]), r["prompt"]): r["caption"] for r in read_results(run) if r["status"] == "ok"}


def test_join_one_record_per_image_one_column_per_prompt(run, photos):
    joined = join_rows(read_results(run))
    assert [os.path.relpath(r.path, photos) for r in joined.records] == sorted(IMAGES)
    assert joined.columns == {"caption_1": PROMPTS[0], "caption_2": PROMPTS[1]}
    assert joined.error_rows == 2 and joined.uncaptioned == [str(photos / "broken.jpg")]
    assert all(set(r.captions) == {"caption_1", "caption_2"} and all(r.captions.values()) for r in joined.records)
    named = join_rows(read_results(run), ColumnNaming.parse(caption_column="caption", prompt_names=["short=#1", f"objects={PROMPTS[1]}"]))
    assert named.columns == {"short": PROMPTS[0], "objects": PROMPTS[1]}


def test_imagefolder_loads_with_datasets(run, photos, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "train"
    result = export(run, "--to", "imagefolder", "-o", out, "--prompt-name", "short=#1", "--prompt-name", "objects=#2")
    assert result.exit_code == 0, result.output
    assert "Exported 4 records (8 captions)" in result.stderr and "2 error rows" in result.stderr
    for name in IMAGES:  # copied byte for byte, same tree
        assert (out / name).read_bytes() == (photos / name).read_bytes()
    ds = datasets.load_dataset("imagefolder", data_dir=str(out), split="train")
    assert len(ds) == 4 and {"image", "short", "objects"} <= set(ds.features)
    want = expected_captions(run)
    for item in ds:
        name = os.path.basename(item["image"].filename)
        assert item["short"] == want[(name, PROMPTS[0])] and item["objects"] == want[(name, PROMPTS[1])]


def test_parquet_is_a_hugging_face_image_dataset(run, photos, tmp_path):
    datasets = pytest.importorskip("datasets")
    out = tmp_path / "hf"
    assert export(run, "--to", "parquet", "-o", out, "--shard-size", "3").exit_code == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    ds = datasets.load_dataset("parquet", data_files=str(out / "*.parquet"), split="train")
    assert isinstance(ds.features["image"], datasets.Image) and len(ds) == 4
    want = expected_captions(run)
    from PIL import Image

    for item in ds:
        name = os.path.basename(item["file_name"])
        source = photos / item["file_name"]
        with Image.open(source) as original:
            assert item["image"].size == original.size
        assert item["caption_1"] == want[(name, PROMPTS[0])] and item["caption_2"] == want[(name, PROMPTS[1])]
        assert (item["width"], item["height"]) == item["image"].size
    raw = datasets.load_dataset("parquet", data_files=str(out / "*.parquet"), split="train").cast_column(
        "image", datasets.Image(decode=False)
    )
    assert all(r["image"]["bytes"] == (photos / r["file_name"]).read_bytes() for r in raw)


def test_webdataset_shards_load_with_webdataset(run, photos, tmp_path):
    wds = pytest.importorskip("webdataset")
    out = tmp_path / "shards"
    assert export(run, "--to", "webdataset", "-o", out, "--shard-size", "3").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["00000.tar", "00001.tar"]
    samples = list(wds.WebDataset(str(out / "{00000..00001}.tar"), shardshuffle=False))
    assert len(samples) == 4
    want = expected_captions(run)
    by_key = {s["__key__"]: s for s in samples}
    assert set(by_key) == {"astro", "cat_v2", "sub/coffee", "sub/deeper/camera"}  # no dot inside a key
    for key, sample in by_key.items():
        meta = json.loads(sample["json"])
        name = os.path.basename(meta["path"])
        image_ext = {"astro": "jpg", "cat_v2": "png"}.get(key, "jpg" if "coffee" in key else "webp")
        assert sample[image_ext] == (photos / meta["path"]).read_bytes()
        assert sample["txt"].decode() == want[(name, PROMPTS[0])] == meta["caption_1"]
        assert meta["caption_2"] == want[(name, PROMPTS[1])]
    again = tmp_path / "again"
    assert export(run, "--to", "webdataset", "-o", again, "--shard-size", "3").exit_code == 0
    assert (again / "00000.tar").read_bytes() == (out / "00000.tar").read_bytes()  # deterministic bytes
    with tarfile.open(out / "00000.tar") as tar:
        assert all(m.mtime == 0 and m.mode == 0o644 for m in tar.getmembers())


def test_txt_mirror_beside_and_with_images(monkeypatch, photos, tmp_path):
    run = tmp_path / "one-prompt"
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(run), "-q"]).exit_code == 9
    want = {os.path.basename(r["path"]): r["caption"] for r in read_results(run) if r["status"] == "ok"}
    mirror = tmp_path / "mirror"
    assert export(run, "--to", "txt", "-o", mirror).exit_code == 0
    assert sorted(str(p.relative_to(mirror)) for p in mirror.rglob("*") if p.is_file()) == sorted(
        str(Path(n).with_suffix(".txt")) for n in IMAGES
    )
    assert (mirror / "cat.v2.txt").read_text() == want["cat.v2.png"] + "\n"
    with_images = tmp_path / "kohya"
    assert export(run, "--to", "txt", "-o", with_images, "--with-images").exit_code == 0
    assert (with_images / "sub" / "coffee.jpg").read_bytes() == (photos / "sub" / "coffee.jpg").read_bytes()
    result = export(run, "--to", "txt", "--beside")
    assert result.exit_code == 0, result.output
    assert (photos / "sub" / "deeper" / "camera.txt").read_text() == want["camera.webp"] + "\n"
    refused = export(run, "--to", "txt", "--beside")  # never overwrites a caption file by surprise
    assert refused.exit_code != 0 and "--force" in refused.stderr
    assert export(run, "--to", "txt", "--beside", "--force").exit_code == 0


def test_jsonl_from_jsonl_results_and_several_columns(monkeypatch, photos, tmp_path):
    run = tmp_path / "jsonl-run"
    caption(monkeypatch, photos, run, fmt="jsonl")
    target = tmp_path / "out" / "captions.jsonl"
    result = export(run, "--to", "jsonl", "-o", target, "--prompt-name", f"long={PROMPTS[0]}", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["records"] == 4 and summary["error_rows_excluded"] == 2 and summary["columns"] == {
        "long": PROMPTS[0],
        "caption_2": PROMPTS[1],
    }
    lines = [json.loads(line) for line in target.read_text().splitlines()]
    assert sorted(os.path.relpath(line["image_path"], photos) for line in lines) == sorted(IMAGES)
    assert all(line["long"] and line["caption_2"] and line["width"] > 0 for line in lines)


def test_newest_caption_wins_and_older_rows_are_counted(monkeypatch, photos, tmp_path):
    run = tmp_path / "captions"
    caption(monkeypatch, photos, run)
    install_fake_engine(monkeypatch, answer=lambda request: f"second run: {request.prompt}")
    args = ["caption-dir", str(photos), "-o", str(run), "-q", "-p", PROMPTS[0], "-p", PROMPTS[1]]
    assert runner.invoke(app, [*args, "--max-tokens", "7"]).exit_code == 9  # other settings: rows beside the old
    joined = join_rows(read_results(run))
    assert joined.superseded == 8 and len(joined.records) == 4 and joined.error_rows == 4
    assert all(c.startswith("second run: ") for r in joined.records for c in r.captions.values())


def test_missing_image_is_skipped_named_and_exit_9(run, photos, tmp_path):
    (photos / "astro.jpg").unlink()
    out = tmp_path / "train"
    result = export(run, "--to", "imagefolder", "-o", out)
    assert result.exit_code == 9
    assert "Exported 3 records" in result.stderr and f"skipped: {photos / 'astro.jpg'}" in result.stderr
    assert len((out / "metadata.jsonl").read_text().splitlines()) == 3
    lines = tmp_path / "all.jsonl"  # jsonl wrote a line naming the file that had gone, exit 0
    listed = export(run, "--to", "jsonl", "-o", lines)
    assert listed.exit_code == 9 and f"skipped: {photos / 'astro.jpg'}" in listed.stderr
    assert len(lines.read_text().splitlines()) == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "zip", "-o", "x"], "zip"),
        (["--to", "imagefolder"], "needs -o"),
        (["--to", "txt", "--beside", "-o", "x"], "drop -o"),
        (["--to", "jsonl", "-o", "x.jsonl", "--prompt-name", "a=#9"], "#9"),
        (["--to", "jsonl", "-o", "x.jsonl", "--prompt-name", "file_name=#1"], "reserved"),
        (["--to", "parquet", "-o", "y", "--shard-size", "0"], "--shard-size"),
    ],
)
def test_bad_flags_are_one_line_errors(run, tmp_path, args, message):
    os.chdir(tmp_path)
    result = export(run, *args)
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.output


def test_not_a_results_folder(tmp_path):
    result = export(tmp_path, "--to", "jsonl", "-o", tmp_path / "x.jsonl")
    assert result.exit_code == 3 and "no caption shards" in result.stderr


def test_non_empty_output_folder_is_refused(run, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = export(run, "--to", "webdataset", "-o", out)
    assert result.exit_code != 0 and "not empty" in result.stderr and (out / "keep.txt").read_text() == "mine"


def test_a_run_over_photos_and_videos_with_the_built_in_prompts_is_one_caption_column(monkeypatch, photos, tmp_path):
    """`caption-dir --videos` asks images and videos different built-in prompts: one caption per
    file. The export had two half-empty columns (caption_1 for images, caption_2 for videos),
    and --prompt-name could not put them in one. Now they are one "caption" column."""
    from vlmcli.captions.prompts import DEFAULT_PROMPT
    from vlmcli.captions.videos import DEFAULT_VIDEO_PROMPT
    from vlmcli.testing.media.video_clips import clip_set

    import shutil

    shutil.copy(clip_set().cuts_a.path, photos / "clip.mp4")
    out = tmp_path / "captions"
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(out), "-q", "--videos"]).exit_code == 9
    rows = read_results(out)
    assert {r["prompt"] for r in rows} == {DEFAULT_PROMPT, DEFAULT_VIDEO_PROMPT}
    joined = join_rows(rows)
    assert joined.columns == {"caption": f"{DEFAULT_PROMPT} | {DEFAULT_VIDEO_PROMPT}"}
    assert len(joined.records) == len(IMAGES) + 1 and all(r.captions["caption"] for r in joined.records)
    named = join_rows(rows, ColumnNaming.parse(caption_column="caption", prompt_names=["photo_caption=#1", "video_caption=#2"]))
    assert set(named.columns) == {"photo_caption", "video_caption"}  # named columns: as asked
    both = rows + [{**rows[0], "prompt": DEFAULT_VIDEO_PROMPT if rows[0]["prompt"] == DEFAULT_PROMPT else DEFAULT_PROMPT}]
    assert set(join_rows(both).columns) == {"caption_1", "caption_2"}  # a file with both: two columns
    result = export(out, "--to", "jsonl", "-o", tmp_path / "all.jsonl")
    assert result.exit_code == 0, result.output  # the broken photo is counted, not exported
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert all(set(line) >= {"caption"} and "caption_1" not in line for line in lines)


def test_txt_skips_and_names_an_image_that_has_gone(monkeypatch, photos, tmp_path):
    """Before: --to txt (beside or mirrored, without images) wrote a caption for a picture that
    was deleted after the run, exit 0."""
    run = tmp_path / "one-prompt"
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["caption-dir", str(photos), "-o", str(run), "-q"]).exit_code == 9
    (photos / "sub" / "coffee.jpg").unlink()
    for args in (("--beside",), ("-o", tmp_path / "mirror")):
        result = export(run, "--to", "txt", *args)
        assert result.exit_code == 9, result.output
        assert "coffee.jpg" in result.stderr and "skipped" in result.stderr
    assert not (photos / "sub" / "coffee.txt").exists() and not (tmp_path / "mirror" / "sub" / "coffee.txt").exists()
    assert (photos / "sub" / "deeper" / "camera.txt").exists()


@pytest.mark.parametrize("fmt, pattern", [("parquet", "*.parquet"), ("webdataset", "*.tar")])
def test_force_replaces_an_earlier_exports_shards(run, tmp_path, fmt, pattern):
    """Three shards, then --force into the same folder with one: the two stale shards stayed,
    and `load_dataset("parquet", data_files="OUT/*.parquet")` read every image twice."""
    out = tmp_path / "out"
    assert export(run, "--to", fmt, "-o", out, "--shard-size", "1").exit_code == 0
    assert len(list(out.glob(pattern))) > 1
    again = export(run, "--to", fmt, "-o", out, "--force", "--json")
    assert again.exit_code == 0, again.output
    assert len(list(out.glob(pattern))) == 1 and json.loads(again.stdout.splitlines()[0])["removed_stale_shards"]
    assert "of an earlier export there" in again.stderr


def test_txt_names_images_that_would_share_a_caption_file_as_every_format_does(monkeypatch, tmp_path):
    """`a.jpg` and `a.png` both went to `a.txt`: one caption lost without a word (and with
    --with-images both pictures beside that one file); --beside then stopped halfway, saying
    the `a.txt` it had just written "exists". Then -o left both out (exit 9) where every other
    format renames (`names.distinct`): now the first keeps `a.txt`, the next is `a_1.txt` (its
    image copied as `a_1.png`), `A.JPG` (one file with `a.jpg` on macOS) `A_2.txt`. --beside
    cannot rename images: it leaves them out and names them, ignoring case too."""
    folder = tmp_path / "p"
    folder.mkdir()
    for name, photo in (("A.JPG", "camera"), ("a.jpg", "coffee"), ("a.png", "chelsea"), ("b.jpg", "astronaut")):
        save_photo(folder / name, photo, format="JPEG" if name.lower().endswith("jpg") else None)
    run = tmp_path / "run"
    install_fake_engine(monkeypatch)
    assert runner.invoke(app, ["caption-dir", str(folder), "-o", str(run), "-q"]).exit_code == 0
    captions = {os.path.basename(r["path"]): r["caption"] for r in read_results(run)}
    mirror = tmp_path / "mirror"
    result = export(run, "--to", "txt", "-o", mirror, "--with-images")
    assert result.exit_code == 0, result.output
    pairs = {"A.txt": "A.JPG", "a_1.txt": "a.jpg", "a_2.txt": "a.png", "b.txt": "b.jpg"}  # sorted: "A.JPG" first
    assert sorted(p.name for p in mirror.iterdir()) == sorted([*pairs, "A.JPG", "a_1.jpg", "a_2.png", "b.jpg"])
    for text, image in pairs.items():
        assert (mirror / text).read_text() == captions[image] + "\n"
        assert (mirror / (text[:-4] + Path(image).suffix)).read_bytes() == (folder / image).read_bytes()
    bare = tmp_path / "bare"
    assert export(run, "--to", "txt", "-o", bare).exit_code == 0  # the same names without the images
    assert sorted(p.name for p in bare.iterdir()) == sorted(pairs)
    (folder / "b.txt").write_text("mine\n")
    refused = export(run, "--to", "txt", "--beside")
    assert refused.exit_code == 8 and (folder / "b.txt").read_text() == "mine\n" and not (folder / "a.txt").exists()
    beside = export(run, "--to", "txt", "--beside", "--force")
    assert beside.exit_code == 9 and (folder / "b.txt").read_text() != "mine\n"
    assert not (folder / "a.txt").exists() and not (folder / "A.txt").exists()
    assert f"Error: left out {folder / 'A.JPG'}, {folder / 'a.jpg'}, {folder / 'a.png'}: all would be captioned in" in beside.stderr


def test_export_and_report_of_a_run_still_writing_say_so(run, tmp_path):
    """Both read the rows published so far without a word while the run's lock was held."""
    from vlmcli.sinks.lock import FolderLock

    with FolderLock(run):  # as a caption-dir run holds it
        result = export(run, "--to", "parquet", "-o", tmp_path / "e")
        assert result.exit_code == 0 and f"note: a caption run is still writing {run} (pid " in result.stderr
        page = runner.invoke(app, ["report", str(run), "-o", str(tmp_path / "r.html")])
        assert "note: a caption run is still writing" in page.stderr
    assert "note:" not in export(run, "--to", "parquet", "-o", tmp_path / "f").stderr
