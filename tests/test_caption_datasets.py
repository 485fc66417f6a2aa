"""caption-dir over dataset inputs: img2dataset-style WebDataset tars (plain and gzip'd),
img2dataset Parquet shards, a Hugging Face `Image` Parquet and a `save_to_disk` folder,
each with a broken item. Rows carry source, source_key and kept columns; reruns by any
spelling (folder, brace list, relative path) skip everything."""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import write_hf_parquet, write_parquet_shards, write_save_to_disk, write_webdataset

runner = CliRunner()
PHOTOS = sample_photos()[:4]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def caption(*args, code: int = 9):
    result = runner.invoke(app, ["caption-dir", *map(str, args), "-q", "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tar.gz"])
def test_webdataset_folder_rows_resume_by_any_spelling(monkeypatch, tmp_path, gz):
    fake = install_fake_engine(monkeypatch)
    shards = write_webdataset(tmp_path / "wds", PHOTOS, shards=2, gz=gz)
    out = tmp_path / "out"
    summary = caption(tmp_path / "wds", "-o", out, "--keep-columns", "url,txt")
    assert summary["shards"] == 2 and summary["ok"] == 6 and summary["error"] == 2 and summary["files"] == 8
    rows = read_results(out)
    assert len(rows) == 8 and {r["source"] for r in rows} == {os.path.realpath(s) for s in shards}
    for row in rows:
        assert row["path"] == f"{row['source']}::{row['source_key']}"
        assert json.loads(row["extra"])["url"] == f"https://example.com/{row['source_key']}.jpg"
    broken = [r for r in rows if r["status"] == "error"]
    assert {r["source_key"] for r in broken} == {"000000002", "000010002"}
    os.chdir(tmp_path)
    suffix = ".tar.gz" if gz else ".tar"
    again = caption(f"wds/{{00000..00001}}{suffix}", "-o", "out")  # brace list, relative: the same shards
    assert again["skipped"] == 6 and again["error"] == 2 and again["ok"] == 0  # only the broken items retried
    assert not fake.engine.calls  # they fail to decode: no model call
    assert len(read_results(out)) == 8  # no duplicates


