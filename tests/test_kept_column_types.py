"""Kept columns come back from `vlm export` with the Arrow types their input had.

Before: `caption-dir --keep-columns` kept values as JSON only, so a Parquet export typed them
from the JSON: int32 and int8 came back int64, float32 float64, a timestamp with its zone and a
date as text, a decimal as text, a column null in every row as string, and binary cells were
dropped (null) without a word. Now the run records each table shard's kept fields
(`.vlm-kept-types.json`), `json_safe` keeps bytes as base64 and times as ISO 8601 text, and a
Parquet export casts each column back; text formats keep the JSON forms. Outputs without the
record (older versions) export as before."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.columns import json_safe
from vlmcli.testing.fakes import caption_dir, install_fake_engine, isolate_env, real_photo

runner = CliRunner()
UTC = dt.timezone.utc
IMAGE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
COLUMNS = {
    "id": (pa.string(), ["a", "b", "c"]),
    "i32": (pa.int32(), [1, None, -3]),
    "i8": (pa.int8(), [7, 8, None]),
    "f32": (pa.float32(), [0.5, None, 2.25]),
    "ts": (pa.timestamp("us", tz="UTC"), [dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC), None, dt.datetime(1999, 12, 31, tzinfo=UTC)]),
    "day": (pa.date32(), [dt.date(2024, 2, 29), dt.date(1970, 1, 1), None]),
    "price": (pa.decimal128(10, 2), [Decimal("12.30"), None, Decimal("-0.05")]),
    "flag": (pa.bool_(), [True, False, None]),
    "blob": (pa.binary(), [b"\x00\xff raw", None, b""]),
    "ints": (pa.list_(pa.int32()), [[1, 2], [], None]),
    "box": (pa.struct([("x", pa.int16()), ("tag", pa.string())]), [{"x": 1, "tag": "p"}, None, {"x": -2, "tag": None}]),
    "cat": (pa.dictionary(pa.int32(), pa.string()), ["red", "blue", "red"]),
    "empty": (pa.null(), [None, None, None]),
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


def images() -> list[dict]:
    return [{"bytes": jpeg(p), "path": f"{i}.jpg"} for i, p in enumerate(("astronaut", "coffee", "chelsea"))]


def write_input(folder: Path, *, writer: str) -> Path:
    folder.mkdir()
    path = folder / "data.parquet"
    if writer == "pyarrow":
        table = pa.table(
            {"image": pa.array(images(), IMAGE)} | {name: pa.array(values, kind) for name, (kind, values) in COLUMNS.items()}
        )
        pq.write_table(table, path)
    else:  # pandas' own dtypes, written by `DataFrame.to_parquet`
        pd = pytest.importorskip("pandas")
        frame = pd.DataFrame({"image": images()} | {name: values for name, (_, values) in COLUMNS.items()})
        frame = frame.astype({"i32": "Int32", "i8": "Int8", "f32": "float32", "flag": "boolean", "cat": "category"})
        frame["ts"] = pd.to_datetime(frame["ts"], utc=True).astype("datetime64[us, UTC]")
        frame.to_parquet(path)
    return path


def run_of(tmp_path: Path, *, writer: str = "pyarrow") -> tuple[Path, Path]:
    data = write_input(tmp_path / "in", writer=writer)
    assert caption_dir(tmp_path / "in", "-o", tmp_path / "run", "--keep-columns", KEEP)["ok"] == 3
    return data, tmp_path / "run"


def export(run: Path, fmt: str, dest: Path) -> None:
    result = runner.invoke(app, ["export", str(run), "--to", fmt, "-o", str(dest)])
    assert result.exit_code == 0, result.output


def by_id(rows: list[dict]) -> dict[str, dict]:
    return {row["id"]: row for row in rows}


@pytest.mark.parametrize("writer", ["pyarrow", "pandas"])
def test_parquet_export_has_the_input_types_and_values(tmp_path, writer):
    data, run = run_of(tmp_path, writer=writer)
    export(run, "parquet", tmp_path / "pq")
    source = pq.read_table(data)
    exported = pq.read_table(next((tmp_path / "pq").glob("train-*.parquet")))
    for name in COLUMNS:
        assert exported.schema.field(name).type == source.schema.field(name).type, name
    want, got = by_id(source.to_pylist()), by_id(exported.to_pylist())
    for name in COLUMNS:
        assert [got[i][name] for i in "abc"] == [want[i][name] for i in "abc"], name
    assert got["a"]["blob"] == want["a"]["blob"]  # bytes, not dropped


def test_datasets_reads_the_export_as_it_reads_the_input(tmp_path):
    datasets = pytest.importorskip("datasets")
    data, run = run_of(tmp_path)
    export(run, "parquet", tmp_path / "pq")
    source = datasets.load_dataset("parquet", data_files=str(data), split="train")
    exported = datasets.load_dataset("parquet", data_files=str(tmp_path / "pq" / "*.parquet"), split="train")
    for name in COLUMNS:
        assert exported.features[name] == source.features[name], name
    row = by_id(list(exported))["a"]
    assert row["ts"] == dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC) and row["ts"].utcoffset() == dt.timedelta(0)
    assert row["price"] == Decimal("12.30") and row["blob"] == b"\x00\xff raw"


def test_text_formats_keep_json_forms_and_lose_nothing(tmp_path):
    _, run = run_of(tmp_path)
    export(run, "jsonl", tmp_path / "out.jsonl")
    rows = by_id([json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()])
    assert base64.b64decode(rows["a"]["blob"]) == b"\x00\xff raw" and rows["c"]["blob"] == ""
    assert dt.datetime.fromisoformat(rows["a"]["ts"]) == dt.datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    assert rows["a"]["day"] == "2024-02-29" and rows["a"]["price"] == "12.30" and rows["a"]["empty"] is None
    export(run, "imagefolder", tmp_path / "if")
    meta = by_id([json.loads(line) for line in (tmp_path / "if" / "metadata.jsonl").read_text().splitlines()])
    assert base64.b64decode(meta["a"]["blob"]) == b"\x00\xff raw" and meta["a"]["ts"].endswith("+00:00")


def test_imagefolder_loads_with_every_kept_column(tmp_path):
    datasets = pytest.importorskip("datasets")
    _, run = run_of(tmp_path)
    export(run, "imagefolder", tmp_path / "if")
    loaded = by_id(list(datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "if"), split="train")))
    assert set(COLUMNS) <= set(loaded["a"]) and loaded["a"]["i32"] == 1 and loaded["a"]["cat"] == "red"
    assert base64.b64decode(loaded["a"]["blob"]) == b"\x00\xff raw"


def test_output_without_recorded_types_exports_as_before(tmp_path):
    _, run = run_of(tmp_path)
    for path in run.glob(".vlm-kept-types*.json"):
        path.unlink()
    export(run, "parquet", tmp_path / "pq")
    schema = pq.read_schema(next((tmp_path / "pq").glob("train-*.parquet")))
    assert schema.field("i32").type == pa.int64() and schema.field("empty").type == pa.string()


def test_shards_of_other_types_are_typed_from_values_with_a_note(tmp_path):
    from vlmcli.commands._dataset_options import shard_readings
    from vlmcli.exports.formats.base import ExportOptions
    from vlmcli.exports.records import join_rows
    from vlmcli.exports.registry import exporter_class
    from vlmcli.exports.results import read_results
    from vlmcli.sinks.kept_types import load_kept_types

    (tmp_path / "in").mkdir()
    for i, kind in enumerate((pa.int32(), pa.int64())):
        table = pa.table({"image": pa.array(images()[i : i + 1], IMAGE), "n": pa.array([i + 1], kind)})
        pq.write_table(table, tmp_path / "in" / f"part{i}.parquet")
    assert caption_dir(tmp_path / "in", "-o", tmp_path / "run", "--keep-columns", "n")["ok"] == 2
    options = ExportOptions(readings=shard_readings(tmp_path / "run", None, None, None))
    joined = join_rows(read_results(tmp_path / "run"), kept_types=load_kept_types(tmp_path / "run"))
    summary = exporter_class("parquet")(options).export(joined, tmp_path / "pq")
    assert pq.read_schema(summary.files[0]).field("n").type == pa.int64()
    assert "int32 and int64" in summary.kept_notes["n"]
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--to", "parquet", "-o", str(tmp_path / "pq2"), "--json"])
    assert result.exit_code == 0, result.output
    assert "note: kept column 'n': its input shards hold it as int32 and int64" in result.stderr
    assert "int32 and int64" in json.loads(result.stdout)["kept_notes"]["n"]


def test_json_safe_keeps_bytes_and_times():
    assert json_safe(b"\x00\x01") == "AAE="
    assert json_safe({"t": dt.datetime(2024, 1, 1, tzinfo=UTC)}) == {"t": "2024-01-01T00:00:00+00:00"}
    assert json_safe([Decimal("1E+2"), dt.date(2024, 1, 2)]) == ["100", "2024-01-02"]


def test_keeping_the_image_column_of_pictures_is_refused(tmp_path):
    """The image column's pictures are captioned and exported anyway: kept, every row's extra
    would carry its picture again as base64 text (before bytes were kept, silently null)."""
    source = write_input(tmp_path / "in", writer="pyarrow")
    result = runner.invoke(app, ["caption-dir", str(source), "-o", str(tmp_path / "out"), "--keep-columns", "id,image"])
    assert result.exit_code == 2, result.output
    assert "--keep-columns image: it is" in result.stderr and "holds the pictures themselves" in result.stderr
    names = tmp_path / "names.csv"  # a column of file names may be kept
    names.write_text("image,id\n" + "".join(f"{tmp_path / 'p'}{i}.jpg,{i}\n" for i in range(2)))
    for i in range(2):
        (tmp_path / f"p{i}.jpg").write_bytes(jpeg("coffee"))
    kept = runner.invoke(app, ["caption-dir", str(names), "-o", str(tmp_path / "out2"), "--keep-columns", "image,id"])
    assert kept.exit_code == 0, kept.output
