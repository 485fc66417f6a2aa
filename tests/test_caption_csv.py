"""caption-dir over a CSV of image paths: what pandas' `to_csv`, a spreadsheet's "Save as CSV"
(UTF-8 with BOM, CRLF, quoted commas) and Hugging Face ImageFolder's `metadata.csv` hold.

Before: `caption-dir labels.csv` wrote one error row ("not an image"), and `--files-from
labels.csv` one error row per line ("No such file: a.jpg,cat"). Now a .csv/.tsv INPUT is a
table: its path column names the pictures (relative to the CSV's folder), rows are keyed
by those paths, and --keep-columns copies the labels into `extra`."""

from __future__ import annotations

import json
import os

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.formats import InputFormat, detect_format
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes

PHOTOS = sample_photos()[:3]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


@pytest.fixture
def project(tmp_path):
    """data/images/*.jpg and a spreadsheet's export data/labels.csv, with one missing file."""
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    for i, photo in enumerate(PHOTOS):
        (images / f"{i:04d}.jpg").write_bytes(jpeg_bytes(photo))
    lines = ["filepath,label,note", *[f'images/{i:04d}.jpg,{i},"a, b"' for i in range(3)], "images/gone.jpg,9,x"]
    (tmp_path / "data" / "labels.csv").write_bytes(("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8"))
    return tmp_path


def test_a_csv_is_a_table(project):
    assert detect_format(project / "data" / "labels.csv") is InputFormat.CSV
    assert detect_format(project / "data") is InputFormat.FILES  # a CSV beside pictures is metadata


def test_spreadsheet_csv_rows_resume_after_resorting(monkeypatch, project):
    install_fake_engine(monkeypatch)
    table, out = project / "data" / "labels.csv", project / "out"
    summary = caption(table, "-o", out, "--keep-columns", "label,note", code=9)
    assert (summary["ok"], summary["error"]) == (3, 1)
    rows = {r["source_key"]: r for r in read_results(out)}
    assert sorted(rows) == ["images/0000.jpg", "images/0001.jpg", "images/0002.jpg", "images/gone.jpg"]
    assert json.loads(rows["images/0001.jpg"]["extra"]) == {"label": "1", "note": "a, b"}
    assert "cannot read the image file" in rows["images/gone.jpg"]["error"]
    text = table.read_text(encoding="utf-8-sig").splitlines()
    table.write_text("\n".join([text[0], *reversed(text[1:])]) + "\n", encoding="utf-8")  # re-sorted, no BOM
    os.chdir(project)
    again = caption("data/labels.csv", "-o", "out", code=9)
    assert (again["ok"], again["skipped"]) == (0, 3) and len(read_results(out)) == 4


def test_tsv_and_imagefolder_metadata(monkeypatch, tmp_path):
    """ImageFolder's metadata.csv names `file_name`; a TSV is tab-separated."""
    install_fake_engine(monkeypatch)
    (tmp_path / "a.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    (tmp_path / "metadata.tsv").write_text("file_name\ttext\na.jpg\ta photo\n", encoding="utf-8")
    summary = caption(tmp_path / "metadata.tsv", "-o", tmp_path / "out", "--keep-columns", "text", code=0)
    assert summary["ok"] == 1
    (row,) = read_results(tmp_path / "out")
    assert row["source_key"] == "a.jpg" and json.loads(row["extra"]) == {"text": "a photo"}


def test_paths_written_from_the_project_folder_get_a_hint(monkeypatch, project):
    install_fake_engine(monkeypatch)
    (project / "data" / "from_root.csv").write_text("path\ndata/images/0000.jpg\n", encoding="utf-8")
    os.chdir(project)
    caption("data/from_root.csv", "-o", "out", code=9)
    (row,) = read_results(project / "out")
    assert "data/images/0000.jpg exists from the current folder, but paths in a table are relative" in row["error"]


def test_files_from_a_csv_says_to_pass_it_as_input(monkeypatch, project):
    install_fake_engine(monkeypatch)  # the list's error, whatever the network (no hub lookup of the model)
    result = caption("--files-from", project / "data" / "labels.csv", "-o", project / "out", code=3)
    assert "--files-from takes one path per line" in result.stderr and "is a table: pass it as an INPUT" in result.stderr


def test_a_list_without_a_header_row_says_so(monkeypatch, project):
    install_fake_engine(monkeypatch)
    (project / "data" / "plain.csv").write_text("images/0000.jpg\nimages/0001.jpg\n")
    result = caption(project / "data" / "plain.csv", "-o", project / "out", code=2)
    assert "has no header row: its first line names a picture (images/0000.jpg)" in result.stderr

