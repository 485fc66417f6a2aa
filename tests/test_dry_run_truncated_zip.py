"""caption-dir --dry-run on a zip whose end was cut off (a download cut short) counts the
members the run will read from their local headers, and says the zip is damaged.

Before: its count was "?" ("unknown samples by their metadata (cut.zip: ?)") while the run
captions the members written whole before the cut (`zip_salvage`)."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vlmcli.cli import app
from vlmcli.inputs.counts import zip_pictures
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes
from vlmcli.testing.media.documents import text_pdf

REFERENCE = Path(__file__).resolve().parents[1] / "models" / "reference"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def _cut_zip(path: Path, members: list[tuple[str, bytes]], *, cut_inside: str) -> Path:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as writer:
        for name, data in members:
            writer.writestr(name, data)
    data = buffer.getvalue()
    with zipfile.ZipFile(io.BytesIO(data)) as whole:
        offset = whole.getinfo(cut_inside).header_offset
    path.write_bytes(data[: offset + 100])
    return path


def test_the_count_is_what_the_run_reads_before_the_cut(tmp_path):
    photos = [jpeg_bytes(p) for p in sample_photos()[:3]]
    members = [
        ("p0.jpg", photos[0]), ("notes.txt", b"not a picture"), ("doc.pdf", text_pdf([["one"], ["two"]])),
        ("p1.jpg", photos[1]), ("p2.jpg", photos[2]),
    ]  # fmt: skip
    archive = _cut_zip(tmp_path / "cut.zip", members, cut_inside="p2.jpg")
    assert zip_pictures(archive) == 4  # p0, the PDF's two pages, p1; not the text file, not p2
    not_a_zip = tmp_path / "fake.zip"
    not_a_zip.write_bytes(b"this is no zip at all")
    with pytest.raises(Exception):  # unknown: "?"
        zip_pictures(not_a_zip)


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="the reference model is not in models/reference")
def test_the_dry_run_counts_a_truncated_zip(tmp_path):
    photos = [jpeg_bytes(p) for p in sample_photos()[:3]]
    archive = _cut_zip(tmp_path / "cut.zip", [(f"p{i}.jpg", d) for i, d in enumerate(photos)], cut_inside="p2.jpg")
    args = ["caption-dir", str(archive), "-o", str(tmp_path / "out"), "--model", str(REFERENCE), "--max-tokens", "2", "--dry-run"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Dataset: 1 zip shard, 2 samples by their metadata (cut.zip: 2 before the damage)" in result.stderr
    assert f"Damaged shard: {archive}: not a readable zip archive to its end: truncated" in result.stderr
    plan = json.loads(CliRunner().invoke(app, [*args, "--json"]).stdout)
    assert plan["dataset"]["samples"] == 2 and plan["dataset"]["shards"][0]["samples"] == 2
