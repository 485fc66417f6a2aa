"""A WebDataset key holding several pictures beside sidecars is one sample: its other
pictures are not captioned. The dry run counted them (`left_out` in its `dataset`) and the
run said them in a warning line, but the run's `--json` summary had no such count, so a
script reading it could not tell 3 captioned samples from 3 captioned samples and 3 masks
never looked at. Now `left_out` is in the summary (local engine; Ray: tests/test_tar_ray_fields.py)
and its last line says it."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.counts import tar_census
from vlmcli.inputs.tar_shard import tar_items
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

wds = pytest.importorskip("webdataset")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _run(*args: object, code: int = 0) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout), result.stderr


def masks_shard(tmp_path):
    """ShardWriter's shard: k0 a photo, its mask and its depth map (2 left out), k1 a photo and
    its mask (1), k2 a photo and a caption (none); 3 samples, 3 pictures left out."""
    photo = save_photo(tmp_path / "p.jpg", "astronaut").read_bytes()
    mask = save_photo(tmp_path / "m.png", "camera").read_bytes()
    with wds.ShardWriter(str(tmp_path / "masks-%05d.tar"), maxcount=10) as writer:
        writer.write({"__key__": "k0", "jpg": photo, "seg.png": mask, "depth.png": mask, "json": {"label": "a"}})
        writer.write({"__key__": "k1", "jpg": photo, "seg.png": mask, "json": {"label": "b"}})
        writer.write({"__key__": "k2", "jpg": photo, "txt": "alone"})
    return tmp_path / "masks-00000.tar"


def test_items_carry_the_pictures_their_key_leaves_out(tmp_path):
    shard = masks_shard(tmp_path)
    items = list(tar_items(shard, ColumnChoice()))
    assert [(i.key, i.left_out) for i in items] == [("k0", 2), ("k1", 1), ("k2", 0)]
    assert sum(i.left_out for i in items) == tar_census(shard)[1] == 3  # as the dry run counts them
    assert [i.left_out for i in tar_items(shard, ColumnChoice(image_column="seg.png"))] == [0, 0, 0]


def test_the_run_json_summary_counts_the_pictures_left_out(tmp_path):
    shard = masks_shard(tmp_path)
    dry, _ = _run(shard, "-o", tmp_path / "out", "--dry-run")
    summary, stderr = _run(shard, "-o", tmp_path / "out")
    assert (summary["ok"], summary["left_out"]) == (3, 3) == (3, dry["dataset"]["left_out"])
    assert "3 pictures or clips left out beside their WebDataset keys' captioned field" in stderr.splitlines()[-1]
    again, stderr = _run(shard, "-o", tmp_path / "out")  # a rerun reads the shard again: the same count
    assert (again["ok"], again["skipped"], again["left_out"]) == (0, 3, 3)
    named, stderr = _run(shard, "-o", tmp_path / "named", "--image-column", "jpg")  # the field chosen: none
    assert (named["ok"], named["left_out"]) == (3, 0) and "left out" not in stderr


def test_files_and_tables_leave_nothing_out(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    save_photo(photos / "a.jpg")
    summary, stderr = _run(photos, "-o", tmp_path / "out")
    assert summary["left_out"] == 0 and "left out" not in stderr