def test_parquet_img2dataset_layout_failed_download_is_counted_not_a_row(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    write_parquet_shards(tmp_path / "pq", PHOTOS, shards=2)
    out = tmp_path / "out"
    summary = caption(tmp_path / "pq", "-o", out, "--keep-columns", "caption", "--format", "jsonl")
    assert (summary["ok"], summary["error"], summary["undownloaded"]) == (6, 2, 2)  # the broken pictures; not the lost
    rows = read_results(out)
    assert not [r for r in rows if r["source_key"] == "000009999"]  # test_img2dataset_undownloaded.py
    assert {json.loads(r["extra"])["caption"] for r in rows} >= {"alt text 000000000"}


def test_hf_parquet_and_save_to_disk(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    parquet = write_hf_parquet(tmp_path / "hf" / "train.parquet", PHOTOS)
    summary = caption(parquet, "-o", tmp_path / "a", code=0)
    assert summary["ok"] == 4 and sorted(r["source_key"] for r in read_results(tmp_path / "a")) == [f"row-{i}" for i in range(4)]
    folder = write_save_to_disk(tmp_path / "saved", PHOTOS)
    summary = caption(folder, "-o", tmp_path / "b", "--image-column", "picture", code=0)
    assert summary["ok"] == 4


def test_same_image_in_two_shards_is_captioned_once(monkeypatch, tmp_path):
    fake = install_fake_engine(monkeypatch)
    write_webdataset(tmp_path / "wds", PHOTOS, shards=2, broken=False)  # shard 1 repeats shard 0's images
    caption(tmp_path / "wds", "-o", tmp_path / "out", code=0)
    asked = sum(len(requests) for requests, _ in fake.engine.calls)
    assert asked == 4 and len(read_results(tmp_path / "out")) == 8  # copies for the second shard


def test_truncated_shard_keeps_what_was_read_and_exits_9(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    good, bad = write_webdataset(tmp_path / "wds", PHOTOS, shards=2, broken=False)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["caption-dir", str(tmp_path / "wds"), "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 9
    summary = json.loads(result.stdout)
    assert len(summary["shard_errors"]) == 1 and "truncated" in summary["shard_errors"][0]
    assert "Error: " in result.stderr and str(bad) in result.stderr
    assert 4 < summary["ok"] < 8


def test_mixed_inputs_and_dataset_with_glob_are_refused(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    write_webdataset(tmp_path / "wds", PHOTOS, shards=1)
    photos = tmp_path / "photos"
    photos.mkdir()
    PHOTOS[0].save(photos / "a.jpg")
    result = runner.invoke(app, ["caption-dir", str(photos), str(tmp_path / "wds"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "Mixed inputs" in result.stderr
    forced = runner.invoke(app, ["caption-dir", str(tmp_path / "wds"), "--input-format", "files", "-o", str(tmp_path / "o2"), "-q"])
    assert forced.exit_code == 0 or "No images" in forced.stderr  # forced to files: the tars are not images


def test_url_rows_are_error_rows_not_hangs(monkeypatch, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    install_fake_engine(monkeypatch)
    pq.write_table(pa.table({"url": ["https://example.com/a.jpg"], "image": ["https://example.com/a.jpg"]}), tmp_path / "u.parquet")
    summary = caption(tmp_path / "u.parquet", "-o", tmp_path / "out")
    assert summary["error"] == 1 and "does not download" in read_results(tmp_path / "out")[0]["error"]


def test_webdataset_in_trainer_formats_out(monkeypatch, tmp_path):
    """The README's example: WebDataset shards in, captions joined back, out as new tars
    (images byte for byte), an imagefolder and a HF Parquet, each loaded by its library."""
    wds = pytest.importorskip("webdataset")
    datasets = pytest.importorskip("datasets")
    install_fake_engine(monkeypatch)
    write_webdataset(tmp_path / "in", PHOTOS, shards=2)
    caption(tmp_path / "in", "-o", tmp_path / "captions")
    originals = {s["__key__"]: s["jpg"] for s in wds.WebDataset(str(tmp_path / "in" / "{00000..00001}.tar"), shardshuffle=False)}
    result = runner.invoke(app, ["export", str(tmp_path / "captions"), "--to", "webdataset", "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Exported 6 records" in result.stderr and "2 error rows" in result.stderr
    samples = list(wds.WebDataset(str(tmp_path / "out" / "00000.tar"), shardshuffle=False))
    assert len(samples) == 6
    for sample in samples:  # the same keys, the same image bytes, a caption and the source
        meta = json.loads(sample["json"])
        assert sample["jpg"] == originals[sample["__key__"]] and sample["txt"] and meta["source_key"] == sample["__key__"]
    assert runner.invoke(app, ["export", str(tmp_path / "captions"), "--to", "imagefolder", "-o", str(tmp_path / "if")]).exit_code == 0
    ds = datasets.load_dataset("imagefolder", data_dir=str(tmp_path / "if"), split="train")
    assert len(ds) == 6 and all(item["caption"] for item in ds)
    assert runner.invoke(app, ["export", str(tmp_path / "captions"), "--to", "parquet", "-o", str(tmp_path / "pq")]).exit_code == 0
    hf = datasets.load_dataset("parquet", data_files=str(tmp_path / "pq" / "*.parquet"), split="train")
    assert len(hf) == 6 and hf[0]["image"].size[0] > 0


def test_two_runs_on_one_folder_the_second_is_refused_naming_the_holder(monkeypatch, tmp_path):
    import socket
    import subprocess
    import sys

    from vlmcli.sinks.lock import FolderLock

    install_fake_engine(monkeypatch)
    write_webdataset(tmp_path / "wds", PHOTOS, shards=1)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(  # another process holds the folder, as a running caption-dir would
        [sys.executable, "-c", f"from vlmcli.sinks.lock import FolderLock; import time\n"
         f"with FolderLock({str(out)!r}): print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        refused = runner.invoke(app, ["caption-dir", str(tmp_path / "wds"), "-o", str(out), "-q"])
        assert refused.exit_code == 8 and f"pid {holder.pid} on {socket.gethostname()}" in refused.stderr
        sharded = runner.invoke(app, ["caption-dir", str(tmp_path / "wds"), "-o", str(out), "-q", "--shard", "0/2"])
        assert sharded.exit_code == 8  # the holder is unsharded: it needs the folder to itself
    finally:
        holder.kill()
        holder.wait()
    # killed: the kernel released its lock, the next run takes over
    assert runner.invoke(app, ["caption-dir", str(tmp_path / "wds"), "-o", str(out), "-q"]).exit_code == 9
    with FolderLock(out, label="s0of2"), FolderLock(out, label="s1of2"):  # a job array shares the folder
        pass
