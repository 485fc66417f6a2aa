"""`--engine ray` reads tars as the local engine does: the pictures a key leaves out are in
its `--json` summary (`left_out`, carried from the read tasks in a column of their own), and a
--key-column the keys lack is refused in the same one line (exit 2), not keyed by `__key__`."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tests.test_left_out_run import masks_shard
from tests.test_tar_key_column import writer_shard
from vlmcli.cli import app
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.formats import InputFormat
from vlmcli.testing.fakes import install_fake_engine, isolate_env


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
    install_fake_engine(monkeypatch)


def _invoke(*args: object):
    return CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])


def test_read_tasks_carry_each_items_left_out(tmp_path):
    from vlmcli.captions.ray_reads import read_shard

    shard = masks_shard(tmp_path)
    rows = [r for block in read_shard(ShardRef(shard, InputFormat.WEBDATASET), ColumnChoice()) for r in block.to_pylist()]
    assert [(r["source_key"], r["left_out"]) for r in rows] == [("k0", 2), ("k1", 1), ("k2", 0)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
def test_ray_run_summary_counts_left_out_and_refuses_a_missing_key_column(ray_cluster, tmp_path):
    shard = masks_shard(tmp_path)
    local = _invoke(shard, "-o", tmp_path / "out")
    assert local.exit_code == 0, local.output
    # every sample is done: Ray reads the shard and captions nothing (no model is loaded)
    result = _invoke(shard, "-o", tmp_path / "out", "--engine", "ray")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["skipped"], summary["left_out"]) == (3, 3) == (3, json.loads(local.stdout)["left_out"])
    assert "3 pictures or clips left out" in result.stderr

    keyed = writer_shard(tmp_path)
    refused = _invoke(keyed, "-o", tmp_path / "keyed", "--key-column", "nope", "--engine", "ray")
    assert refused.exit_code == 2 and refused.stdout == "", refused.output
    assert refused.stderr.strip().startswith(f"Error: --key-column 'nope' is not a field of {keyed}: its first key k0")
    assert len(refused.stderr.strip().splitlines()) == 1
