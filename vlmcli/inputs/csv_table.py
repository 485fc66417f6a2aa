"""Opening a CSV/TSV table for pyarrow's streaming reader, in its own encoding and delimiter.

pyarrow reads UTF-8 itself (a byte-order mark included, which it skips). For any other
encoding (UTF-16, the Windows code page) it would call a Python codec from its own reading
thread, which reads ahead of the rows asked for: a reader dropped before its end (the schema
read alone, a run stopped early) left that thread in the codec, and when the interpreter
exited the thread was stopped taking the GIL, which aborted the process ("terminate called
without an active exception", exit 134) or hung it at exit. So such a file is transcoded to
UTF-8 here, in the calling thread, into a buffer Arrow owns: no Python code ever runs on
Arrow's threads. Files in those encodings are spreadsheet exports (Excel's CSV and Unicode
Text hold at most 1,048,576 rows), so the buffer is small.

    reader = open_csv_table(Path("excel.csv"), ["Path"])   # a pyarrow CSVStreamingReader
"""

from __future__ import annotations

import codecs
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from vlmcli.inputs.csv_dialect import Dialect

ARROW_READS = frozenset({"utf8", "utf-8-sig"})
"""Encodings pyarrow reads natively (it skips a UTF-8 byte-order mark)."""
CHUNK = 1 << 20


def open_csv_table(path: Path, columns: list[str] | None) -> Any:
    """A streaming reader of the CSV at `path` in its own encoding and delimiter (`csv_dialect`:
    UTF-8, UTF-16 or the Windows code page; commas, tabs, semicolons), `columns` as text."""
    import pyarrow as pa
    from pyarrow import csv

    dialect = _dialect(str(path), path.stat().st_mtime_ns)
    parse = csv.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True)
    convert = csv.ConvertOptions(
        include_columns=columns or [], column_types={c: pa.string() for c in columns or []}, strings_can_be_null=False
    )
    read = csv.ReadOptions(use_threads=False)  # UTF-8: what `_utf8_source` gives
    return csv.open_csv(_utf8_source(path, dialect.encoding), read_options=read, parse_options=parse, convert_options=convert)


def _utf8_source(path: Path, encoding: str) -> "str | pa.BufferReader":
    """The file itself when Arrow reads its encoding, else its text as UTF-8 in an Arrow
    buffer (decoded here, undecodable bytes as U+FFFD)."""
    if encoding in ARROW_READS:
        return str(path)
    import pyarrow as pa

    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    out = pa.BufferOutputStream()  # Arrow's own memory: freeing it needs no GIL
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            out.write(decoder.decode(chunk).encode("utf-8"))
    out.write(decoder.decode(b"", final=True).encode("utf-8"))
    return pa.BufferReader(out.getvalue())


@functools.lru_cache(maxsize=16)
def _dialect(path: str, _mtime_ns: int) -> "Dialect":
    """The CSV's dialect, sniffed once per file state (its schema, its rows and its count each open it)."""
    from vlmcli.inputs.csv_dialect import sniff
    from vlmcli.text_encoding import HEAD

    with open(path, "rb") as handle:
        return sniff(handle.read(HEAD), suffix=Path(path).suffix)
