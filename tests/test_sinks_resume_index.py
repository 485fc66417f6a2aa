"""The resume index: an output folder is read once per run, whatever the number of
questions (a dataset run asks once per input shard), and it follows the run's own rows and
the shards `retire` rewrites, so every answer is the one a fresh read would give."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.sinks import OutputFormat, SinkConfig, make_sink
from vlmcli.sinks.identity import resolved_path
from vlmcli.sinks.resume_index import ResumeIndex
from vlmcli.sinks.schema import RowId
from vlmcli.sinks.shard_files import shard_files
from vlmcli.sinks.shards import ShardedSink
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import write_webdataset


def row(path: str, *, key: str | None = "k", status: str = "ok", config: str = "c1") -> dict:
    from datetime import datetime, timezone

    from vlmcli.sinks import FIELDS

    ok = status == "ok"
    values = {"key": key, "path": path, "status": status, "error": None if ok else "broken", "caption": "a cat" if ok else None,
              "prompt": "Describe.", "model": "m", "config_hash": config, "created_at": datetime(2026, 1, 2, tzinfo=timezone.utc)}  # fmt: skip
    return {name: values.get(name) for name in FIELDS}


def sink(fmt: OutputFormat, folder, **kwargs):
    return make_sink(fmt, SinkConfig(output=folder, **kwargs))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_a_dataset_run_reads_the_output_once_however_many_shards(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    write_webdataset(tmp_path / "wds", sample_photos()[:3], shards=4)  # a broken item per shard
    out = tmp_path / "out"
    args = ["caption-dir", str(tmp_path / "wds"), "-o", str(out), "-q", "--json", "--rows-per-file", "2"]
    first = json.loads(CliRunner().invoke(app, args).stdout)
    assert first["ok"] == 8 and first["error"] == 4 and first["captioned"] == 2  # later shards: copies
    published = len(shard_files(out, "parquet"))
    reads, asked = [], []
    real_read, real_state = ShardedSink._read, ShardedSink.resume_state
    monkeypatch.setattr(ShardedSink, "_read", lambda self, shard: reads.append(shard.name) or real_read(self, shard))
    monkeypatch.setattr(ShardedSink, "resume_state", lambda self, **kw: asked.append(1) or real_state(self, **kw))
    again = json.loads(CliRunner().invoke(app, args).stdout)
    assert len(asked) == 4 and again["skipped"] == 8 and again["error"] == 4  # only the broken items redone
    assert len(set(reads[:published])) == published  # the index: each shard once, at the first question
    retired = reads[published:]  # then only shards holding error rows to redo, each once
    assert len(retired) == len(set(retired)) < published  # (reading the folder per input shard: 4 x published)
    rows = read_results(out)
    assert len(rows) == 12 and len({(r["path"], r["config_hash"]) for r in rows}) == 12  # exactly once


def test_the_index_follows_retired_rows_and_the_runs_own_rows(tmp_path):
    os.chdir(tmp_path)
    y = resolved_path("y.jpg")
    with sink(OutputFormat.JSONL, tmp_path / "out", rows_per_file=10) as out:  # one shard
        out.write([row("x.jpg", status="error"), row("y.jpg", key="ky"), row(y, key="ky"), row("z.jpg", status="error")])
    mine = sink(OutputFormat.JSONL, tmp_path / "out")
    x, z = resolved_path("x.jpg"), resolved_path("z.jpg")
    state = mine.resume_state(paths=[x], config_hashes=frozenset({"c1"}))
    assert state.failed == {(x, "c1"): True}
    mine.retire({(x, "c1")})  # the shard is rewritten: y's rows move up one place
    state = mine.resume_state(paths=[y, z], config_hashes=frozenset({"c1"}))
    assert state.done == {RowId(y, "ky", "c1")} and state.failed == {(z, "c1"): True}
    mine.retire(set())  # drops y's second row (two spellings of one item), not z's error row
    (shard,) = shard_files(tmp_path / "out", "jsonl")
    assert [(r["path"], r["status"]) for r in mine.read_file(shard)] == [("y.jpg", "ok"), ("z.jpg", "error")]
    mine.write([row("new.jpg", key="kn")])  # this run's row: a later question may copy it
    assert ("kn", "c1") in mine.resume_state(paths=[], config_hashes=frozenset({"c1"})).reusable
    mine.close()


def test_rows_of_other_settings_are_not_kept():
    index = ResumeIndex(config_hashes=frozenset({"c1"}), identity=lambda p: p)
    index.record([row("a.jpg"), row("b.jpg", config="c2", key="kb")])
    assert set(index.reusable) == {("k", "c1")}
    answer = index.state(["a.jpg", "b.jpg"], owns=lambda shard: True)
    assert answer.state.done == {RowId("a.jpg", "k", "c1")} and not answer.stale
