"""File names as they may appear in a one-line message.

A file name on Linux is any bytes but `/` and NUL: it may hold a newline (which would
break the "one line on stderr" promise and the one-line `error` column) or bytes that are
not UTF-8 (Python carries them as lone surrogates, which no UTF-8 writer accepts).
`display_name` keeps ordinary names exactly as they are and escapes only those.
"""

from __future__ import annotations

import os


def display_name(path: str | os.PathLike[str]) -> str:
    """`path` for humans: unchanged if printable UTF-8, else with `\\n`, `\\xe9`-style escapes.

    >>> display_name("my photo.jpg")
    'my photo.jpg'
    >>> display_name("two\\nlines.jpg")
    'two\\\\nlines.jpg'
    """
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if text.isprintable() and not has_surrogates(text):
        return text
    raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in raw)


def has_surrogates(text: str) -> bool:
    """True if `text` holds lone surrogates (undecodable bytes of a file name)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
