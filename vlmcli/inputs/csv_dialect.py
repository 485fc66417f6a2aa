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

from vlmcli.text_encoding import text_encoding

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


def _delimiter(header: str, *, suffix: str) -> str:
    """The character that splits the header line most often; tab for a .tsv, comma when none does."""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: (counts[d], d == "\t" and suffix == ".tsv", d == ","))
    if counts[best] == 0:
        return "\t" if suffix == ".tsv" else ","
    return best
