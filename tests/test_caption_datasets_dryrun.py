"""caption-dir --dry-run on dataset inputs: samples per shard from metadata (no image
read), and the plan, visual tokens and measured time of the run, as for files: items done
by an earlier run are skipped, images repeated across shards are one request each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.counts import DatasetCounts
from vlmcli.inputs.expand import dataset_shards
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media import datasets

runner = CliRunner()
REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"
PHOTOS = sample_photos()[:3]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def invoke(*args: object):
    return runner.invoke(app, ["caption-dir", *map(str, args)])


@pytest.mark.parametrize(
    ("kind", "per_shard"),
    [("webdataset", [3, 3]), ("webdataset-gz", [3, 3]), ("img2dataset-parquet", [4, 4]), ("hf-parquet", [3]), ("save_to_disk", [3])],
)
def test_samples_per_shard_come_from_metadata(tmp_path, kind, per_shard):
    root = tmp_path / "data"
    if kind.startswith("webdataset"):
        datasets.write_webdataset(root, PHOTOS, shards=2, gz=kind.endswith("gz"))
    elif kind == "img2dataset-parquet":
        datasets.write_parquet_shards(root, PHOTOS, shards=2)  # + one failed download per shard
    elif kind == "hf-parquet":
        root = datasets.write_hf_parquet(root / "train.parquet", PHOTOS)
    else:
        datasets.write_save_to_disk(root, PHOTOS)
    counts = DatasetCounts.of(dataset_shards([str(root)]))
    assert [s.samples for s in counts.shards] == per_shard and counts.samples == sum(per_shard)
    assert counts.text().startswith(f"Dataset: {len(per_shard)} ")


def test_unreadable_metadata_is_unknown_not_a_failure(tmp_path):
    good, bad = datasets.write_webdataset(tmp_path / "wds", PHOTOS, shards=2)
    bad.write_bytes(bad.read_bytes()[:700])  # a header, then nothing
    counts = DatasetCounts.of(dataset_shards([str(tmp_path / "wds")]))
    assert [s.samples for s in counts.shards] == [3, None] and counts.samples is None
    assert "unknown samples by their metadata (00000.tar: 3, 00001.tar: ?)" in counts.text()
    dry = invoke(tmp_path / "wds", "-o", tmp_path / "out", "--model", REFERENCE, "--dry-run", "--max-tokens", "2")
    assert dry.exit_code == 0, dry.output
    assert f"Damaged shard: {bad}: the tar shard is damaged or truncated" in dry.stderr and "Inputs: 2 images, " in dry.stderr


def test_dataset_dry_run_plans_like_the_run_and_measures_a_batch(tmp_path):
    wds = tmp_path / "wds"
    datasets.write_webdataset(wds, PHOTOS, shards=2)  # shard 1 repeats shard 0's images; a broken item in each
    out = tmp_path / "out"
    common = ["-o", out, "--model", REFERENCE, "--max-tokens", "2", "--batch-size", "2", "-q"]
    dry = invoke(wds, *common, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dataset"]["samples"] == 6 and [s["samples"] for s in report["dataset"]["shards"]] == [3, 3]
    assert report["counts"] == {"images": 4, "unreadable": 2, "videos": 0, "videos_skipped": 0, "ignored": 0, "documents_skipped": 0, "animations": 0}
    assert report["rows"] == 6 and report["skipped"] == 0
    assert report["requests"] == 2 and report["known_errors"] == 2  # two photos; the broken bytes in each shard
    assert report["visual_tokens"] > 2 * 16 and report["batches"] == 1  # the broken items make no engine call
    assert report["estimate"]["source"].startswith("measured on 1 batch of ")
    broken = [f"{(wds / f'0000{i}.tar').resolve()}::0000{i}0001" for i in range(2)]  # why, as the error rows will say
    assert [f["path"] for f in report["unreadable_files"]] == broken
    assert all("damaged or truncated and cannot be decoded" in f["error"] for f in report["unreadable_files"])
    assert not out.exists()  # nothing written
    text = invoke(wds, *common[:-1], "--dry-run")
    assert "Dataset: 2 webdataset shards, 6 samples by their metadata (00000.tar: 3, 00001.tar: 3)" in text.stderr
    assert "Inputs: 4 images, 2 unreadable" in text.stderr and "Estimated time:" in text.stderr
    assert f"\n  unreadable: {broken[0]}" in text.stderr
    real = invoke(wds, *common, "--json")
    assert real.exit_code == 9 and json.loads(real.stdout)["ok"] == 4
    again = json.loads(invoke(wds, *common, "--dry-run", "--json").stdout)
    assert (again["skipped"], again["rows"], again["requests"], again["known_errors"]) == (4, 2, 0, 2)  # only the broken items are redone
