"""Which encoding a text file a user hands us is in, and reading it so. Pure but for `read_text`.

JSON and CSV should be UTF-8, and so should a prompt file; files saved on Windows often are
not: Notepad's old "Unicode" and PowerShell 5's `> file` write UTF-16 with a byte-order mark,
Excel's "CSV (Comma delimited)" and older tools the Windows code page (cp1252 in the West).
Read as UTF-8 they failed ("invalid start byte") or, with replacement, lost their accents.

    text = read_text(path)   # str, whatever of those encodings the file is in
"""

from __future__ import annotations

from pathlib import Path

HEAD = 1 << 20
"""Bytes looked at: a text file is one encoding throughout."""


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


def read_text(path: str | Path) -> str:
    """The text of the file at `path` in its own encoding (`text_encoding`), without a
    byte-order mark. `OSError` when it cannot be read."""
    data = Path(path).read_bytes()
    encoding = text_encoding(data[:HEAD])
    return data.decode("utf-8-sig" if encoding == "utf8" else encoding, errors="replace").lstrip("\ufeff")
