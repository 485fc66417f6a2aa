"""Tars as `tar` writes them, not only as WebDataset writers do: hard and symbolic links,
macOS's `._*` and `.DS_Store` debris, and a gzip'd
shard cut inside a member.

Before: a hard link (`tar cf` of a folder where b.jpg is a hard link of a.jpg) was dropped
without a word; `._img011.jpg` gave a key
`./` and an error row "is not an image" on every run (exit 9); a member cut mid-stream was
"g05 has no image or video (fields: none)"."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import tarfile

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.counts import tar_keys
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.tar_shard import tar_items
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()
TAR = shutil.which("tar")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _add(tar: tarfile.TarFile, name: str, data: bytes = b"", **fields) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for attribute, value in fields.items():
        setattr(info, attribute, value)
    tar.addfile(info, io.BytesIO(data))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("compress", ["", "z"], ids=["tar", "tar.gz"])
def test_hard_links_read_as_the_folder_does(tmp_path, compress):
    if TAR is None:
        pytest.skip("the tar tool is not installed")
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        (folder / f"p{i}.jpg").write_bytes(jpeg_bytes(PHOTOS[i]))
    os.link(folder / "p0.jpg", folder / "same.jpg")  # tar stores one of the two names as a link
    shard = tmp_path / ("photos.tar.gz" if compress else "photos.tar")
    subprocess.run([TAR, f"c{compress}f", str(shard), "-C", str(folder), "."], check=True)
    with tarfile.open(shard) as tar:
        assert sum(m.islnk() for m in tar.getmembers()) == 1
    files = caption(folder, "-o", tmp_path / "files")
    summary = caption(shard, "-o", tmp_path / "tar")
    assert (summary["ok"], summary["error"]) == (files["ok"], 0) == (4, 0)
    rows = {r["source_key"]: r["key"] for r in read_results(tmp_path / "tar")}
    assert sorted(rows) == ["./p0", "./p1", "./p2", "./same"] and rows["./p0"] == rows["./same"]
    assert tar_keys(shard) == 4


def test_symbolic_links_are_followed_inside_the_archive_only(tmp_path):
    shard = tmp_path / "links.tar"
    picture = jpeg_bytes(PHOTOS[0])
    with tarfile.open(shard, "w") as tar:
        _add(tar, "data/a.jpg", picture)
        _add(tar, "data/b.jpg", type=tarfile.SYMTYPE, linkname="a.jpg")  # beside its target
        _add(tar, "c.jpg", type=tarfile.SYMTYPE, linkname="data/a.jpg")
        _add(tar, "d.jpg", type=tarfile.SYMTYPE, linkname="../../etc/hostname")  # out of the archive
        _add(tar, "e.jpg", type=tarfile.SYMTYPE, linkname="/home/me/e.jpg")
    items = {item.key: item for item in tar_items(shard, ColumnChoice())}
    assert [items[k].data for k in ("data/a", "data/b", "c")] == [picture] * 3
    assert "d.jpg is a symbolic link to ../../etc/hostname, which is not in the archive" in items["d"].error
    assert "`tar -h`" in items["e"].error and items["e"].data is None
    summary = caption(shard, "-o", tmp_path / "out", code=9)
    assert (summary["ok"], summary["error"]) == (3, 2) and tar_keys(shard) == 5


def test_grouping_is_pure_and_keeps_the_last_copy():
    from vlmcli.inputs.tar_members import group_members

    names = ["k1.jpg", "k1.txt", "k2.jpg", "k1.jpg", "k1.json"]
    assert group_members(names, by_key=True) == [[1, 3, 4], [2]]  # as `tar -x`: the last k1.jpg
    assert group_members(names, by_key=False) == [[0, 1], [2], [3, 4]]  # a damaged stream: each copy
    assert group_members(["a.jpg", "b.jpg", "a.txt", "b.txt"], by_key=True) == [[0, 2], [1, 3]]


def test_macos_debris_is_skipped(tmp_path):
    shard = tmp_path / "macos.tar"
    picture = jpeg_bytes(PHOTOS[0])
    with tarfile.open(shard, "w") as tar:  # `tar -C mac -cf macos.tar .` on macOS
        _add(tar, "./", type=tarfile.DIRTYPE)
        _add(tar, "./._img011.jpg", b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
        _add(tar, "./img011.jpg", picture)
        _add(tar, "./.DS_Store", b"\x00\x00\x00\x01Bud1")
        _add(tar, "__MACOSX/._img011.jpg", b"\x00\x05\x16\x07")
    assert [(i.key, i.error) for i in tar_items(shard, ColumnChoice())] == [("./img011", None)]
    summary = caption(shard, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"]) == (1, 0) and tar_keys(shard) == 1
    (row,) = read_results(tmp_path / "out")
    assert row["path"] == f"{shard}::./img011"  # keys as webdataset gives them: earlier runs' rows still resume
    assert caption(shard, "-o", tmp_path / "out")["skipped"] == 1


def test_a_gzip_shard_cut_inside_a_member_says_so(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for i in range(6):
            _add(tar, f"g{i:02d}.jpg", jpeg_bytes(PHOTOS[i % len(PHOTOS)], quality=95))
    data = raw.getvalue()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        g03 = tar.getmember("g03.jpg")
    packed = gzip.compress(data)  # JPEG bytes hardly compress: offsets stay in proportion
    cut = len(packed) * (g03.offset_data + g03.size // 2) // len(data)  # about halfway through g03's bytes
    shard = tmp_path / "cut.tar.gz"
    shard.write_bytes(packed[:cut])  # a download cut short
    summary = caption(shard, "-o", tmp_path / "out", code=9)
    assert (summary["ok"], summary["error"]) == (3, 0)  # g00-g02; g03 is not a "no image" row
    (error,) = summary["shard_errors"]
    assert "damaged or truncated inside g03.jpg" in error
