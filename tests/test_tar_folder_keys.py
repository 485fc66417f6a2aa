"""A tar of a folder reads as the folder does, whatever dots its picture names hold; a
WebDataset shard reads as before, and a picture it leaves out is counted and said.

Before: `tar cf` of a folder holding IMG_1.jpg, IMG_1.edited.jpg, v1.2.final.jpg and
v1.3.final.jpg gave 2 items (WebDataset's keys `photos/IMG_1` and `photos/v1`, each the first
picture of its key): the dry run said "2 samples", the run wrote 2 ok rows, exit 0, and
IMG_1.jpg and v1.2.final.jpg were never captioned, without a word. A `k.jpg` + `k.seg.png` +
`k.json` shard captioned the jpg and left the mask out silently too (now: counted, warned)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.counts import tar_census, tar_keys
from vlmcli.inputs.tar_shard import tar_items
from vlmcli.testing.fakes import install_fake_engine, isolate_env, save_photo

TAR = shutil.which("tar")
NAMES = {"IMG_1.jpg": "astronaut", "IMG_1.edited.jpg": "coffee", "v1.2.final.jpg": "chelsea",
         "v1.3.final.jpg": "camera", "IMG_2.jpg": "rocket"}  # fmt: skip


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _run(*args: object, code: int = 0) -> tuple[dict, str]:
    result = CliRunner().invoke(app, ["caption-dir", *map(str, args), "--json"])
    assert result.exit_code == code, result.output
    return json.loads(result.stdout), result.stderr


def _folder(tmp_path, names=NAMES):
    folder = tmp_path / "src" / "photos"
    folder.mkdir(parents=True)
    for name, photo in names.items():
        save_photo(folder / name, photo)
    return folder


def _expected(folder) -> dict[str, str]:
    """The folder's keys as a folder tar gives them -> the sha256 of each picture."""
    single = {"IMG_2.jpg": "photos/IMG_2"}  # alone in its key: the WebDataset key, as before
    return {single.get(p.name, f"photos/{p.name}"): _sha(p.read_bytes()) for p in folder.iterdir()}


def _check_every_picture_once(shard, out, expected) -> None:
    dry, _ = _run(shard, "-o", out, "--dry-run")
    assert dry["dataset"]["samples"] == len(expected) and dry["dataset"]["left_out"] == 0
    assert dry["files"] == len(expected)
    summary, stderr = _run(shard, "-o", out)
    assert (summary["ok"], summary["error"]) == (len(expected), 0) and "warning" not in stderr
    rows = {r["source_key"]: r["key"] for r in read_results(out)}
    assert rows == expected  # each picture captioned, under its own key, from its own bytes
    again, _ = _run(shard, "-o", out)
    assert (again["ok"], again["skipped"]) == (0, len(expected))
    assert tar_keys(shard) == len(expected)


@pytest.mark.skipif(TAR is None, reason="the tar tool is not installed")
@pytest.mark.parametrize("flags", ["-cf", "-czf"], ids=["tar", "tar.gz"])
def test_a_folder_packed_by_tar_cf_captions_every_picture(tmp_path, flags):
    folder = _folder(tmp_path)
    shard = tmp_path / ("folder.tar" if flags == "-cf" else "folder.tar.gz")
    subprocess.run([TAR, flags, str(shard), "-C", str(folder.parent), "photos"], check=True)
    _check_every_picture_once(shard, tmp_path / "out", _expected(folder))


@pytest.mark.parametrize("mode", ["w", "w:gz"])
def test_a_folder_packed_by_tarfile_in_any_order_captions_every_picture(tmp_path, mode):
    """Members of one WebDataset key far apart (a compressed tar is read as a stream): each
    picture is still its own item, with no `appears twice` error row."""
    folder = _folder(tmp_path)
    shard = tmp_path / ("folder.tar" if mode == "w" else "folder.tgz")
    with tarfile.open(shard, mode) as tar:
        for name in ["v1.3.final.jpg", "IMG_1.edited.jpg", "IMG_2.jpg", "IMG_1.jpg", "v1.2.final.jpg"]:
            tar.add(folder / name, arcname=f"photos/{name}")
    _check_every_picture_once(shard, tmp_path / "out", _expected(folder))


def test_names_that_differ_only_in_case_are_both_captioned(tmp_path):
    """`a.JPG` and `a.jpg` (a camera's and an editor's): one field `jpg` by WebDataset's
    lower-cased rule; the first was overwritten by the second."""
    folder = _folder(tmp_path, {"a.JPG": "astronaut", "a.jpg": "coffee"})
    shard = tmp_path / "case.tar"
    with tarfile.open(shard, "w") as tar:
        tar.add(folder, arcname="photos")
    _check_every_picture_once(shard, tmp_path / "out", _expected(folder))


