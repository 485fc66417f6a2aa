"""Kept columns keep their types in export's tables (parquet, imagefolder), as the input had them.

Before: `caption-dir --keep-columns` of a Parquet list<string> of tags, a struct (a bbox), a
list of structs came out of `vlm export --to parquet` and `--to imagefolder` as strings (each
value's JSON text); a trainer reading the export with `datasets` got `'["x", "y"]'` where its
input had `["x", "y"]`. Now each column has the one type its values have (lists, structs,
int64, float64, bool, text), and only a column with no one type (an integer in one row, text
in another) is JSON text, which the export's summary says."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.kept import kept_columns
from vlmcli.exports.kept_table import table_columns, table_fields
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, real_photo

runner = CliRunner()
BBOX = pa.struct([("x", pa.float64()), ("y", pa.float64()), ("label", pa.string())])
NESTED = pa.list_(pa.struct([("k", pa.int64()), ("v", pa.list_(pa.string()))]))
COLUMNS = {
    "id": (pa.string(), ["a", "b", "c"]),
    "tags": (pa.list_(pa.string()), [["x", "y"], [], None]),
    "bbox": (BBOX, [{"x": 1.5, "y": 2.0, "label": "cat"}, None, {"x": 0.0, "y": 3.25, "label": "dog"}]),
    "count": (pa.int64(), [1, None, 3]),
    "score": (pa.float64(), [0.5, 1.0, None]),
    "flag": (pa.bool_(), [True, None, False]),
    "nested": (NESTED, [[{"k": 1, "v": ["p"]}], [], [{"k": 2, "v": []}]]),
}
KEEP = ",".join(COLUMNS)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def jpeg(photo: str) -> bytes:
    buffer = io.BytesIO()
    real_photo(photo).convert("RGB").resize((48, 32)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def run(tmp_path) -> Path:
    """A caption run of a Parquet table: an image column, then every kind of kept column."""
    images = [{"bytes": jpeg(p), "path": f"{i}.jpg"} for i, p in enumerate(("astronaut", "coffee", "chelsea"))]
    table = pa.table(
        {"image": pa.array(images, pa.struct([("bytes", pa.binary()), ("path", pa.string())]))}
        | {name: pa.array(values, kind) for name, (kind, values) in COLUMNS.items()}
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "data.parquet")
    assert caption_dir(tmp_path / "in", "-o", tmp_path / "run", "--keep-columns", KEEP)["ok"] == 3
    return tmp_path / "run"


def export(run: Path, fmt: str, dest: Path, *flags: str):
    result = runner.invoke(app, ["export", str(run), "--to", fmt, "-o", str(dest), *flags])
    assert result.exit_code == 0, result.output
    return result


def as_input(items: list[dict]) -> None:
    """Every item's kept values are the input's, row for row (matched by `id`)."""
    rows = {item["id"]: item for item in items}
    assert sorted(rows) == ["a", "b", "c"]
    for name, (_, values) in COLUMNS.items():
        assert [rows[i][name] for i in "abc"] == values, name


def test_parquet_export_has_the_inputs_column_types(run, tmp_path):
    export(run, "parquet", tmp_path / "pq")
    table = pq.read_table(next((tmp_path / "pq").glob("train-*.parquet")))
    for name, (kind, _) in COLUMNS.items():
        assert table.schema.field(name).type.equals(kind, check_metadata=False), (name, table.schema.field(name).type)
    as_input(table.to_pylist())


def test_parquet_and_imagefolder_load_typed_with_datasets(run, tmp_path):
    datasets = pytest.importorskip("datasets")
    export(run, "parquet", tmp_path / "pq")
    export(run, "imagefolder", tmp_path / "if")
    table = datasets.load_dataset("parquet", data_files=str(tmp_path / "pq" / "*.parquet"), split="train")
    folder = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "if"), split="train")
    for loaded in (table, folder):
        assert loaded.features["tags"] == datasets.List(datasets.Value("string"))
        assert loaded.features["bbox"] == {"x": datasets.Value("float64"), "y": datasets.Value("float64"),
                                           "label": datasets.Value("string")}  # fmt: skip
        assert loaded.features["count"] == datasets.Value("int64") and loaded.features["flag"] == datasets.Value("bool")
        assert loaded.features["nested"] == datasets.List({"k": datasets.Value("int64"),
                                                            "v": datasets.List(datasets.Value("string"))})  # fmt: skip
        as_input(list(loaded))
        assert loaded[0]["image"].size == (48, 32)


def test_jsonl_and_webdataset_keep_them_as_before(run, tmp_path):
    wds = pytest.importorskip("webdataset")
    export(run, "jsonl", tmp_path / "all.jsonl")
    export(run, "webdataset", tmp_path / "wds")
    as_input([json.loads(line) for line in (tmp_path / "all.jsonl").read_text().splitlines()])
    samples = wds.WebDataset(str(tmp_path / "wds" / "00000.tar"), shardshuffle=False)
    as_input([json.loads(sample["json"]) for sample in samples])


@pytest.fixture
def mixed_run(tmp_path) -> Path:
    """A webdataset whose `.json` sidecars disagree: `n` an integer in one key and text in
    another (null in a third), `box` an object or a list, `score` an integer or a number."""
    sidecars = [{"n": 1, "box": {"x": 1}, "score": 1}, {"n": "two", "box": [1, 2], "score": 2.5}, {"n": None, "score": None}]
    shard = tmp_path / "in" / "00000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for i, (photo, meta) in enumerate(zip(("astronaut", "coffee", "chelsea"), sidecars)):
            for ext, data in (("jpg", jpeg(photo)), ("json", json.dumps({"id": "abc"[i]} | meta).encode())):
                info = tarfile.TarInfo(f"{i:09d}.{ext}")
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    assert caption_dir(shard, "-o", tmp_path / "run", "--keep-columns", "id,n,box,score")["ok"] == 3
    return tmp_path / "run"


def test_a_column_of_mixed_types_is_json_text_and_the_summary_says_why(mixed_run, tmp_path):
    datasets = pytest.importorskip("datasets")
    from vlmcli.exports.formats.base import ExportOptions
    from vlmcli.exports.records import join_rows
    from vlmcli.exports.registry import exporter_class
    from vlmcli.exports.results import read_results
    from vlmcli.sinks.kept_types import load_kept_types

    joined = join_rows(read_results(mixed_run), kept_types=load_kept_types(mixed_run))
    for fmt in ("parquet", "imagefolder"):
        summary = exporter_class(fmt)(ExportOptions()).export(joined, tmp_path / fmt)
        assert summary.kept_as_json == {"n": "integer and text values", "box": "list and object values"}
    table = datasets.load_dataset("parquet", data_files=str(tmp_path / "parquet" / "*.parquet"), split="train")
    folder = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "imagefolder"), split="train")
    for loaded in (table, folder):
        rows = {row["id"]: row for row in loaded}
        assert [rows[i]["n"] for i in "abc"] == ["1", '"two"', None]  # JSON text: json.loads reads each back
        assert [rows[i]["box"] for i in "abc"] == ['{"x": 1}', "[1, 2]", None]
        assert [rows[i]["score"] for i in "abc"] == [1.0, 2.5, None] and loaded.features["score"].dtype == "float64"
    export(mixed_run, "parquet", tmp_path / "cli")  # the command runs through it too


def test_one_type_from_many_rows():
    kept = {c: c for c in ("a", "b", "c", "d", "e", "f", "g")}
    rows = [
        {"a": [1, 2], "b": {"x": 1}, "c": True, "d": 2**63, "e": {}, "f": [[]], "g": -1},
        {"a": [2.5], "b": {"y": "s"}, "c": 1, "d": 5, "e": {}, "f": [["t"]], "g": 2**63},
    ]
    columns = table_columns(rows, kept, opens_file_fields=False)
    assert str(columns["a"].arrow_type()) == "list<item: double>" and columns["a"].mixed is None
    assert table_fields(rows[0], kept, columns)["a"] == [1.0, 2.0]
    assert str(columns["b"].arrow_type()) == "struct<x: int64, y: string>"
    assert table_fields(rows[0], kept, columns)["b"] == {"x": 1, "y": None}  # every row has every field
    assert columns["c"].mixed == "boolean and integer values"  # never True read as 1
    assert str(columns["d"].arrow_type()) == "uint64"  # a 64-bit hash
    assert columns["e"].mixed == "objects with no fields"  # Parquet cannot hold them
    assert str(columns["f"].arrow_type()) == "list<item: list<item: string>>"
    assert columns["g"].mixed == "negative integers and integers of 2**63 or more"
    assert columns["b"].feature() == {"x": {"dtype": "int64", "_type": "Value"}, "y": {"dtype": "string", "_type": "Value"}}


def test_a_file_field_in_an_object_is_not_opened_by_imagefolder():
    """`datasets`' imagefolder opens every `file_name` / `*_file_name(s)` field as an image file,
    inside a struct too: such a column is JSON text there (Parquet keeps it typed), and a kept
    column named `*_file_names` gets `_kept`, as `*_file_name` does."""
    rows = [{"meta": {"orig_file_name": "x.jpg", "n": 1}}]
    assert table_columns(rows, {"meta": "meta"}, opens_file_fields=False)["meta"].mixed is None
    mixed = table_columns(rows, {"meta": "meta"}, opens_file_fields=True)["meta"].mixed
    assert mixed == "an object field 'orig_file_name', which datasets' imagefolder would open as an image file"
    assert kept_columns([{"crop_file_names": ["a"]}], taken={"file_name"}) == {"crop_file_names": "crop_file_names_kept"}


def test_a_type_first_seen_past_datasets_first_chunk_still_loads(tmp_path, monkeypatch):
    """`datasets` types metadata.jsonl from its first 10 MiB: tags empty, a struct's field null
    and a number null in every record there, then a value, failed the load ("Couldn't cast
    array of type string to null"). The record with those values is written first."""
    datasets = pytest.importorskip("datasets")
    from vlmcli.exports.formats import imagefolder
    from vlmcli.exports.formats.base import ExportOptions
    from vlmcli.exports.records import Joined, Record

    (tmp_path / "img").mkdir()
    real_photo("coffee").convert("RGB").resize((8, 8)).save(tmp_path / "img" / "0.png")
    records = []
    for i in range(400):  # 400 x 30 KB of captions: 12 MB of metadata
        (tmp_path / "img" / f"{i}.png").write_bytes((tmp_path / "img" / "0.png").read_bytes())
        late = i == 399
        extra = {"tags": ["x"] if late else [], "box": {"k": i, "note": "hi" if late else None}, "n": 5 if late else None}
        records.append(Record(path=str(tmp_path / "img" / f"{i}.png"), key=None, width=8, height=8,
                              captions={"caption": f"{i} " + "w" * 30_000}, extra=extra))  # fmt: skip
    joined = Joined(records=records, columns={"caption": "p"}, kept={"tags": "tags", "box": "box", "n": "n"})
    imagefolder.ImagefolderExporter(ExportOptions()).export(joined, tmp_path / "if")
    loaded = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "if"), split="train")
    assert len(loaded) == 400 and loaded.features["tags"] == datasets.List(datasets.Value("string"))
    assert loaded[0]["tags"] == ["x"] and loaded[0]["box"] == {"k": 399, "note": "hi"} and loaded[0]["n"] == 5
    assert [row["caption"].split()[0] for row in loaded.select(range(1, 4))] == ["0", "1", "2"]  # path order else
    monkeypatch.setattr(imagefolder, "TYPE_WINDOW", 1 << 40)  # a small export: nothing moves
    assert imagefolder.types_first(joined, imagefolder.table_columns(
        (r.extra for r in records), joined.kept, opens_file_fields=True)) == records  # fmt: skip
