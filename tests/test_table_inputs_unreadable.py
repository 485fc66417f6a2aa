"""Tables that cannot be read say why in one printable line.

Before: `caption-dir x.parquet --input-format csv` printed pyarrow's "CSV parse error" with
the row it stopped at: raw JPEG bytes and control characters on the terminal; a file named
.parquet holding no Parquet at all was "Parquet magic bytes not found in footer", as if it
were a damaged download. Now a binary file read as CSV says so (and names Parquet when it is
one), a .parquet file that does not start with Parquet's mark says it is not Parquet, and a
library's message is escaped and cut short."""

from __future__ import annotations

import os

import pytest

from vlmcli.testing import sample_photos
from vlmcli.testing.fakes import caption_dir as caption, install_fake_engine, isolate_env
from vlmcli.testing.media.datasets import jpeg_bytes


@pytest.fixture(autouse=True)
def _isolated(monkeypatch, tmp_path):
    isolate_env(monkeypatch, tmp_path)
    install_fake_engine(monkeypatch)


def _printable_line(text: str) -> bool:
    return "\n" not in text.strip() and all(c.isprintable() for c in text.strip())


def test_a_parquet_read_as_csv(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    photos = [jpeg_bytes(p) for p in sample_photos()[:2]]
    pq.write_table(pa.table({"image": photos, "label": ["a", "b"]}), tmp_path / "x.parquet")
    summary = caption(tmp_path / "x.parquet", "--input-format", "csv", "-o", tmp_path / "out", code=9)
    (error,) = summary["shard_errors"]
    assert error == f"{tmp_path / 'x.parquet'}: not a CSV file: it holds binary data, not text (a Parquet file: drop --input-format csv)."


def test_a_csv_parse_error_is_escaped_and_short(tmp_path):
    row = "images/b.jpg,\x1b[31mred\x07," + "x" * 5000
    (tmp_path / "t.csv").write_text(f"path,label\nimages/a.jpg,ok\n{row}\n", encoding="utf-8")
    summary = caption(tmp_path / "t.csv", "-o", tmp_path / "out", code=9)
    (error,) = summary["shard_errors"]
    assert "not a readable CSV file (CSV parse error: Row #3: Expected 2 columns, got 3" in error
    assert "\\x1b[31mred\\x07" in error and _printable_line(error) and len(error) < 400


def test_a_file_named_parquet_that_is_not(tmp_path):
    folder = tmp_path / "shards"
    folder.mkdir()
    (folder / "00000.parquet").write_bytes(os.urandom(4096).replace(b"PAR1", b"PAR2"))
    summary = caption(folder, "-o", tmp_path / "out", code=9)
    (error,) = summary["shard_errors"]
    assert error == f"{folder / '00000.parquet'}: not a Parquet file (it does not start with Parquet's mark, PAR1)."
    forced = caption(folder / "00000.parquet", "--input-format", "parquet", "-o", tmp_path / "out2", code=9)
    assert forced["shard_errors"] == [error]


def test_a_parquet_cut_short_is_still_damaged_not_foreign(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"image": ["a.jpg"] * 100}), whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[:200])
    summary = caption(cut, "-o", tmp_path / "out", code=9)
    (error,) = summary["shard_errors"]
    assert error.startswith(f"{cut}: not a readable Parquet file (") and _printable_line(error)
