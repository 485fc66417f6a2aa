"""`ShardedSink.resume_state` finding the error rows of inputs no longer there
(`ResumeIndex.gone_errors`), asked the way the runs ask it: counted once however many
questions, dropped by `retire`, a file still on disk kept under any stored spelling."""

from __future__ import annotations

import os
from pathlib import Path

from vlmcli.exports.results import read_results
from vlmcli.media.names import utf8_text
from vlmcli.sinks import OutputFormat, SinkConfig, make_sink
from vlmcli.sinks.schema import FIELDS

HASHES = frozenset({"c1"})


def row(path: str, *, status: str = "error", config: str = "c1") -> dict:
    from datetime import datetime, timezone

    ok = status == "ok"
    values = {"key": "k" if ok else None, "path": path, "status": status, "error": None if ok else "broken",
              "caption": "a cat" if ok else None, "prompt": "Describe.", "model": "m", "config_hash": config,
              "created_at": datetime(2026, 1, 2, tzinfo=timezone.utc)}  # fmt: skip
    return {name: values.get(name) for name in FIELDS}


def sink(out: Path, **kwargs):
    return make_sink(OutputFormat.JSONL, SinkConfig(output=out, **kwargs))


def written(out: Path, rows: list[dict], **kwargs) -> None:
    with sink(out, **kwargs) as s:
        s.write(rows)


def test_an_older_shards_escaped_name_is_kept_while_its_file_is_there(tmp_path):
    """Shards written before `path_bytes` hold a non-UTF-8 name escaped (`caf\\xe9.jpg`): a file
    left out of this run but still on disk is not taken for a deleted one."""
    pics, out = tmp_path / "pics", tmp_path / "out"
    pics.mkdir()
    real = os.fsdecode(os.fsencode(str(pics)) + b"/caf\xe9.jpg")
    Path(real).write_bytes(b"not a picture")
    written(out, [row(utf8_text(real)), row(str(pics / "deleted.jpg")), row(str(pics / "gone-ok.jpg"), status="ok")])
    state = sink(out).resume_state(paths=[], config_hashes=HASHES, folders=[str(pics)])
    assert state.gone == 1  # deleted.jpg's error row; never an ok row
    os.unlink(real)
    assert sink(out).resume_state(paths=[], config_hashes=HASHES, folders=[str(pics)]).gone == 2


def test_counted_once_across_questions_and_dropped_by_retire_from_own_shards_only(tmp_path):
    pics, out = tmp_path / "pics", tmp_path / "out"
    pics.mkdir()
    shard = str(tmp_path / "data.tar")
    Path(shard).write_bytes(b"")
    written(out, [row(str(pics / "a.jpg")), row(f"{shard}::k1#dup1"), row(f"{shard}::k2"), row(str(pics / "x.jpg"), config="c2")])
    written(out, [row(str(pics / "b.jpg"))], label="s1of2")  # another --shard job's
    mine = sink(out)
    first = mine.resume_state(paths=[f"{shard}::k2"], config_hashes=HASHES, folders=[str(pics), str(pics) + "/"])
    assert first.gone == 2  # a.jpg, b.jpg (this unsharded run owns every shard); x.jpg has other settings
    again = mine.resume_state(paths=[f"{shard}::k2"], config_hashes=HASHES, folders=[str(pics)], read_fully=[shard])
    assert again.gone == 1  # k1#dup1 only: the folder's are counted already
    assert mine.resume_state(paths=[f"{shard}::k2"], config_hashes=HASHES, folders=[str(pics)], read_fully=[shard]).gone == 0
    mine.retire(set())
    assert sorted(Path(r["path"]).name for r in read_results(out)) == ["data.tar::k2", "x.jpg"]

    written(out, [row(str(pics / "c.jpg"))])
    written(out, [row(str(pics / "d.jpg"))], label="s1of2")
    job = sink(out, label="s1of2")
    assert job.resume_state(paths=[], config_hashes=HASHES, folders=[str(pics)]).gone == 1  # d.jpg: its own
    job.retire(set())
    assert "c.jpg" in {Path(r["path"]).name for r in read_results(out)}


def test_nothing_is_looked_for_without_folders_or_shards_read(tmp_path):
    pics, out = tmp_path / "pics", tmp_path / "out"
    pics.mkdir()
    written(out, [row(str(pics / "deleted.jpg"))])
    assert sink(out).resume_state(paths=[], config_hashes=HASHES).gone == 0  # a --files-from or --glob run
    assert sink(out).resume_state(paths=[], config_hashes=HASHES, folders=[str(tmp_path / "other")]).gone == 0
