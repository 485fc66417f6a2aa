"""Parquet and JSONL shard sinks: fixed schema, numbered atomic shards, resume state, retiring errors."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from vlmcli.errors import ConfigError, OutputError
from vlmcli.sinks import FIELDS, OutputFormat, SinkConfig, make_sink
from vlmcli.sinks.identity import resolved_path
from vlmcli.sinks.schema import RowId, arrow_schema
from vlmcli.sinks.shard_files import parse_shard_name, shard_files, shard_name

FORMATS = [OutputFormat.PARQUET, OutputFormat.JSONL]


def row(path: str, *, key: str | None = "k", status: str = "ok", config: str = "c1", caption: str = "a cat") -> dict:
    return {
        "key": key,
        "path": path,
        "status": status,
        "error": None if status == "ok" else "broken",
        "caption": caption if status == "ok" else None,
        "prompt": "Describe.",
        "model": "m",
        "model_revision": None,
        "config_hash": config,
        "width": 4,
        "height": 3,
        "visual_tokens": 64 if status == "ok" else None,
        "prompt_tokens": 70 if status == "ok" else None,
        "completion_tokens": 5 if status == "ok" else None,
        "latency_ms": 12.5,
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc),
    }


def sink(fmt, folder, **kwargs):
    return make_sink(fmt, SinkConfig(output=folder, **kwargs))


@pytest.mark.parametrize("fmt", FORMATS)
def test_rows_round_trip_in_numbered_shards(fmt, tmp_path):
    rows = [row(f"{i}.jpg", key=f"k{i}") for i in range(5)] + [row("bad.jpg", key=None, status="error")]
    with sink(fmt, tmp_path, rows_per_file=4) as out:
        out.write(rows[:3])
        assert shard_files(tmp_path, fmt.value) == []  # buffered
        out.write(rows[3:])
    files = shard_files(tmp_path, fmt.value)
    assert [f.name for f in files] == [f"part-00000.{fmt.value}", f"part-00001.{fmt.value}"]
    back = [r for f in files for r in out.read_file(f)]
    assert back == rows
    assert list(back[0]) == list(FIELDS)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_parquet_schema_is_the_fixed_one(tmp_path):
    import pyarrow.parquet as pq

    with sink(OutputFormat.PARQUET, tmp_path) as out:
        out.write([row("a.jpg")])
    assert pq.read_schema(tmp_path / "part-00000.parquet").remove_metadata() == arrow_schema()


@pytest.mark.parametrize("fmt", FORMATS)
def test_numbering_continues_labels_separate_and_temp_files_are_ignored(fmt, tmp_path):
    with sink(fmt, tmp_path) as out:
        out.write([row("a.jpg")])
    (tmp_path / f".part-00001.{fmt.value}.host.999999.tmp").write_text("half a shard")
    with sink(fmt, tmp_path) as out:
        out.write([row("b.jpg")])
    with sink(fmt, tmp_path, label="s1of2") as out:
        out.write([row("c.jpg")])
    names = [f.name for f in shard_files(tmp_path, fmt.value)]
    assert names == [f"part-00000.{fmt.value}", f"part-00001.{fmt.value}", f"s1of2-part-00000.{fmt.value}"]
    paths = [resolved_path(p) for p in ("a.jpg", "b.jpg", "c.jpg")]
    state = sink(fmt, tmp_path).resume_state(paths=paths, config_hashes=frozenset({"c1"}))
    assert state.done == {RowId(p, "k", "c1") for p in paths}  # as resolved paths, whatever the label


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path):
    from vlmcli.sinks.shard_files import _host

    dead = tmp_path / f".part-00000.parquet.{_host()}.999999.tmp"
    other_host = tmp_path / ".part-00000.parquet.elsewhere.999999.tmp"
    (tmp_path / "x").mkdir()
    for p in (dead, other_host):
        p.write_text("x")
    with sink(OutputFormat.PARQUET, tmp_path) as out:
        out.write([row("a.jpg")])
    assert not dead.exists() and other_host.exists()


def test_a_taken_shard_name_is_never_overwritten(tmp_path):
    out = sink(OutputFormat.JSONL, tmp_path)
    out.write([row("a.jpg")])
    out.flush()
    (tmp_path / "part-00001.jsonl").write_text("another process's shard\n")
    out.write([row("b.jpg")])
    out.flush()
    assert (tmp_path / "part-00001.jsonl").read_text() == "another process's shard\n"
    assert [r["path"] for r in out.read_file(tmp_path / "part-00002.jsonl")] == ["b.jpg"]


def test_flush_after_flush_seconds(tmp_path):
    import time

    out = sink(OutputFormat.JSONL, tmp_path, rows_per_file=100, flush_seconds=0.05)
    time.sleep(0.06)
    out.write([row("a.jpg")])  # due at write: published now
    assert len(shard_files(tmp_path, "jsonl")) == 1
    out.write([row("b.jpg")])  # not due: buffered, then published by the timer with no further write
    assert len(shard_files(tmp_path, "jsonl")) == 1
    deadline = time.monotonic() + 5
    while len(shard_files(tmp_path, "jsonl")) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [r["path"] for f in shard_files(tmp_path, "jsonl") for r in out.read_file(f)] == ["a.jpg", "b.jpg"]
    out.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_resume_state_and_retiring_error_rows(fmt, tmp_path):
    with sink(fmt, tmp_path, rows_per_file=2) as out:
        out.write([row("ok.jpg"), row("bad.jpg", status="error"), row("bad2.jpg", status="error"), row("x", config="c2")])
    with sink(fmt, tmp_path, label="s0of2") as out:
        out.write([row("theirs.jpg", status="error")])
    mine = sink(fmt, tmp_path, label="s1of2")
    state = mine.resume_state(paths=["ok.jpg", "bad.jpg", "bad2.jpg", "theirs.jpg"], config_hashes=frozenset({"c1"}))
    assert state.done == {RowId("ok.jpg", "k", "c1")}
    assert set(state.reusable) == {("k", "c1")}
    # a sharded run may rewrite only its own label's files
    assert state.failed == {("bad.jpg", "c1"): False, ("bad2.jpg", "c1"): False, ("theirs.jpg", "c1"): False}
    unsharded = sink(fmt, tmp_path)
    state = unsharded.resume_state(paths=["bad.jpg", "theirs.jpg"], config_hashes=frozenset({"c1"}))
    assert state.failed == {("bad.jpg", "c1"): True, ("theirs.jpg", "c1"): True}
    unsharded.retire({("bad.jpg", "c1"), ("theirs.jpg", "c1")})
    left = sorted(r["path"] for f in shard_files(tmp_path, fmt.value) for r in unsharded.read_file(f))
    assert left == ["bad2.jpg", "ok.jpg", "x"]
    assert f"s0of2-part-00000.{fmt.value}" not in os.listdir(tmp_path)  # emptied shard removed


def test_unreadable_shard_is_a_clear_output_error(tmp_path):
    (tmp_path / "part-00000.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(OutputError, match="part-00000.parquet"):
        sink(OutputFormat.PARQUET, tmp_path).resume_state(paths=[], config_hashes=frozenset())


def test_output_must_be_a_folder_and_is_required(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        sink(OutputFormat.PARQUET, tmp_path / "file").resume_state(paths=[], config_hashes=frozenset())
    with pytest.raises(ConfigError, match="--output"):
        make_sink(OutputFormat.JSONL, SinkConfig())
    with pytest.raises(ConfigError):
        SinkConfig(rows_per_file=0)
    with pytest.raises(ConfigError):
        make_sink("csv", SinkConfig())


def test_shard_names_parse_back():
    assert shard_name(label="", number=3, extension="parquet") == "part-00003.parquet"
    assert parse_shard_name("s2of8-part-00012.jsonl") == ("s2of8", 12, "jsonl")
    assert parse_shard_name(".part-00000.parquet.host.1.tmp") is None
    assert parse_shard_name("../part-00000.parquet") is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_shards_written_before_the_notes_column_read_back_and_resume(fmt, tmp_path):
    """Shards of earlier versions have no `notes`: they read back with it null, resume from
    them, and a rewritten shard (retiring an error row) gets the whole schema."""
    import json

    import pyarrow.parquet as pq

    with sink(fmt, tmp_path) as out:
        out.write([row("ok.jpg"), row("bad.jpg", status="error")])
    (written,) = shard_files(tmp_path, fmt.value)
    if fmt is OutputFormat.PARQUET:
        table = pq.read_table(written)
        pq.write_table(table.drop_columns(["notes"]), written)
        assert "notes" not in pq.read_schema(written).names
    else:
        lines = [json.loads(line) for line in written.read_text().splitlines()]
        written.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "notes"}) + "\n" for r in lines))
    again = sink(fmt, tmp_path)
    back = again.read_file(written)
    assert [r["notes"] for r in back] == [None, None] and list(back[0]) == list(FIELDS)
    state = again.resume_state(paths=["ok.jpg", "bad.jpg"], config_hashes=frozenset({"c1"}))
    assert state.done == {RowId("ok.jpg", "k", "c1")}
    again.retire({("bad.jpg", "c1")})
    if fmt is OutputFormat.PARQUET:
        assert pq.read_schema(written).remove_metadata() == arrow_schema()
    assert [r["path"] for r in again.read_file(written)] == ["ok.jpg"]
