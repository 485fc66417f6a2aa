"""Tables as spreadsheets save them: Excel's "CSV UTF-8" (a byte-order mark), "CSV (Comma
delimited)" (cp1252 on Windows), "Unicode Text" (UTF-16 with tabs) and, in locales whose
decimal mark is a comma, semicolons. Before, cp1252 gave no rows ("damaged after row 0:
invalid UTF8 data"), UTF-16 a traceback ("unexpected UnicodeDecodeError"), and tabs or
semicolons in a .txt/.csv one column holding whole lines."""

from __future__ import annotations

import json

import pytest

from vlmcli.exports.results import read_results
from vlmcli.inputs.csv_dialect import Dialect, sniff
from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)


def test_the_dialect_is_told_from_the_first_bytes():
    assert sniff("path\tlabel\na.jpg\tcafé\n".encode("utf-16")) == Dialect("utf-16", "\t")
    assert sniff("path,label\na.jpg,café\n".encode("utf-8-sig")) == Dialect("utf-8-sig", ",")
    assert sniff("path;label\na.jpg;café\n".encode("cp1252")) == Dialect("cp1252", ";")
    assert sniff(b"path,label\na.jpg,\x81\xe9\n") == Dialect("latin-1", ",")  # 0x81: no cp1252 character
    assert sniff("path,label\na.jpg,é".encode()[:-1]) == Dialect("utf8", ",")  # a character cut by the sample's end
    assert sniff(b"path\n", suffix=".tsv") == Dialect("utf8", "\t") and sniff(b"path\n") == Dialect("utf8", ",")


EXCEL = {
    "unicode-text.txt": ("utf-16", "\t"),
    "csv-utf8.csv": ("utf-8-sig", ","),
    "csv-windows.csv": ("cp1252", ","),
    "csv-europe.csv": ("cp1252", ";"),
}


@pytest.mark.parametrize("name", list(EXCEL))
def test_excels_saves_are_read_with_their_labels(monkeypatch, tmp_path, name):
    install_fake_engine(monkeypatch)
    for i, photo in enumerate(sample_photos()[:2]):
        (tmp_path / f"img{i}.jpg").write_bytes(jpeg_bytes(photo))
    encoding, delimiter = EXCEL[name]
    lines = [["path", "label"], ["img0.jpg", "café"], ["img1.jpg", "thé – vert"]]
    (tmp_path / name).write_text("\r\n".join(delimiter.join(line) for line in lines) + "\r\n", encoding=encoding)
    summary = caption(tmp_path / name, "-o", tmp_path / "out", "--input-format", "csv", "--keep-columns", "label")
    assert (summary["ok"], summary["error"]) == (2, 0)
    labels = sorted(json.loads(r["extra"])["label"] for r in read_results(tmp_path / "out"))
    assert labels == ["café", "thé – vert"]
