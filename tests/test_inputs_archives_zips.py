"""Zips with a name written twice, a password, or their end cut off.

Before: a zip holding `a.jpg` twice (different pictures) gave two rows with the same key
and path, both the second member's: the first was never captioned. An encrypted member's
error row quoted a Python repr (`File <ZipInfo filename='img028.jpg' compress_type=deflate
...> is encrypted`). A download cut at two thirds kept 0 rows ("not a readable zip archive
... File is not a zip file"), although README says a truncated shard keeps what was read."""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import warnings
import zipfile

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.counts import zip_pictures
from vlmcli.inputs.item_address import read_item
from vlmcli.inputs.zip_shard import zip_items
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes
from vlmcli.testing.media.documents import text_pdf

PHOTOS = sample_photos()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip_with_a_repeated_name(path, members):
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as writer:
        warnings.simplefilter("ignore")  # zipfile warns "Duplicate name", and writes it
        for name, data in members:
            writer.writestr(name, data)
    return path


def test_every_copy_of_a_repeated_name_is_captioned_and_resumed(tmp_path):
    first, second, other = (jpeg_bytes(p) for p in PHOTOS[:3])
    archive = _zip_with_a_repeated_name(tmp_path / "dup.zip", [("a.jpg", first), ("a.jpg", second), ("b.jpg", other)])
    assert zip_pictures(archive) == 3  # the dry run's count
    summary = caption(archive, "-o", tmp_path / "out")
    assert (summary["ok"], summary["error"]) == (3, 0)
    rows = {r["source_key"]: r for r in read_results(tmp_path / "out")}
    assert sorted(rows) == ["a.jpg", "a.jpg#2", "b.jpg"]
    assert (rows["a.jpg"]["key"], rows["a.jpg#2"]["key"]) == (_sha(first), _sha(second))
    assert rows["a.jpg#2"]["path"] == f"{archive}::a.jpg#2"
    assert read_item(f"{archive}::a.jpg#2").data == second and read_item(f"{archive}::a.jpg").data == first
    again = caption(archive, "-o", tmp_path / "out")
    assert (again["ok"], again["skipped"]) == (0, 3)


def test_a_repeated_pdf_member_has_pages_of_its_own(tmp_path):
    pytest.importorskip("pypdfium2")
    archive = _zip_with_a_repeated_name(
        tmp_path / "docs.zip", [("scan.pdf", text_pdf([["One"]])), ("scan.pdf", text_pdf([["Two"], ["Three"]]))]
    )
    keys = [item.key for item in zip_items(archive, ColumnChoice())]
    assert keys == ["scan.pdf::page-0001", "scan.pdf#2::page-0001", "scan.pdf#2::page-0002"]
    assert read_item(f"{archive}::scan.pdf#2::page-0002").data is not None


def test_an_encrypted_member_says_what_to_do(tmp_path):
    if shutil.which("zip") is None:
        pytest.skip("the zip tool is not installed")
    (tmp_path / "img028.jpg").write_bytes(jpeg_bytes(PHOTOS[0]))
    archive = tmp_path / "locked.zip"
    subprocess.run(["zip", "-q", "-P", "pw", str(archive), "img028.jpg"], cwd=tmp_path, check=True)
    summary = caption(archive, "-o", tmp_path / "out", code=9)
    (row,) = read_results(tmp_path / "out")
    assert row["error"].startswith(f"{archive}::img028.jpg cannot be read: it is encrypted (password-protected)")
    assert "unzip -P PASSWORD locked.zip" in row["error"] and "ZipInfo" not in row["error"]
    assert summary["error"] == 1


def _deflated(streamed: bool) -> bytes:
    """A zip of three pictures as zipfile writes it to a file, or to a pipe (streamed: each
    member's sizes in a data descriptor after it, as Google Drive's zips are)."""

    class Pipe(io.RawIOBase):
        def __init__(self) -> None:
            self.data = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, chunk) -> int:
            self.data += chunk
            return len(chunk)

    sink = Pipe() if streamed else io.BytesIO()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as writer:
        for i, photo in enumerate(PHOTOS[:3]):
            writer.writestr(f"p{i}.jpg", jpeg_bytes(photo))
    return bytes(sink.data) if streamed else sink.getvalue()


@pytest.mark.parametrize("streamed", [False, True], ids=["sized", "streamed"])
def test_a_truncated_download_keeps_what_was_read(tmp_path, streamed):
    data = _deflated(streamed)
    with zipfile.ZipFile(io.BytesIO(data)) as whole:
        p2 = whole.getinfo("p2.jpg").header_offset
    archive = tmp_path / "cut.zip"
    archive.write_bytes(data[: p2 + 1000])  # cut inside the third member
    summary = caption(archive, "-o", tmp_path / "out", code=9)
    assert (summary["ok"], summary["error"]) == (2, 0)
    (error,) = summary["shard_errors"]
    assert "truncated (no central directory at its end)" in error and "stops inside p2.jpg" in error
    assert sorted(r["source_key"] for r in read_results(tmp_path / "out")) == ["p0.jpg", "p1.jpg"]
    assert read_item(f"{archive}::p1.jpg").data == jpeg_bytes(PHOTOS[1])
    again = caption(archive, "-o", tmp_path / "out", code=9)
    assert (again["ok"], again["skipped"]) == (0, 2)


def test_a_zip_cut_inside_its_index_has_every_member(tmp_path):
    data = _deflated(False)
    archive = tmp_path / "almost.zip"
    archive.write_bytes(data[:-30])  # the end of the central directory is gone
    summary = caption(archive, "-o", tmp_path / "out", code=9)
    assert summary["ok"] == 3 and "index at its end is cut off or damaged" in summary["shard_errors"][0]


def test_bytes_that_are_no_zip_are_still_not_a_zip(tmp_path):
    archive = tmp_path / "fake.zip"
    archive.write_bytes(b"PK\x05\x06" + b"\x00" * 10)  # an empty archive's end record, cut
    with pytest.raises(Exception, match="not a readable zip archive"):
        list(zip_items(archive, ColumnChoice()))
