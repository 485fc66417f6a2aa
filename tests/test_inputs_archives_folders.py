"""A folder holding more than one kind of dataset shard, and tars compressed other than gzip.

Before, a folder with `a.zip` (2 pictures) and `shard.tar` (4) was read as a zip folder:
the dry run said "1 zip shard, 2 samples", the tar was never mentioned nor captioned; a
Parquet of pictures beside a zip was dropped the same way. And `.tar.xz`/`.tar.bz2` shards
were "not an image", a folder of them "No images among the 2 file(s) found", a `.tar.zst`
"damaged or truncated (ReadError: invalid header)"."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
import zipfile

import pytest

from vlmcli.commands import _runtime
from vlmcli.exports.results import read_results
from vlmcli.inputs.counts import DatasetCounts
from vlmcli.inputs.expand import dataset_shards
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes, write_hf_parquet, write_webdataset

PHOTOS = sample_photos()[:4]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _zip(path, photos):
    with zipfile.ZipFile(path, "w") as writer:
        for i, photo in enumerate(photos):
            writer.writestr(f"z{i}.jpg", jpeg_bytes(photo))
    return path


def _tar(path, photos, mode="w"):
    with tarfile.open(path, mode) as tar:
        for i, photo in enumerate(photos):
            data = jpeg_bytes(photo)
            info = tarfile.TarInfo(f"t{i:03d}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_folder_of_zips_and_tars_reads_every_shard(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    folder = tmp_path / "mixed"
    _zip(tmp_path / "a.zip", PHOTOS[:2])
    (shard,) = write_webdataset(folder, PHOTOS, shards=1, broken=False)  # with its metadata 00000.parquet
    os.replace(tmp_path / "a.zip", folder / "a.zip")
    refs = dataset_shards([str(folder)])
    assert [(r.path.name, r.format) for r in refs] == [("00000.tar", InputFormat.WEBDATASET), ("a.zip", InputFormat.ZIP)]
    counts = DatasetCounts.of(refs)
    assert counts.samples == 6 and counts.text().startswith("Dataset: 2 webdataset/zip shards, 6 samples")
    summary = caption(folder, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"], summary["shards"]) == (6, 0, 2)
    rows = read_results(tmp_path / "out")
    assert {os.path.basename(r["source"]) for r in rows} == {"00000.tar", "a.zip"}
    again = caption(folder, "-o", tmp_path / "out")
    assert (again["ok"], again["skipped"]) == (0, 6)


def test_a_parquet_of_pictures_beside_a_zip_is_read_and_metadata_is_not(monkeypatch, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    install_fake_engine(monkeypatch)
    folder = tmp_path / "download"
    folder.mkdir()
    _zip(folder / "extra.zip", PHOTOS[:2])
    write_hf_parquet(folder / "train.parquet", PHOTOS[2:4])  # `Image` feature: pictures as bytes
    pq.write_table(pa.Table.from_pylist([{"file_name": "z0.jpg", "label": "cat"}]), folder / "labels.parquet")
    found = [(r.path.name, r.format) for r in dataset_shards([str(folder)])]
    assert found == [("extra.zip", InputFormat.ZIP), ("train.parquet", InputFormat.PARQUET)]  # labels: metadata
    summary = caption(folder, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"]) == (4, 0)


def test_a_folder_of_parquets_and_pictures_beside_tables_keep_their_rules(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    only_tables = tmp_path / "tables"
    only_tables.mkdir()
    pq.write_table(pa.Table.from_pylist([{"image": b"x", "k": 1}]), only_tables / "a.parquet")
    pq.write_table(pa.Table.from_pylist([{"k": 1}]), only_tables / "b.parquet")  # read too, as before: a Parquet folder
    assert [r.path.name for r in dataset_shards([str(only_tables)])] == ["a.parquet", "b.parquet"]
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    pq.write_table(pa.Table.from_pylist([{"image": b"x"}]), photos / "meta.parquet")
    assert dataset_shards([str(photos)]) is None and detect_format(photos) is InputFormat.FILES  # metadata


def test_pictures_beside_tars_and_zips_name_every_kind(monkeypatch, tmp_path):
    monkeypatch.setattr(_runtime, "check_model", lambda config, **_: None)  # the inputs' error, whatever the network
    folder = tmp_path / "mess"
    folder.mkdir()
    _zip(folder / "a.zip", PHOTOS[:1])
    _tar(folder / "b.tar", PHOTOS[:1])
    (folder / "cover.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    result = caption(folder, "-o", tmp_path / "out", code=2)
    message = " ".join(result.stderr.split())
    assert "holds both zip archives (a.zip), tar shards (b.tar) and pictures or videos (cover.jpg)" in message
    assert "--input-format zip, --input-format webdataset or --input-format files." in message


@pytest.mark.parametrize("name,mode", [("s.tar.xz", "w:xz"), ("s.tar.bz2", "w:bz2"), ("s.txz", "w:xz"), ("s.tbz2", "w:bz2")])
def test_xz_and_bzip2_tars_are_shards(monkeypatch, tmp_path, name, mode):
    install_fake_engine(monkeypatch)
    folder = tmp_path / "shards"
    folder.mkdir()
    _tar(folder / name, PHOTOS[:2], mode)
    _tar(folder / f"second-{name}", PHOTOS[2:3], mode)
    assert detect_format(folder / name) is InputFormat.WEBDATASET
    (tmp_path / "renamed").write_bytes((folder / name).read_bytes())  # by content, whatever the name
    assert detect_format(tmp_path / "renamed") is InputFormat.WEBDATASET
    assert DatasetCounts.of(dataset_shards([str(folder)])).samples == 3
    summary = caption(folder, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"], summary["shards"]) == (3, 0, 2)


def test_a_zstd_tar_says_how_to_unpack_it(monkeypatch, tmp_path):
    if "zst" in tarfile.TarFile.OPEN_METH:
        pytest.skip("this Python's tarfile reads zstd")
    if shutil.which("zstd") is None:
        pytest.skip("the zstd tool is not installed")
    install_fake_engine(monkeypatch)
    folder = tmp_path / "shards"
    folder.mkdir()
    plain = _tar(tmp_path / "s.tar", PHOTOS[:1])
    subprocess.run(["zstd", "-q", str(plain), "-o", str(folder / "s.tar.zst")], check=True)
    assert detect_format(folder / "s.tar.zst") is InputFormat.WEBDATASET
    summary = caption(folder, "-o", tmp_path / "out", code=9)
    (error,) = summary["shard_errors"]
    assert "zstd-compressed tar" in error and "zstd -d s.tar.zst" in error and "invalid header" not in error
