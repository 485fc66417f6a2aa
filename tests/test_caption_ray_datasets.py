"""`--engine ray` on dataset inputs: Ray Data reads the shards (one read task per shard,
`captions/ray_reads.py`) and Ray actors caption them, giving the local engine's rows for
every input kind: the same paths, sources, keys, kept columns, captions and error rows
(the broken item of each shard, and its identical twins in later shards)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media import datasets

FAMILY = "idefics3"
NEW_TOKENS = 4
KINDS = ("webdataset", "webdataset-gz", "img2dataset-parquet", "hf-parquet", "save_to_disk")
runner = CliRunner()


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vlmcli[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def write_dataset(kind: str, root: Path) -> tuple[Path, list[str]]:
    """(the INPUT, extra flags) for one input kind, with broken items where the kind has them."""
    photos = sample_photos()[:3]
    if kind.startswith("webdataset"):
        datasets.write_webdataset(root, photos, shards=2, gz=kind.endswith("gz"))
        return root, ["--keep-columns", "url,txt"]
    if kind == "img2dataset-parquet":
        datasets.write_parquet_shards(root, photos, shards=2)
        return root, ["--keep-columns", "caption"]
    if kind == "hf-parquet":
        return datasets.write_hf_parquet(root / "train.parquet", photos), ["--keep-columns", "text"]
    return datasets.write_save_to_disk(root, photos), ["--keep-columns", "label"]


def caption(source: Path, out: Path, model: Path, *extra: str) -> tuple[int, dict, list[dict]]:
    args = ["caption-dir", str(source), "-o", str(out), "-m", str(model), "--max-tokens", str(NEW_TOKENS)]
    result = runner.invoke(app, [*args, "--batch-size", "2", "-q", "--json", *extra])
    assert result.exit_code in (0, 9), result.output
    return result.exit_code, json.loads(result.stdout), sorted(read_results(out), key=lambda r: r["path"])


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("created_at", "latency_ms")} for r in rows]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
@pytest.mark.parametrize("kind", KINDS)
def test_ray_engine_gives_the_local_rows_for_every_dataset_kind(ray_cluster, tiny_checkpoint, tmp_path, kind, capfd):
    source, flags = write_dataset(kind, tmp_path / "data")
    model = tiny_checkpoint(FAMILY)
    local_code, local_summary, local = caption(source, tmp_path / "local", model, *flags)
    code, summary, rows = caption(source, tmp_path / "ray", model, *flags, "--engine", "ray")
    assert "has constructor arguments in the object store" not in capfd.readouterr().err  # Ray's noise, dropped
    assert comparable(rows) == comparable(local)
    assert (code, summary["ok"], summary["error"], summary["shards"]) == (
        local_code, local_summary["ok"], local_summary["error"], local_summary["shards"],
    )  # fmt: skip
    assert rows and all(r["source"] and r["source_key"] and r["path"] == f"{r['source']}::{r['source_key']}" for r in rows)
    assert any(r["status"] == "ok" for r in rows)
    if kind == "webdataset":  # resume (once: each run starts an actor pool): only the error rows are retried
        again = caption(source, tmp_path / "ray", model, *flags, "--engine", "ray")[1]
        assert again["ok"] == 0 and again["skipped"] == local_summary["ok"] and again["error"] == local_summary["error"]
        assert comparable(sorted(read_results(tmp_path / "ray"), key=lambda r: r["path"])) == comparable(local)


def test_read_shard_keeps_the_items_before_damage(tmp_path):
    """The read task's own function (no Ray needed): a truncated tar yields what was read,
    then one row that says what happened."""
    from vlmcli.captions.ray_reads import read_shard
    from vlmcli.inputs.columns import ColumnChoice
    from vlmcli.inputs.expand import ShardRef
    from vlmcli.inputs.formats import InputFormat

    good, bad = datasets.write_webdataset(tmp_path / "wds", sample_photos()[:4], shards=2, broken=True)
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    rows = [r for block in read_shard(ShardRef(good, InputFormat.WEBDATASET), ColumnChoice(), per_block=3) for r in block.to_pylist()]
    assert [r["source_key"] for r in rows] == [f"00000{i:04d}" for i in range(4)]
    broken = [r for r in rows if r["width"] is None]
    assert len(broken) == 1 and broken[0]["data"] is not None  # not an image header: decoding will say why
    assert all(r["sha256"] and r["shard_error"] is None for r in rows)
    damaged = [r for block in read_shard(ShardRef(bad, InputFormat.WEBDATASET), ColumnChoice()) for r in block.to_pylist()]
    assert damaged[-1]["shard_error"] and "truncated" in damaged[-1]["shard_error"] and damaged[-1]["source_key"] is None
    assert 0 < len(damaged) - 1 < 4
