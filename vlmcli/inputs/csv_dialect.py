"""How a CSV or TSV file is written, told from its first bytes: encoding and delimiter. Pure.

Spreadsheets write tables in more ways than UTF-8 with commas. Excel alone offers "CSV
UTF-8" (a byte-order mark), "CSV (Comma delimited)" (the Windows code page, cp1252 in the
West: `café` is one byte 0xE9), "Unicode Text" (UTF-16 with tabs) and, where the decimal
mark is a comma (most of Europe), semicolons. Read as UTF-8 with commas, the first two gave
no rows ("invalid UTF8 data") and the third a traceback.

    dialect = sniff(path.read_bytes()[:HEAD], suffix=".txt")   # Dialect("utf-16", "\\t")
"""

from __future__ import annotations

from dataclasses import dataclass

HEAD = 1 << 20
"""Bytes looked at: the encoding is told from them (a CSV is one encoding throughout)."""
DELIMITERS = (",", "\t", ";", "|")


@dataclass(frozen=True)
class Dialect:
    encoding: str
    """A Python codec name pyarrow transcodes from ("utf8" needs no transcoding)."""
    delimiter: str


def sniff(head: bytes, *, suffix: str = "") -> Dialect:
    """The dialect of a table whose first bytes are `head`; `suffix` (".tsv") breaks ties."""
    encoding = text_encoding(head)
    text = head.decode(encoding if encoding != "utf8" else "utf-8", errors="replace").lstrip("\ufeff")
    return Dialect(encoding, _delimiter(text.split("\n", 1)[0], suffix=suffix.lower()))


def text_encoding(head: bytes) -> str:
    """The encoding of a text file (a table, JSON records) whose first bytes are `head`:
    UTF-16 by its byte-order mark (Excel's "Unicode Text", PowerShell 5's `> file`), UTF-8 with
    or without one, else the Windows code page (cp1252), else latin-1 (every byte a character)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"  # the byte-order mark says which end first
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data":  # not just a character cut by the end of the sample
            try:
                head.decode("cp1252")
            except UnicodeDecodeError:
                return "latin-1"  # bytes cp1252 leaves undefined: every byte is a character here
            return "cp1252"
    return "utf8"


def _delimiter(header: str, *, suffix: str) -> str:
    """The character that splits the header line most often; tab for a .tsv, comma when none does."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == "\t" and suffix == ".tsv", d == ","))
    if counts[best] == 0:
        return "\t" if suffix == ".tsv" else ","
    return best