def test_resuming_an_output_of_the_old_reading_captions_nothing_twice(tmp_path):
    """The old reading's row `photos/IMG_1` held IMG_1.edited.jpg's caption: the new keys
    copy it by content (no engine request), the rest are captioned; the old ok row, its caption
    now under the new key, is dropped (`superseded_rows`)."""
    folder = _folder(tmp_path, {"IMG_1.jpg": "astronaut", "IMG_1.edited.jpg": "coffee"})
    shard, out = tmp_path / "folder.tar", tmp_path / "out"
    with tarfile.open(shard, "w") as tar:  # the old reading's one item: key photos/IMG_1, the edited picture
        tar.add(folder / "IMG_1.edited.jpg", arcname="photos/IMG_1.edited.jpg")
    old, _ = _run(shard, "-o", out)
    assert old["ok"] == 1 and [r["source_key"] for r in read_results(out)] == ["photos/IMG_1"]
    with tarfile.open(shard, "w") as tar:
        tar.add(folder, arcname="photos")
    summary, _ = _run(shard, "-o", out)
    assert (summary["ok"], summary["captioned"], summary["copied"]) == (2, 1, 1)
    rows = {r["source_key"]: r["key"] for r in read_results(out)}
    edited = _sha((folder / "IMG_1.edited.jpg").read_bytes())
    assert summary["superseded_rows"] == 1
    assert rows == {"photos/IMG_1.edited.jpg": edited, "photos/IMG_1.jpg": _sha((folder / "IMG_1.jpg").read_bytes())}


def _masks_shard(tmp_path):
    import webdataset as wds

    pictures = _folder(tmp_path, {"k.jpg": "astronaut", "k.png": "camera", "j.jpg": "coffee"})
    shard = tmp_path / "masks.tar"
    with wds.TarWriter(str(shard)) as writer:
        for key, photo in (("k0", "k.jpg"), ("k1", "j.jpg")):
            sample = {"__key__": key, "jpg": (pictures / photo).read_bytes(), "json": {"label": key}}
            writer.write({**sample, "seg.png": (pictures / "k.png").read_bytes()})
        writer.write({"__key__": "k2", "jpg": (pictures / "k.jpg").read_bytes(), "txt": "alone"})
    return shard, pictures


def test_a_webdataset_sample_with_a_mask_reads_as_before_and_says_what_it_leaves_out(tmp_path):
    import webdataset as wds

    shard, pictures = _masks_shard(tmp_path)
    items = list(tar_items(shard, ColumnChoice()))
    assert [i.key for i in items] == ["k0", "k1", "k2"]  # WebDataset's keys, each its jpg
    assert [i.data for i in items] == [(pictures / n).read_bytes() for n in ("k.jpg", "j.jpg", "k.jpg")]
    assert tar_census(shard) == (3, 2)
    dry, _ = _run(shard, "-o", tmp_path / "out", "--dry-run")
    assert (dry["dataset"]["samples"], dry["dataset"]["left_out"]) == (3, 2) and dry["files"] == 3
    summary, stderr = _run(shard, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"]) == (3, 0)
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, stderr
    assert f"{shard}: 2 pictures not captioned: 2 keys" in warnings[0] and "--image-column" in warnings[0]
    assert "(key k0: jpg captioned, seg.png not)" in warnings[0]
    with wds.ShardWriter(str(tmp_path / "one-%05d.tar"), maxcount=10) as writer:  # one picture per key
        for i, name in enumerate(("k.jpg", "j.jpg")):
            writer.write({"__key__": f"k{i}", "jpg": (pictures / name).read_bytes()})
    assert [i.key for i in tar_items(tmp_path / "one-00000.tar", ColumnChoice())] == ["k0", "k1"]  # as before


def test_image_column_names_the_field_and_reads_every_key_as_one_sample(tmp_path):
    shard, pictures = _masks_shard(tmp_path)
    summary, stderr = _run(shard, "-o", tmp_path / "out", "--image-column", "seg.png", code=9)
    assert (summary["ok"], summary["error"]) == (2, 1) and "not captioned" not in stderr
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert rows["k0"]["key"] == rows["k1"]["key"] == _sha((pictures / "k.png").read_bytes())
    assert "has no seg.png field" in rows["k2"]["error"]
    folder = _folder(tmp_path / "f", {"a.jpg": "astronaut", "a.seg.png": "camera"})
    plain = tmp_path / "plain.tar"
    with tarfile.open(plain, "w") as tar:  # pictures only: split, unless --image-column reads samples
        tar.add(folder, arcname="photos")
    assert [i.key for i in tar_items(plain, ColumnChoice())] == ["photos/a.jpg", "photos/a.seg.png"]
    assert [i.key for i in tar_items(plain, ColumnChoice(image_column="jpg"))] == ["photos/a"]
    assert tar_census(plain, image_column="jpg") == (1, 0) and tar_census(plain) == (2, 0)
