"""Which folders are datasets, as strangers lay them out.

Before: any `.parquet` anywhere under a folder made it a Parquet dataset. img2dataset's
default `files` layout (pictures in 00000/, a metadata 00000.parquet beside) then failed
with "has no image column", and so did the second run of `caption-dir photos -o
photos/captions`: the first run's own output made the photo folder a "dataset". Now a
folder with pictures or videos is a folder of files whatever tables sit beside them, the
run's output folder is never looked at as input, a rerun in another output format is
refused instead of redoing everything beside the first run's shards, and a folder holding both tar shards and
pictures is an error that says how to choose, instead of the pictures silently ignored.
"""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.errors import ConfigError
from vlmcli.exports.results import read_results
from vlmcli.inputs.formats import InputFormat, folder_format
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes, write_files_layout, write_parquet_shards, write_webdataset

runner = CliRunner()
PHOTOS = sample_photos()[:3]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)



def test_folder_format_by_what_is_inside(tmp_path):
    write_files_layout(tmp_path / "files", PHOTOS)
    write_webdataset(tmp_path / "wds", PHOTOS)
    write_parquet_shards(tmp_path / "pq", PHOTOS)
    assert folder_format(tmp_path / "files") is InputFormat.FILES
    assert folder_format(tmp_path / "wds") is InputFormat.WEBDATASET  # its .parquet siblings are metadata
    assert folder_format(tmp_path / "pq") is InputFormat.PARQUET
    (tmp_path / "pq" / "captions").mkdir()
    (tmp_path / "pq" / "captions" / "preview.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    assert folder_format(tmp_path / "pq", exclude=tmp_path / "pq" / "captions") is InputFormat.PARQUET
    assert folder_format(tmp_path / "pq") is InputFormat.FILES
    (tmp_path / "wds" / "cover.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    with pytest.raises(ConfigError, match=r"both tar shards \(00000.tar\) and pictures or videos \(cover.jpg\)"):
        folder_format(tmp_path / "wds")


def test_img2dataset_files_layout_captions_the_pictures(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    pictures = write_files_layout(tmp_path / "i2d", PHOTOS)
    summary = caption(tmp_path / "i2d", "-o", tmp_path / "out")
    assert summary["ok"] == 6 and summary["error"] == 0
    assert sorted(r["path"] for r in read_results(tmp_path / "out")) == sorted(os.path.realpath(p) for p in pictures)


def test_output_inside_the_photo_folder_resumes(monkeypatch, tmp_path):
    """`vlm caption-dir photos -o photos/captions`, twice, then a report beside the shards."""
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, photo in enumerate(PHOTOS):
        (photos / f"p{i}.jpg").write_bytes(jpeg_bytes(photo))
    os.chdir(tmp_path)
    assert caption("photos", "-o", "photos/captions")["ok"] == 3
    assert runner.invoke(app, ["report", "photos/captions", "-o", "photos/captions/report.html"]).exit_code == 0
    again = caption(str(photos) + "/", "-o", str(photos / "captions"))
    assert again["skipped"] == 3 and again["ok"] == 0 and len(read_results(photos / "captions")) == 3


def test_another_format_in_the_same_folder_is_refused(monkeypatch, tmp_path):
    """Resume reads the shards of the format being written: jsonl after parquet would redo every
    file and leave each row twice in the folder (report and export read both)."""
    install_fake_engine(monkeypatch)
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "p.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    assert caption(photos, "-o", tmp_path / "out")["ok"] == 1
    result = caption(photos, "-o", tmp_path / "out", "--format", "jsonl", code=2)
    assert result.stderr.strip().splitlines()[-1] == (
        f"Error: --output {tmp_path / 'out'} holds parquet shards of an earlier run, and this run writes jsonl: "
        "pass --format parquet to resume it, or write to another folder (vlm export converts a run)."
    )
    assert len(read_results(tmp_path / "out")) == 1


def test_output_inside_a_parquet_dataset_folder_resumes(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    write_parquet_shards(tmp_path / "pq", PHOTOS, shards=1, broken=False)
    first = caption(tmp_path / "pq", "-o", tmp_path / "pq" / "captions")  # one row failed to download: counted apart
    again = caption(tmp_path / "pq", "-o", tmp_path / "pq" / "captions")
    assert (first["ok"], again["ok"], again["skipped"], again["undownloaded"]) == (3, 0, 3, 1)


def test_tar_shards_beside_pictures_say_how_to_choose(monkeypatch, tmp_path):
    install_fake_engine(monkeypatch)
    write_webdataset(tmp_path / "mixed", PHOTOS, shards=1, broken=False)
    (tmp_path / "mixed" / "cover.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    result = caption(tmp_path / "mixed", "-o", tmp_path / "out", code=2)
    assert result.stderr.strip().splitlines()[-1].endswith("--input-format webdataset or --input-format files.")
    assert caption(tmp_path / "mixed", "-o", tmp_path / "a", "--input-format", "files")["ok"] == 1
    assert caption(tmp_path / "mixed", "-o", tmp_path / "b", "--input-format", "webdataset")["ok"] == 3
