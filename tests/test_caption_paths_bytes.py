"""caption-dir output names every file exactly, in valid UTF-8; `--format txt` names never clash.

Non-UTF-8 file names: `path` is readable UTF-8 text (`caf\\xe9.png`), `path_bytes` the exact
bytes (binary in Parquet, base64 in JSONL and in the `--json` summary), null/absent for
UTF-8 names; reruns recognise the file. `--txt-name filename` captions `chelsea.png` and
`chelsea.jpg` in one folder; the default `stem` makes both error rows, as README says.
"""

from __future__ import annotations

import base64
import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo
from vlmcli.cli import app
from vlmcli.commands.caption_dir import EXIT_SOME_FAILED

runner = CliRunner()
LATIN1 = b"caf\xe9.png"  # a Latin-1 name, as old cameras and zip files leave them


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def invoke(*args: object):
    return runner.invoke(app, ["caption-dir", *map(str, args)])


@pytest.fixture
def folder(tmp_path) -> Path:
    root = tmp_path / "photos"
    root.mkdir()
    save_photo(root / "plain.png", "chelsea")
    save_photo(os.fsdecode(os.fsencode(root) + b"/" + LATIN1), "coffee")
    return root


def parquet_rows(out: Path) -> list[dict]:
    import pyarrow.parquet as pq

    return [r for f in sorted(out.glob("*.parquet")) for r in pq.read_table(f).to_pylist()]


def test_parquet_rows_keep_the_exact_bytes_and_resume(monkeypatch, folder, tmp_path):
    install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    assert invoke(folder, "-o", out, "-q").exit_code == 0
    rows = {r["path"]: r for r in parquet_rows(out)}
    exact = os.fsencode(folder) + b"/" + LATIN1
    latin = rows[os.fsdecode(os.fsencode(folder)) + "/caf\\xe9.png"]
    assert latin["path_bytes"] == exact and latin["status"] == "ok"
    assert rows[str(folder / "plain.png")]["path_bytes"] is None
    import pyarrow.parquet as pq

    schema = pq.read_schema(sorted(out.glob("*.parquet"))[0])
    assert str(schema.field("path_bytes").type) == "binary"
    fake = install_fake_engine(monkeypatch)
    again = invoke(folder, "-o", out, "--json", "-q")
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] == 2
    assert fake.engines == [] and len(parquet_rows(out)) == 2  # nothing redone, no second row


def test_jsonl_lines_are_utf8_with_base64_bytes(monkeypatch, folder, tmp_path):
    install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    assert invoke(folder, "-o", out, "--format", "jsonl", "-q").exit_code == 0
    (shard,) = out.glob("*.jsonl")
    records = [json.loads(line) for line in shard.read_bytes().decode("utf-8").splitlines()]  # strict UTF-8
    latin = next(r for r in records if r["path_bytes"] is not None)
    assert base64.b64decode(latin["path_bytes"]) == os.fsencode(folder) + b"/" + LATIN1
    assert latin["path"].endswith("caf\\xe9.png")
    assert next(r for r in records if r["path_bytes"] is None)["path"].endswith("plain.png")
    from vlmcli.sinks.jsonl import from_json_line

    read_back = [from_json_line(line) for line in shard.read_text("utf-8").splitlines()]
    assert {os.fsencode(r["path"]) for r in read_back} == {os.fsencode(folder / "plain.png"), os.fsencode(folder) + b"/" + LATIN1}


