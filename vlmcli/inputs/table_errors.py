"""A table that cannot be read, told in one printable line of bounded length. Pure but for
reading the file's first bytes.

pyarrow's CSV parse error quotes the row it stopped at: a binary file read as CSV (a Parquet
file given with --input-format csv) put raw JPEG bytes and control characters into the
one-line error. A file named .parquet that is not Parquet at all was told by pyarrow's
"magic bytes not found in footer", which reads like a damaged download.

    unreadable(path, "CSV", exc)   # "x.parquet: not a CSV file: it holds binary data (a Parquet file: ...)."
"""

from __future__ import annotations

import os
from pathlib import Path

from vlmcli.media.names import display_name

EXCERPT = 200
"""Characters of a library's message kept (a CSV parse error quotes a whole row)."""
PARQUET_MAGIC = b"PAR1"
UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def reason(exc: BaseException) -> str:
    """`exc`'s message on one line, control characters escaped, cut to `EXCERPT` characters."""
    text = display_name(" ".join(str(exc).split()))
    return text if len(text) <= EXCERPT else text[:EXCERPT].rstrip() + "…"


def unreadable(path: Path, kind: str, exc: BaseException) -> str:
    """Why the table at `path`, read as `kind` ("Parquet", "Arrow", "CSV"), could not be
    opened: a file that is not of that kind says so by its first bytes."""
    name = display_name(os.fspath(path))
    head = _head(path)
    if kind == "Parquet" and head and not head.startswith(PARQUET_MAGIC):
        return f"{name}: not a Parquet file (it does not start with Parquet's mark, PAR1)."
    if kind == "CSV" and b"\x00" in head and not head.startswith(UTF16_MARKS):
        hint = " (a Parquet file: drop --input-format csv)" if head.startswith(PARQUET_MAGIC) else ""
        return f"{name}: not a CSV file: it holds binary data, not text{hint}."
    return f"{name}: not a readable {kind} file ({reason(exc)})."


def damaged(path: Path, rows: int, exc: BaseException) -> str:
    """A table that failed after `rows` rows were read."""
    return f"{display_name(os.fspath(path))}: damaged after row {rows} ({type(exc).__name__}: {reason(exc)})."


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(4096)
    except OSError:
        return b""
