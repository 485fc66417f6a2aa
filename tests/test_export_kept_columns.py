"""`caption-dir --keep-columns` values reach every export format's per-item metadata.

Before: the run kept them in each row's `extra`, but `vlm export` wrote only path, size,
sha256, source, source_key and the captions, so README's own workflow (`--keep-columns url`,
then `--to webdataset`) lost every url. Now each kept column is in webdataset's `.json`,
imagefolder's `metadata.jsonl`, Parquet's columns and jsonl's fields under its own name; one
whose name an export field has (img2dataset's `caption`, a `width`) is `extra_<name>`."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.kept import kept_columns
from vlmcli.exports.kept_table import table_columns, table_fields
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, real_photo

runner = CliRunner()
KEEP = "url,caption,similarity,tags,width,note"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def meta(i: int) -> dict:
    """An img2dataset-style `.json`, plus a list and a field only some keys have."""
    fields = {"url": f"https://example.com/{i}.jpg", "caption": f"alt text {i}", "similarity": 0.25 + i, "tags": ["a", str(i)]}
    return fields | {"width": 640} | ({"note": "odd"} if i % 2 else {})


@pytest.fixture
def run(tmp_path) -> Path:
    shard = tmp_path / "in" / "00000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for i, photo in enumerate(("astronaut", "coffee", "chelsea")):
            buffer = io.BytesIO()
            real_photo(photo).convert("RGB").resize((48, 32)).save(buffer, format="JPEG")
            for ext, data in (("jpg", buffer.getvalue()), ("json", json.dumps(meta(i)).encode())):
                info = tarfile.TarInfo(f"{i:09d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "run"
    assert caption_dir(shard, "-o", out, "--keep-columns", KEEP)["ok"] == 3
    return out


def export(run: Path, fmt: str, dest: Path, *flags: str):
    result = runner.invoke(app, ["export", str(run), "--to", fmt, "-o", str(dest), *flags])
    assert result.exit_code == 0, result.output
    return result


def check(item: dict, *, table: bool) -> None:
    """One exported item: its kept values beside the export's own fields, which are untouched
    (`table`: imagefolder and Parquet, where a list is a list too: tests/test_export_nested_columns.py)."""
    i = int(item["source_key"] if "source_key" in item else item["file_name"].split(".")[0])
    assert item["url"] == f"https://example.com/{i}.jpg" and item["similarity"] == 0.25 + i
    assert item["extra_caption"] == f"alt text {i}" and item["caption"].startswith("Saw ")  # the new caption
    assert item["extra_width"] == 640 and item.get("width", 48) == 48
    assert item["tags"] == ["a", str(i)]
    assert item["note"] == ("odd" if i % 2 else None)


def test_webdataset_json_has_the_kept_columns(run, tmp_path):
    wds = pytest.importorskip("webdataset")
    result = export(run, "webdataset", tmp_path / "wds")
    samples = list(wds.WebDataset(str(tmp_path / "wds" / "00000.tar"), shardshuffle=False))
    assert len(samples) == 3
    for sample in samples:
        item = json.loads(sample["json"])
        check(item, table=False)
        assert sample["txt"].decode() == item["caption"]
    renamed = "'caption' as 'extra_caption', 'width' as 'extra_width'."
    assert f"Kept columns renamed (the export has its own field of that name): {renamed}" in result.stderr


def test_jsonl_fields_and_the_json_summary(run, tmp_path):
    result = export(run, "jsonl", tmp_path / "all.jsonl", "--json")
    kept = json.loads(result.stdout)["kept_columns"]
    assert kept == {"url": "url", "caption": "extra_caption", "similarity": "similarity", "tags": "tags",
                    "width": "extra_width", "note": "note"}  # fmt: skip
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert len(lines) == 3
    for line in lines:
        check(line, table=False)


def test_imagefolder_and_parquet_load_the_kept_columns_with_datasets(run, tmp_path):
    datasets = pytest.importorskip("datasets")
    export(run, "imagefolder", tmp_path / "if")
    export(run, "parquet", tmp_path / "pq")
    folder = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "if"), split="train")
    table = datasets.load_dataset("parquet", data_files=str(tmp_path / "pq" / "*.parquet"), split="train")
    for loaded in (folder, table):
        assert len(loaded) == 3
        assert {"url", "extra_caption", "similarity", "tags", "extra_width", "note"} <= set(loaded.features)
        assert loaded.features["similarity"].dtype in ("float64", "double") and loaded.features["tags"] == datasets.List(
            datasets.Value("string")
        )
    for item in table:
        check(item, table=True)
    for item in folder:
        check({**item, "file_name": Path(item["image"].filename).name}, table=True)


def test_readmes_workflow_keep_url_then_webdataset(tmp_path):
    from vlmcli.testing import sample_photos
    from vlmcli.testing.media.datasets import write_webdataset

    wds = pytest.importorskip("webdataset")
    write_webdataset(tmp_path / "laion", sample_photos()[:2], shards=1, broken=False)
    caption_dir(tmp_path / "laion", "-o", tmp_path / "captions", "--keep-columns", "url")
    result = export(tmp_path / "captions", "webdataset", tmp_path / "recaptioned")
    assert "renamed" not in result.stderr
    samples = list(wds.WebDataset(str(tmp_path / "recaptioned" / "00000.tar"), shardshuffle=False))
    assert len(samples) == 2
    assert all(json.loads(s["json"])["url"] == f"https://example.com/{s['__key__']}.jpg" for s in samples)


def test_a_clash_never_clobbers_and_every_name_is_its_own():
    taken = {"caption", "width", "file_name"}
    extras = [{"caption": "alt", "extra_caption": "mine", "url": "u"}, {"width": 3}]
    assert kept_columns(extras, taken) == {
        "caption": "extra_caption_1",  # `extra_caption` is a kept column's own name
        "extra_caption": "extra_caption",
        "url": "url",
        "width": "extra_width",
    }
    kept = {"n": "n", "mixed": "mixed", "flag": "flag", "empty": "empty"}
    rows = [{"n": 1, "mixed": "x", "flag": True}, {"n": 2.5, "mixed": 3, "flag": None}]
    types = table_columns(rows, kept, opens_file_fields=False)
    assert {name: str(column.arrow_type()) for name, column in types.items()} == {
        "n": "double", "mixed": "string", "flag": "bool", "empty": "string"
    }  # fmt: skip
    assert types["mixed"].mixed == "integer and text values"
    assert table_fields(rows[0], kept, types) == {"n": 1.0, "mixed": '"x"', "flag": True, "empty": None}  # JSON text
    assert table_fields(rows[1], kept, types)["mixed"] == "3"


def test_a_prompt_column_cannot_take_a_field_webdataset_and_jsonl_write(tmp_path):
    """`--prompt-name source=#1` overwrote the item's `source` in webdataset's `.json`."""
    for name in ("source", "source_key", "sha256"):
        result = runner.invoke(app, ["export", str(tmp_path), "--to", "jsonl", "-o", str(tmp_path / "x.jsonl"),
                                     "--prompt-name", f"{name}=#1"])  # fmt: skip
        assert result.exit_code == 2 and "reserved" in result.stderr


def test_a_kept_column_named_like_a_file_column_is_not_opened_by_datasets(tmp_path):
    """`--keep-columns file_name` became `extra_file_name`, and `datasets` opens every
    `*_file_name` column of metadata.jsonl as a file: the imagefolder export did not load."""
    assert kept_columns([{"file_name": "f1", "x_file_name": "a", "url": "u"}], taken={"file_name", "caption"}) == {
        "file_name": "file_name_kept", "x_file_name": "x_file_name_kept", "url": "url"
    }
    datasets = pytest.importorskip("datasets")
    shard = tmp_path / "in" / "00000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        buffer = io.BytesIO()
        real_photo("coffee").convert("RGB").resize((48, 32)).save(buffer, format="JPEG")
        for ext, data in (("jpg", buffer.getvalue()), ("json", json.dumps({"file_name": "f1"}).encode())):
            info = tarfile.TarInfo(f"000000000.{ext}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = tmp_path / "run"
    assert caption_dir(shard, "-o", out, "--keep-columns", "file_name")["ok"] == 1
    export(out, "imagefolder", tmp_path / "exp")
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "exp"), split="train")
    assert loaded[0]["file_name_kept"] == "f1" and loaded[0]["image"].size == (48, 32)
