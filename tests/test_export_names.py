"""Every exported item has a name of its own, in every format, and no backslash in it.

Before: a zip's `x/a.jpg` and `x_a.jpg` both flattened to `x_a_jpg` (keys made folder-safe
with "/" and "." as "_"): imagefolder wrote one picture over the other while its
`metadata.jsonl` listed the name twice (a caption on the wrong picture), and webdataset
gave both the key `collide/x_a_jpg_1`, which `webdataset.WebDataset` refuses ("duplicate
file name in tar file"). And a dataset item keyed by a path written on Windows
(`images\\0001.jpg`, from a CSV or a zip) was exported under that backslash name, a folder
to `datasets` and to a Windows trainer. Runs use the fake engine, whose caption names the
item it saw (`Saw <zip>::<member>; ...`), so every caption is checked against its picture."""

from __future__ import annotations

import io
import json
import re
import tarfile
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.images import base_names
from vlmcli.exports.names import distinct, webdataset_keys
from vlmcli.exports.records import Record
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, real_photo

runner = CliRunner()
MEMBERS = {"x/a.jpg": "astronaut", "x_a.jpg": "coffee", "x.a.jpg": "camera", "x_a_jpg.jpg": "chelsea"}
"""The first three flatten to the same `x_a_jpg`; the fourth's own name is `x_a_jpg_jpg`."""


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def jpeg(photo: str) -> bytes:
    buffer = io.BytesIO()
    real_photo(photo).convert("RGB").resize((64, 48)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def collide(tmp_path) -> tuple[Path, dict[str, bytes]]:
    """A run over a zip whose member names flatten alike; its members' bytes by name."""
    data = {name: jpeg(photo) for name, photo in MEMBERS.items()}
    archive = tmp_path / "collide.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, image in data.items():
            zipped.writestr(name, image)
    out = tmp_path / "run"
    assert caption_dir(archive, "-o", out)["ok"] == len(MEMBERS)
    return out, data


def export(run: Path, fmt: str, dest: Path, *flags: str, count: int = len(MEMBERS)) -> None:
    result = runner.invoke(app, ["export", str(run), "--to", fmt, "-o", str(dest), *flags])
    assert result.exit_code == 0, result.output
    assert f"Exported {count} records" in result.stderr


def member(caption: str) -> str:
    """The zip member the fake engine saw: `Saw /x/collide.zip::x/a.jpg; asked: ...` -> `x/a.jpg`."""
    found = re.search(r"::(.+?); asked", caption)
    assert found, caption
    return found.group(1)


def record(key: str, source: str = "/d/s.zip") -> Record:
    return Record(path=f"{source}::{key}", key=None, width=1, height=1, captions={}, source=source, source_key=key)


def test_names_are_distinct_keep_their_own_and_do_not_depend_on_order():
    keys = ["x/a.jpg", "x_a.jpg", "x.a.jpg", "x_a_jpg_1", "x_a_jpg_jpg"]  # `x_a_jpg_1` is one item's own name
    records = [record(k) for k in keys]
    names = base_names(records)
    assert len(set(names.values())) == len(records)
    assert names["/d/s.zip::x_a_jpg_1"] == "x_a_jpg_1" and names["/d/s.zip::x_a_jpg_jpg"] == "x_a_jpg_jpg"
    assert sorted(names[f"/d/s.zip::{k}"] for k in keys[:3]) == ["x_a_jpg", "x_a_jpg_2", "x_a_jpg_3"]
    assert base_names(records[::-1]) == names  # the same records always get the same names
    plain = Record(path="/d/x_a_jpg.png", key=None, width=1, height=1, captions={})
    mixed = base_names([*records, plain])  # an item's name plus its extension is never a file's name
    assert mixed[plain.path] == "x_a_jpg.png" and "x_a_jpg" not in {mixed[r.path] for r in records}


def test_distinct_numbers_before_the_extension_and_skips_names_others_want():
    assert distinct({"p1": "a.jpg", "p2": "a.jpg", "p3": "a_1.jpg"}) == {"p1": "a.jpg", "p2": "a_2.jpg", "p3": "a_1.jpg"}
    assert webdataset_keys(["a.jpg", "a.png", "a_1.jpg"]) == {"a.jpg": "a", "a.png": "a_2", "a_1.jpg": "a_1"}


def test_shard_folders_only_when_a_name_repeats_in_another_shard():
    one = base_names([record("x/a.jpg"), record("x_a.jpg")])
    assert sorted(one.values()) == ["x_a_jpg", "x_a_jpg_1"]  # one shard: no folder would tell them apart
    two = base_names([record("k", "/d/a.tar"), record("k", "/d/b.tar")])
    assert sorted(two.values()) == ["a/k", "b/k"]


def test_imagefolder_pairs_each_caption_with_its_own_picture(collide, tmp_path):
    datasets = pytest.importorskip("datasets")
    run, data = collide
    out = tmp_path / "if"
    export(run, "imagefolder", out)
    lines = [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]
    names = [line["file_name"] for line in lines]
    assert len(set(names)) == len(MEMBERS) == len([p for p in out.rglob("*.jpg")])
    for line in lines:
        assert (out / line["file_name"]).read_bytes() == data[member(line["caption"])]
    assert len(datasets.load_dataset("imagefolder", data_dir=str(out), split="train")) == len(MEMBERS)


def test_webdataset_loads_with_one_key_per_item(collide, tmp_path):
    wds = pytest.importorskip("webdataset")
    run, data = collide
    out = tmp_path / "wds"
    export(run, "webdataset", out)
    with tarfile.open(out / "00000.tar") as tar:
        members = tar.getnames()
    assert len(members) == len(set(members)) == 3 * len(MEMBERS)
    samples = list(wds.WebDataset(str(out / "00000.tar"), shardshuffle=False))
    assert len({s["__key__"] for s in samples}) == len(MEMBERS)
    for sample in samples:
        assert sample["jpg"] == data[member(sample["txt"].decode())]
        assert json.loads(sample["json"])["source_key"] == member(sample["txt"].decode())


def test_parquet_jsonl_and_txt_name_each_item_once(collide, tmp_path):
    import pyarrow.parquet as pq

    run, data = collide
    export(run, "parquet", tmp_path / "pq")
    rows = pq.read_table(next((tmp_path / "pq").glob("*.parquet"))).to_pylist()
    assert len({r["file_name"] for r in rows}) == len(MEMBERS)
    assert all(r["image"]["bytes"] == data[member(r["caption"])] and r["image"]["path"] == r["file_name"] for r in rows)
    export(run, "jsonl", tmp_path / "all.jsonl")
    lines = [json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()]
    assert len({line["image_path"] for line in lines}) == len(MEMBERS)
    assert all(line["image_path"].endswith("::" + member(line["caption"])) for line in lines)
    export(run, "txt", tmp_path / "txt", "--with-images")
    texts = sorted((tmp_path / "txt").rglob("*.txt"))
    assert len(texts) == len(MEMBERS)
    for text in texts:
        assert text.with_suffix(".jpg").read_bytes() == data[member(text.read_text())]


def test_windows_paths_in_a_utf16_tsv_export_without_backslashes(tmp_path):
    datasets = pytest.importorskip("datasets")
    (tmp_path / "images").mkdir()
    photos = {"img030.png": "coffee", "img031.png": "chelsea"}
    for name, photo in photos.items():
        real_photo(photo).resize((40, 30)).save(tmp_path / "images" / name)
    rows = ["file_name", *(f"images\\{name}" for name in photos)]
    (tmp_path / "win.tsv").write_text("\n".join(rows) + "\n", encoding="utf-16")
    run = tmp_path / "run"
    assert caption_dir(tmp_path / "win.tsv", "-o", run)["ok"] == 2
    out = tmp_path / "if"
    export(run, "imagefolder", out, count=2)
    names = [json.loads(line)["file_name"] for line in (out / "metadata.jsonl").read_text().splitlines()]
    exported = {"images_img030_png.png": "img030.png", "images_img031_png.png": "img031.png"}  # as `images/img030.png` is
    assert sorted(names) == sorted(exported)
    assert all((out / name).read_bytes() == (tmp_path / "images" / exported[name]).read_bytes() for name in names)
    assert len(datasets.load_dataset("imagefolder", data_dir=str(out), split="train")) == 2
    export(run, "webdataset", tmp_path / "wds", count=2)
    with tarfile.open(tmp_path / "wds" / "00000.tar") as tar:
        assert sorted(tar.getnames()) == sorted(f"images_img03{n}_png.{ext}" for n in "01" for ext in ("png", "json", "txt"))


def test_zip_members_named_with_backslashes_export_without_them(tmp_path):
    import pyarrow.parquet as pq

    archive = tmp_path / "win.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("imgs\\a.jpg", jpeg("astronaut"))  # as a Windows zip tool may write it
        zipped.writestr("imgs/b.jpg", jpeg("coffee"))
    run = tmp_path / "run"
    assert caption_dir(archive, "-o", run)["ok"] == 2
    expected = ["imgs_a_jpg.jpg", "imgs_b_jpg.jpg"]
    export(run, "imagefolder", tmp_path / "if", count=2)
    lines = (tmp_path / "if" / "metadata.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["file_name"] for line in lines) == expected
    export(run, "webdataset", tmp_path / "wds", count=2)
    with tarfile.open(tmp_path / "wds" / "00000.tar") as tar:
        assert sorted(tar.getnames()) == sorted(f"imgs_{n}_jpg.{ext}" for n in "ab" for ext in ("jpg", "json", "txt"))
    export(run, "parquet", tmp_path / "pq", count=2)
    table = pq.read_table(next((tmp_path / "pq").glob("*.parquet")))
    assert sorted(table.column("file_name").to_pylist()) == expected
    export(run, "txt", tmp_path / "txt", count=2)
    assert sorted(p.name for p in (tmp_path / "txt").iterdir()) == ["imgs_a_jpg.txt", "imgs_b_jpg.txt"]


def test_a_prompt_name_may_be_the_prompt_as_typed_without_its_stated_constraint():
    """`--prompt-name io='Indoor or outdoor?'` did not match a run whose prompt had its choice
    stated on a second line ("Answer with exactly one of: ..."): only `#N` or the whole text did."""
    from vlmcli.errors import ConfigError
    from vlmcli.exports.records import ColumnNaming, column_names

    prompts = ["Describe.", "Indoor or outdoor?\nAnswer with exactly one of: indoor, outdoor."]
    naming = ColumnNaming.parse(caption_column="caption", prompt_names=["io=Indoor or outdoor?"])
    assert column_names(prompts, naming) == {prompts[0]: "caption_1", prompts[1]: "io"}
    ambiguous = ["Which?\nAnswer with exactly one of: a, b.", "Which?\nAnswer with exactly one of: c, d."]
    with pytest.raises(ConfigError, match="matches none of the run's prompts"):
        column_names(ambiguous, ColumnNaming.parse(caption_column="caption", prompt_names=["w=Which?"]))
