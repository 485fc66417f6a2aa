"""Model text bound for a terminal, shown rather than obeyed.

A model's answer is untrusted text: an image can carry a prompt injection, and the answer
then holds what a terminal runs instead of showing (`ESC ] 0 ;` sets the window title,
`ESC ] 52 ;` writes the clipboard, `ESC [ 2J` clears the screen, U+202E reverses what
follows). When stdout is a terminal, the text renderer writes answers through `visible`:
each C0/C1 control character but newline and tab, and each bidi control, as its Python
escape (`\\x1b`, `\\r`, `\\u202e`), the spelling `display_name` gives them in file names;
an undecodable byte of a file name as `\\xNN`. Piped or redirected, answers stay
byte-exact (a script gets what the model said); `--json` escapes them the JSON way.

Escaping works a character at a time, so it is the same token by token as on the whole
text: streaming is unchanged.
"""

from __future__ import annotations

import re
from typing import TextIO

_SHOWN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f"  # C0 but tab and newline, DEL, C1
    "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"  # bidi marks, embeddings, overrides, isolates
    "\udc80-\udcff]"  # undecodable bytes of a file name (os.fsdecode's lone surrogates)
)


def visible(text: str) -> str:
    """`text` with the characters a terminal would obey written as escapes.

    >>> visible("ok\\tfine\\n\\x1b]0;title\\x07 \\u202eevil")
    'ok\\tfine\\n\\\\x1b]0;title\\\\x07 \\\\u202eevil'
    """
    return _SHOWN.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if "\udc80" <= char <= "\udcff":
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def is_terminal(stream: TextIO) -> bool:
    """Whether `stream` is a terminal (False for pipes, files, test buffers, closed streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class _Shown:
    """A terminal stream that writes text through `visible`."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        return self._stream.write(visible(text))

    def flush(self) -> None:
        self._stream.flush()


def shown(stream: TextIO) -> "TextIO | _Shown":
    """`stream` itself when piped or redirected (byte-exact), else one writing through `visible`."""
    return _Shown(stream) if is_terminal(stream) else stream
