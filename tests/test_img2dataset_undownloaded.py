"""img2dataset keeps a row for every URL it could not fetch (`status` failed_to_download, a
null image, `error_message`). Such an item can never be captioned: it gets no row, is not
retried, and is counted apart; an error row an earlier version wrote for it is removed.

Before: each was an error row ("img2dataset: failed_to_download: HTTP Error 404") retried
on every rerun, so caption-dir over any real img2dataset output exited 9 forever."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.table_shard import table_items
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:3]
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
NOTE = "2 items img2dataset could not download (skipped; see the shard's status/error_message)"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def write_shards(folder: Path) -> list[Path]:
    """Two img2dataset parquet shards: 3 pictures and one failed download each."""
    folder.mkdir(parents=True)
    paths = []
    for shard in range(2):
        keys = [f"{shard:05d}{i:04d}" for i in range(4)]
        table = pa.table({
            "key": keys,
            "jpg": [*(jpeg_bytes(p) for p in PHOTOS), None],
            "caption": [f"alt {k}" for k in keys],
            "status": ["success"] * 3 + ["failed_to_download"],
            "error_message": [None] * 3 + ["HTTP Error 404: Not Found"],
        })  # fmt: skip
        paths.append(folder / f"{shard:05d}.parquet")
        pq.write_table(table, paths[-1])
    return paths


def run(*args: object) -> tuple[int, dict, str]:
    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])
    return result.exit_code, json.loads(result.stdout) if result.stdout else {}, result.stderr


def test_the_item_says_why_and_is_marked(tmp_path):
    shard = write_shards(tmp_path / "pq")[0]
    *got, lost = table_items(shard, ColumnChoice())
    assert all(i.data is not None and not i.undownloaded for i in got)
    assert lost.undownloaded and lost.data is None
    assert lost.error == f"{shard}::000000003: no image in this row (img2dataset: failed_to_download: HTTP Error 404: Not Found)."


def test_a_failed_download_is_counted_not_an_error_row(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    write_shards(tmp_path / "pq")
    out = tmp_path / "out"
    code, summary, stderr = run(tmp_path / "pq", "-o", out)
    assert (code, summary["ok"], summary["error"], summary["undownloaded"], summary["files"]) == (0, 6, 0, 2, 6)
    assert NOTE in stderr
    rows = read_results(out)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    code, again, stderr = run(tmp_path / "pq", "-o", out)
    assert (code, again["ok"], again["error"], again["skipped"], again["undownloaded"]) == (0, 0, 0, 6, 2)
    assert NOTE in stderr and len(read_results(out)) == 6


def test_error_rows_of_an_earlier_version_are_removed_and_not_retried(monkeypatch, tmp_path):
    import vlmcli.captions.datasets_run as datasets_run

    fake = install_fake_engine(monkeypatch)
    write_shards(tmp_path / "pq")
    out = tmp_path / "out"
    probe = datasets_run.item_probe
    with monkeypatch.context() as patch:  # as before: the failed download is an error row
        old_probe = lambda path, item, **kw: probe(path, dataclasses.replace(item, undownloaded=False), **kw)  # noqa: E731
        patch.setattr(datasets_run, "item_probe", old_probe)
        code, summary, _ = run(tmp_path / "pq", "-o", out)
    assert (code, summary["error"]) == (9, 2)
    assert sum(r["status"] == "error" for r in read_results(out)) == 2
    calls = len(fake.engine.calls)
    code, again, _ = run(tmp_path / "pq", "-o", out)
    assert (code, again["ok"], again["error"], again["skipped"], again["undownloaded"]) == (0, 0, 0, 6, 2)
    assert len(fake.engine.calls) == calls
    rows = read_results(out)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)  # `vlm report` agrees: no errors
    report = CliRunner().invoke(app, ["report", str(out), "-o", str(tmp_path / "r.html"), "--json"])
    assert report.exit_code == 0 and json.loads(report.stdout)["errors"] == 0


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the reference model is not in models/reference")
def test_the_dry_run_counts_them_apart(tmp_path):
    write_shards(tmp_path / "pq")
    args = ["--model", REFERENCE, "--max-tokens", "2", "--dry-run"]
    code, plan, _ = run(tmp_path / "pq", "-o", tmp_path / "out", *args)
    assert code == 0 and plan["undownloaded"] == 2 and plan["counts"]["unreadable"] == 0 and plan["known_errors"] == 0
    text = CliRunner().invoke(app, ["caption-dir", str(tmp_path / "pq"), "-o", str(tmp_path / "out"), *map(str, args)])
    assert f"prompts: 1; {NOTE}" in text.stderr
