"""CSV files that are not plain UTF-8 (Excel's "CSV UTF-8" with a byte-order mark, its "CSV
(Comma delimited)" in cp1252, "Unicode Text" in UTF-16), read through pyarrow's streaming reader.

Before: pyarrow transcoded them with a Python codec called from its own read-ahead thread.
A reader not read to its end (the schema read alone, as for "has no image column"; a run
stopped part way) could leave that thread in the codec, and at interpreter exit the process
aborted ("terminate called without an active exception", exit 134: `caption-dir` 3 runs in
30 on a two-line BOM CSV) or hung: here about one run in two. Now such a file is transcoded in the calling thread (`inputs/csv_table.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import vlmcli
from vlmcli.inputs.table_shard import open_csv_table

ROOT = Path(vlmcli.__file__).resolve().parents[1]
ROWS = 400_000
"""About 8 MB: several of pyarrow's 1 MiB blocks, so its read-ahead is still at work when the
schema has been read."""
RUNS = 40
ABANDON = (  # a run stopped with its table's rows part read: the reader is still held at exit
    "from pathlib import Path; import sys; from vlmcli.inputs.table_shard import open_csv_table; "
    "reader = open_csv_table(Path(sys.argv[1]), None); print(reader.schema.names, reader.read_next_batch().num_rows > 0)"
)


def _table(tmp_path: Path, name: str, header: str, encoding: str) -> Path:
    rows = "".join(f"caf\u00e9 {i};{i}\r\n" for i in range(ROWS))
    path = tmp_path / name
    path.write_bytes((header + rows).encode(encoding))
    return path


@pytest.fixture
def tables(tmp_path):
    return [
        _table(tmp_path, "bom.csv", "\ufefflabel;score\r\n", "utf-8"),
        _table(tmp_path, "ansi.csv", "label;score\r\n", "cp1252"),
    ]


def test_a_reader_held_at_exit_never_aborts_or_hangs(tables):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for run in range(RUNS):
        table = tables[run % len(tables)]
        try:
            done = subprocess.run(
                [sys.executable, "-c", ABANDON, str(table)], capture_output=True, text=True, timeout=8, env=env, cwd=ROOT
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"run {run} on {table.name}: hung at exit")
        assert done.returncode == 0, f"run {run} on {table.name}: exit {done.returncode}: {done.stderr[-300:]}"
        assert done.stdout.strip() == "['label', 'score'] True"


@pytest.mark.parametrize(
    ("name", "encoding", "mark"),
    [("bom.csv", "utf-8", "\ufeff"), ("ansi.csv", "cp1252", ""), ("unicode.txt", "utf-16", ""), ("latin.csv", "latin-1", "")],
)
def test_each_encoding_reads_the_same_rows(tmp_path, name, encoding, mark):
    path = tmp_path / name
    path.write_bytes((mark + "Path\tLabel\r\nimages/caf\u00e9.jpg\tcaf\u00e9\r\nimages/b.jpg\t\u00fcber\r\n").encode(encoding))
    rows = open_csv_table(path, ["Path", "Label"]).read_all().to_pylist()
    assert rows == [{"Path": "images/caf\u00e9.jpg", "Label": "caf\u00e9"}, {"Path": "images/b.jpg", "Label": "\u00fcber"}]


def test_a_byte_the_code_page_lacks_still_reads(tmp_path):
    path = tmp_path / "odd.csv"
    path.write_bytes(b"path,label\r\n" + b"a.jpg,caf\xe9\r\n" * 3 + b"b.jpg,x\x81y\r\n")  # 0x81: undefined in cp1252
    rows = open_csv_table(path, ["path", "label"]).read_all().to_pylist()
    assert [r["path"] for r in rows] == ["a.jpg"] * 3 + ["b.jpg"]
