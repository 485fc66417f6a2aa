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
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in utf8_text(text))


def input_name(source: str) -> str:
    """An input argument as messages name it: `<stdin>` for `-` (standard input), else
    `display_name(source)`."""
    return "<stdin>" if source == "-" else display_name(source)


def said_of(name: str, message: str) -> str:
    """`message` (a sentence) said of the input `name`: `name: message`, its first word in
    lower case after the colon ("x.tif: a TIFF of 3 pages", not "A TIFF"; "TIFF" stays)."""
    word = message.split(" ", 1)[0]
    head = message[:1] if len(word) > 1 and word.isupper() else message[:1].lower()
    return f"{name}: {head}{message[1:]}"


def utf8_text(text: str) -> str:
    """`text` unchanged if it is valid UTF-8, else with undecodable bytes as `\\xNN` escapes.

    What JSON output and stored rows hold for a file name that is not UTF-8: valid text a
    person can read (the exact bytes travel beside it as `path_bytes`).
    """
    if not has_surrogates(text):
        return text
    try:
        raw = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that is not an escaped byte (not from a file name)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def has_surrogates(text: str) -> bool:
    """True if `text` holds lone surrogates (undecodable bytes of a file name)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
