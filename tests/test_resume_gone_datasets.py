"""Error rows of dataset keys no longer there leave the output: an older vlmcli wrote an error
row keyed `<shard>::k1#dup1` for a tar member stored twice (`tar -r`), which the current
version reads under the plain key `k1`; that row stayed forever (counted by `vlm report`
and `vlm export`). Now a rerun that reads the shard to its end drops
the error rows of the keys it no longer yields, and those of a deleted shard under an INPUT
folder; never those of a shard read part way (its missing keys may be there), never an
ok row. --dry-run only says so.

Real runs of `vlm caption-dir` on a tiny Qwen2-VL checkpoint (the local engine shard by
shard, `captions/datasets_run.py`; and `--engine ray`, `captions/ray_datasets.py`)."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.item import ShardItem
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes, write_webdataset

TAR = shutil.which("tar")
FIRST, SECOND, OTHER = (jpeg_bytes(p) for p in sample_photos()[:3])
DRY_NOTE = "note: 1 error row of inputs no longer there would be dropped from the output by a run (a dry run changes nothing)"
NOTE = "note: 1 error row of inputs no longer there was dropped from the output"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def model(tiny_checkpoint) -> Path:
    return tiny_checkpoint("qwen2_vl")


def caption(model: Path, *args: object, dry_run: bool = False) -> tuple[int, dict, str]:
    """(exit code, --json summary, stderr) of `vlm caption-dir ARGS` on the tiny checkpoint."""
    extra = ["--dry-run"] if dry_run else []
    result = CliRunner().invoke(
        app, ["caption-dir", *map(str, args), "-m", str(model), "--max-tokens", "4", "--json", *extra]
    )
    assert result.exit_code in (0, 9), result.output
    return result.exit_code, json.loads(result.stdout), result.stderr


def error_keys(out: Path) -> list[str]:
    return sorted(r["source_key"] for r in read_results(out) if r["status"] == "error")


def ok_keys(out: Path) -> list[str]:
    return sorted(r["source_key"] for r in read_results(out) if r["status"] == "ok")


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


def seen_by_report_and_export(out: Path, tmp_path: Path) -> tuple[int, int]:
    """(images with errors in `vlm report --json`, error rows `vlm export --json` left out)."""
    runner = CliRunner()
    report = runner.invoke(app, ["report", str(out), "-o", str(tmp_path / "r.html"), "--force", "--json"])
    export = runner.invoke(app, ["export", str(out), "--to", "jsonl", "-o", str(tmp_path / "e.jsonl"), "--force", "--json"])
    assert report.exit_code == 0 and export.exit_code in (0, 9), (report.output, export.output)
    return json.loads(report.stdout)["errors"], json.loads(export.stdout.splitlines()[0])["error_rows_excluded"]


def as_an_older_version_read_it(monkeypatch) -> None:
    """Shards read as vlmcli did before a member stored twice was read once: a key's second
    copy was an error row keyed `k1#dup1` (`tar_shard.tar_items` at the time)."""
    items = ShardRef.items

    def older(self: ShardRef, choice) -> Iterator[ShardItem]:
        for item in items(self, choice):
            yield dataclasses.replace(item, warnings=())
            if item.key == "k1":
                yield ShardItem(key="k1#dup1", error=f"{self.source}: key 'k1' appears twice in the shard.")

    monkeypatch.setattr(ShardRef, "items", older)


def appended_tar(tmp_path: Path) -> Path:
    """photos.tar: k1.jpg and k2.jpg, then k1.jpg edited and appended again by `tar -r`."""
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "k1.jpg").write_bytes(FIRST)
    (folder / "k2.jpg").write_bytes(OTHER)
    shard = tmp_path / "shards" / "photos.tar"
    shard.parent.mkdir()
    subprocess.run([TAR, "-cf", str(shard), "-C", str(folder), "k1.jpg", "k2.jpg"], check=True)
    (folder / "k1.jpg").write_bytes(SECOND)
    subprocess.run([TAR, "-rf", str(shard), "-C", str(folder), "k1.jpg"], check=True)
    return shard


@pytest.mark.skipif(TAR is None, reason="the tar tool is not installed")
def test_the_dup1_error_row_of_an_older_version_goes_once_the_shard_is_read(model, tmp_path, monkeypatch):
    shard, out = appended_tar(tmp_path), tmp_path / "out"
    with monkeypatch.context() as older:
        as_an_older_version_read_it(older)
        code, first, _ = caption(model, shard, "-o", out)
    assert (code, first["error"]) == (9, 1) and error_keys(out) == ["k1#dup1"]
    assert seen_by_report_and_export(out, tmp_path) == (1, 1)

    before = snapshot(out)
    code, dry, stderr = caption(model, shard, "-o", out, dry_run=True)
    assert stderr.count(DRY_NOTE) == 1, stderr
    assert snapshot(out) == before  # a dry run changes nothing

    code, again, stderr = caption(model, shard, "-o", out)
    assert (code, again["gone_errors"], again["error"]) == (0, 1, 0), stderr
    assert stderr.count(NOTE) == 1, stderr
    assert error_keys(out) == [] and "k1" in ok_keys(out) and "k2" in ok_keys(out)
    assert seen_by_report_and_export(out, tmp_path) == (0, 0)
    code, third, stderr = caption(model, shard, "-o", out)
    assert (code, third["gone_errors"], third["skipped"]) == (0, 0, 2) and "no longer there" not in stderr


def write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_a_shard_read_part_way_keeps_the_rows_of_the_keys_it_did_not_reach(model, tmp_path):
    shard, out = tmp_path / "data.tar", tmp_path / "out"
    write_tar(shard, [("k1.jpg", FIRST), ("k2.jpg", OTHER), ("k3.txt", b"no picture"), ("k4.jpg", SECOND)])
    code, first, _ = caption(model, shard, "-o", out)
    assert (code, first["error"]) == (9, 1) and error_keys(out) == ["k3"]  # k3 has no image

    write_tar(shard, [("k1.jpg", FIRST), ("k4.jpg", SECOND), ("k2.jpg", OTHER)])  # k3 removed
    with tarfile.open(shard) as tar:
        cut = tar.getmember("k2.jpg").offset_data + 100
    whole = shard.read_bytes()
    shard.write_bytes(whole[:cut])  # cut short inside k2: k3 is not yielded, nor would it be if there
    code, damaged, stderr = caption(model, shard, "-o", out)
    assert damaged["shard_errors"] and damaged["gone_errors"] == 0, stderr
    assert error_keys(out) == ["k3"] and "k2" in ok_keys(out)

    shard.write_bytes(whole)  # read to its end now: k3 is no longer there
    code, again, stderr = caption(model, shard, "-o", out)
    assert (code, again["gone_errors"], again["error"], again["shard_errors"]) == (0, 1, 0, []), stderr
    assert stderr.count(NOTE) == 1, stderr
    assert error_keys(out) == [] and ok_keys(out) == ["k1", "k2", "k4"]


def test_a_deleted_shard_under_an_input_folder_leaves_its_error_rows_behind(model, tmp_path):
    wds, out = tmp_path / "wds", tmp_path / "out"
    tars = write_webdataset(wds, sample_photos()[:3], shards=3)  # a broken item in each shard
    code, first, _ = caption(model, wds, "-o", out)
    assert (code, first["error"], first["shards"]) == (9, 3, 3)
    gone_tar = tars[1]
    captioned = sorted(r["source_key"] for r in read_results(out) if r["source"] == str(gone_tar) and r["status"] == "ok")
    assert len(captioned) == 2
    gone_tar.unlink()

    before = snapshot(out)
    code, dry, stderr = caption(model, wds, "-o", out, dry_run=True)
    assert stderr.count(DRY_NOTE) == 1 and snapshot(out) == before, stderr

    code, again, stderr = caption(model, wds, "-o", out)
    assert (code, again["gone_errors"], again["error"], again["shards"]) == (9, 1, 2, 2), stderr
    assert stderr.count(NOTE) == 1, stderr  # one line for the run, not one per shard
    left = sorted((r["source_key"], r["status"]) for r in read_results(out) if r["source"] == str(gone_tar))
    assert left == [(key, "ok") for key in captioned]  # its ok rows stay
    assert seen_by_report_and_export(out, tmp_path)[1] == 2  # the broken items of the two shards still there


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'vlmcli[ray]')")
    pytest.importorskip("ray.data", reason="ray[data] is not installed (pip install 'vlmcli[ray]')")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


@pytest.mark.skipif(TAR is None, reason="the tar tool is not installed")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Ray's own, about its own settings
def test_ray_drops_them_too_but_never_from_a_damaged_shard(ray_cluster, model, tmp_path, monkeypatch):
    shard, out = appended_tar(tmp_path), tmp_path / "out"
    damaged = tmp_path / "shards" / "cut.tar"
    write_tar(damaged, [("k1.jpg", FIRST), ("k2.jpg", OTHER)])
    with monkeypatch.context() as older:
        as_an_older_version_read_it(older)
        code, first, _ = caption(model, shard.parent, "-o", out)
    assert first["error"] == 2 and error_keys(out) == ["k1#dup1", "k1#dup1"]
    with tarfile.open(damaged) as tar:
        cut = tar.getmember("k2.jpg").offset_data + 100
    damaged.write_bytes(damaged.read_bytes()[:cut])

    code, again, stderr = caption(model, shard.parent, "-o", out, "--engine", "ray")
    assert (again["gone_errors"], len(again["shard_errors"])) == (1, 1), stderr
    assert stderr.count(NOTE) == 1, stderr
    left = [r for r in read_results(out) if r["status"] == "error"]
    assert [(Path(r["source"]).name, r["source_key"]) for r in left] == [("cut.tar", "k1#dup1")]