def test_json_summary_is_utf8_with_path_bytes_for_a_bad_latin1_file(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    root = tmp_path / "photos"
    root.mkdir()
    save_photo(root / "ok.png")
    bad = os.fsencode(root) + b"/broken-\xff.jpg"
    with open(bad, "wb") as handle:
        handle.write(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 10)
    result = runner.invoke(app, ["caption-dir", str(root), "-o", str(tmp_path / "out"), "--json", "-q"])
    assert result.exit_code == EXIT_SOME_FAILED
    raw = result.stdout_bytes
    raw.decode("utf-8")  # strict: no lone surrogates, no raw bytes
    assert b"\\udc" not in raw  # no surrogate escapes either: strict JSON parsers reject them
    (error,) = json.loads(raw)["errors"]
    assert base64.b64decode(error["path_bytes"]) == bad and error["path"].endswith("broken-\\xff.jpg")


def test_old_shards_without_path_bytes_still_resume(monkeypatch, tmp_path):
    """Shards written before the column existed are read with path_bytes null."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from vlmcli.sinks.schema import FIELDS, arrow_schema

    install_fake_engine(monkeypatch)
    root = tmp_path / "photos"
    root.mkdir()
    save_photo(root / "a.png")
    out = tmp_path / "out"
    assert invoke(root, "-o", out, "-q").exit_code == 0
    (shard,) = out.glob("*.parquet")
    table = pq.read_table(shard).drop_columns(["path_bytes"])
    old = pa.schema([f for f in arrow_schema() if f.name != "path_bytes"])
    pq.write_table(table.cast(old), shard)
    assert "path_bytes" not in pq.read_schema(shard).names
    fake = install_fake_engine(monkeypatch)
    again = invoke(root, "-o", out, "--json", "-q")
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] == 1 and fake.engines == []
    from vlmcli.sinks import OutputFormat, SinkConfig, make_sink

    rows = make_sink(OutputFormat.PARQUET, SinkConfig(output=out)).read_file(shard)
    assert list(rows[0]) == list(FIELDS) and rows[0]["path_bytes"] is None
    assert isinstance(rows[0]["created_at"], datetime) and rows[0]["created_at"].utcoffset().total_seconds() == 0


@pytest.fixture
def pair(tmp_path) -> Path:
    root = tmp_path / "pair"
    root.mkdir()
    save_photo(root / "chelsea.png", "chelsea")
    save_photo(root / "chelsea.jpg", "chelsea", quality=90)
    return root


def test_txt_stem_pair_are_both_errors_as_documented(monkeypatch, pair):
    fake = install_fake_engine(monkeypatch)
    result = invoke(pair, "--format", "txt")
    assert result.exit_code == EXIT_SOME_FAILED, result.output
    assert sorted(p.name for p in pair.iterdir()) == ["chelsea.jpg", "chelsea.png"]  # no caption file
    assert result.stderr.count("--txt-name filename") == 2
    assert fake.engines == []  # nothing to caption: the model is never loaded


def test_txt_name_filename_captions_both(monkeypatch, pair):
    install_fake_engine(monkeypatch)
    result = invoke(pair, "--format", "txt", "--txt-name", "filename", "-q")
    assert result.exit_code == 0, result.output
    made = sorted(p.name for p in pair.glob("*.txt"))
    assert made == ["chelsea.jpg.txt", "chelsea.png.txt"]
    assert "chelsea.jpg" in (pair / "chelsea.jpg.txt").read_text() and "chelsea.png" in (pair / "chelsea.png.txt").read_text()
    again = invoke(pair, "--format", "txt", "--txt-name", "filename", "--skip-existing", "--json", "-q")
    assert again.exit_code == 0 and json.loads(again.stdout)["skipped"] == 2


def test_txt_name_needs_txt_and_a_known_value(tmp_path, pair):
    result = invoke(pair, "-o", tmp_path / "out", "--txt-name", "filename")
    assert result.exit_code == 2 and "--txt-name applies to --format txt" in result.stderr
    assert invoke(pair, "--format", "txt", "--txt-name", "basename").exit_code == 2


def test_a_caption_file_never_replaces_another_input(tmp_path):
    from vlmcli.sinks import OutputFormat, SinkConfig, make_sink
    from vlmcli.sinks.base import TxtName

    photo, named_txt = str(tmp_path / "a.jpg"), str(tmp_path / "a.txt")  # an image whose name ends in .txt
    stem = make_sink(OutputFormat.TXT, SinkConfig(txt_name=TxtName.STEM)).preflight([photo, named_txt])
    assert "would replace the input" in stem[photo] and "replace the image itself" in stem[named_txt]
    by_name = make_sink(OutputFormat.TXT, SinkConfig(txt_name=TxtName.FILENAME)).preflight([photo, named_txt])
    assert by_name == {}


def test_txt_captions_for_names_near_the_file_system_limit(monkeypatch, tmp_path):
    """A 250-byte image name: its 250-byte caption name is legal, but the temp file
    `.<name>.txt.<pid>.tmp` was not, and the write error was lost ("Done: 1 ok", no file,
    never retried). With --txt-name filename a 255-byte name's caption file cannot exist: the
    run stopped before captioning anything ("unexpected OSError: File name too long")."""
    install_fake_engine(monkeypatch)
    root = tmp_path / "long"
    root.mkdir()
    near = save_photo(root / ("x" * 246 + ".jpg"), "coffee")
    longest = save_photo(root / ("y" * 251 + ".jpg"), "chelsea")
    save_photo(root / "short.jpg", "astronaut")
    result = invoke(root, "--format", "txt", "--json", "-q")
    assert result.exit_code == 0, result.output
    assert (root / ("x" * 246 + ".txt")).read_text().strip() and (root / ("y" * 251 + ".txt")).is_file()
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no temp file left
    by_name = invoke(root, "--format", "txt", "--txt-name", "filename", "--json", "-q")
    assert by_name.exit_code == EXIT_SOME_FAILED, by_name.output
    summary = json.loads(by_name.stdout)
    assert summary["ok"] == 2 and summary["error"] == 1
    (error,) = summary["errors"]
    assert error["path"] == str(longest) and "259 bytes, longer than this file system allows (255)" in error["error"]
    assert (root / (near.name + ".txt")).is_file() and (root / "short.jpg.txt").is_file()


def test_a_name_spelled_as_another_files_escaped_name_is_its_own_file(monkeypatch, tmp_path):
    """`caf\\xe9.png` (a backslash in the name) beside the Latin-1 `caf<E9>.png`: the first
    file's row was read back as the second's, so every rerun copied a row (3 rows for 2 files)."""
    root = tmp_path / "photos"
    root.mkdir()
    save_photo(os.fsdecode(os.fsencode(str(root)) + b"/" + LATIN1), "coffee")
    save_photo(root / "caf\\xe9.png", "chelsea")
    out = tmp_path / "out"
    install_fake_engine(monkeypatch)
    assert invoke(root, "-o", out, "-q").exit_code == 0
    for _ in range(2):
        fake = install_fake_engine(monkeypatch)
        again = invoke(root, "-o", out, "--json", "-q")
        summary = json.loads(again.stdout)
        assert (summary["skipped"], summary["ok"], summary["copied"]) == (2, 0, 0) and fake.engines == []
    rows = parquet_rows(out)
    assert len(rows) == 2 and sorted(r["path_bytes"] is None for r in rows) == [False, True]


def test_jsonl_export_keeps_the_bytes_of_a_name_that_is_not_utf8(monkeypatch, folder, tmp_path):
    """`vlm export --to jsonl` gave `caf\\xe9.png` as image_path, a name of no file, and no bytes."""
    install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    assert invoke(folder, "-o", out, "-q").exit_code == 0
    lines = tmp_path / "all.jsonl"
    assert runner.invoke(app, ["export", str(out), "--to", "jsonl", "-o", str(lines)]).exit_code == 0
    latin = [json.loads(line) for line in lines.read_text().splitlines() if "image_path_bytes" in line]
    assert len(latin) == 1 and os.path.exists(base64.b64decode(latin[0]["image_path_bytes"]))


def test_exported_names_open_where_loaders_look(monkeypatch, folder, tmp_path):
    """imagefolder wrote `caf\\xe9.png` (a backslash, read as a folder by `datasets`: the whole
    dataset failed on that image); webdataset named an extension-less JPEG `IMG_0001.img`,
    which WebDataset's decoders skip."""
    import tarfile

    save_photo(folder / "IMG_0001", "astronaut", format="JPEG")
    install_fake_engine(monkeypatch)
    out = tmp_path / "out"
    assert invoke(folder, "-o", out, "-q").exit_code == 0
    images = tmp_path / "images"
    assert runner.invoke(app, ["export", str(out), "--to", "imagefolder", "-o", str(images)]).exit_code == 0
    names = [json.loads(line)["file_name"] for line in (images / "metadata.jsonl").read_text().splitlines()]
    assert "caf_xe9.png" in names and all("\\" not in n and (images / n).is_file() for n in names)
    shards = tmp_path / "wds"
    assert runner.invoke(app, ["export", str(out), "--to", "webdataset", "-o", str(shards)]).exit_code == 0
    members = [m.name for shard in shards.glob("*.tar") for m in tarfile.open(shard)]
    assert "IMG_0001.jpg" in members and not [m for m in members if m.endswith(".img")]
