"""Read the bytes of one input: a file path, or `-` for standard input."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import BinaryIO

from vlmcli.errors import InputError

STDIN = "-"


def read_source(source: str | os.PathLike[str], *, stdin: BinaryIO | None = None) -> bytes:
    """All bytes of `source`; `-` reads `stdin` (default: the process's binary stdin).

    Raises InputError for a missing file, a directory, an unreadable file, an empty
    input, or `-` while stdin is an interactive terminal.
    """
    if str(source) == STDIN:
        return _read_stdin(stdin)
    path = Path(source)
    if path.is_dir():
        raise InputError(f"{source} is a directory; pass image files (e.g. {Path(source) / '*.jpg'}).")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"No such file: {source}") from None
    except PermissionError:
        raise InputError(f"Cannot read {source}: permission denied.") from None
    except OSError as exc:
        raise InputError(f"Cannot read {source}: {exc.strerror or exc}.") from None
    if not data:
        raise InputError(f"{source} is empty (0 bytes).")
    return data


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    stream = stdin if stdin is not None else sys.stdin.buffer
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        raise InputError("'-' reads an image from standard input, but stdin is a terminal; pipe a file in (vlm ask - '...' < photo.jpg).")
    data = stream.read()
    if not data:
        raise InputError("No image bytes on standard input ('-').")
    return data
