"""Read the bytes of one input: a file path, or `-` for standard input.

Only regular files are read. A FIFO, socket or device is refused *before* it is read
(opening a FIFO for reading would block until a writer appears, and `/dev/zero` never
ends), so a stray pipe in a folder can never hang a run.
"""

from __future__ import annotations

import functools
import glob
import os
import stat
import sys
import unicodedata
from pathlib import Path
from typing import BinaryIO

from vlmcli.errors import InputError
from vlmcli.inputs.addresses import address_hint
from vlmcli.media.names import display_name

STDIN = "-"
_FETCH = "fetch it first and pass the file, or pipe it (curl -sL URL | vlm ask - QUESTION)."
"""What to do with a URL given as an input (`inputs.addresses.address_hint`)."""
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)


def read_source(source: str | os.PathLike[str], *, stdin: BinaryIO | None = None) -> bytes:
    """All bytes of `source`; `-` reads `stdin` (default: the process's binary stdin).

    Raises InputError for a missing file, a directory, a FIFO/socket/device, an
    unreadable file, an empty input, or `-` while stdin is an interactive terminal.
    """
    if str(source) == STDIN:
        return _read_stdin(stdin)
    with open_regular(source) as handle:
        data = _read(handle, source)
    if not data:
        raise InputError(f"{display_name(source)} is empty (0 bytes).")
    return data


def read_head(source: str | os.PathLike[str], size: int) -> bytes:
    """The first `size` bytes of the regular file `source` (same refusals as `read_source`, bar empty)."""
    with open_regular(source) as handle:
        return _read(handle, source, size)


def open_regular(source: str | os.PathLike[str]) -> BinaryIO:
    """Open `source` for reading in binary, refusing anything that is not a regular file.

    The file is opened non-blocking (a FIFO then opens at once instead of waiting for a
    writer), checked with fstat on the open descriptor (no race with a rename), and only
    then wrapped in a normal blocking file object.
    """
    name = display_name(source)
    try:
        fd = os.open(os.fspath(source), _OPEN_FLAGS)
    except FileNotFoundError:
        raw = os.fspath(source)
        if isinstance(raw, str) and (hint := address_hint(raw, fetch=_FETCH, stdin=True)):  # a browser's address bar
            raise InputError(f"No such file: {name}{hint}") from None
        if isinstance(raw, str) and glob.has_magic(raw):  # left as typed by `patterns.expand_patterns`
            raise InputError(f"No such file: {name} (no file matches it as a pattern either).") from None
        raise InputError(f"No such file: {name}{nearby_hint(raw)}") from None
    except IsADirectoryError:
        raise _directory(source) from None
    except PermissionError:
        raise InputError(f"Cannot read {name}: permission denied.") from None
    except OSError as exc:
        raise InputError(f"Cannot read {name}: {exc.strerror or exc}.") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise _directory(source)
        if not stat.S_ISREG(mode):
            raise InputError(f"{name} is not a regular file (a FIFO, socket or device); pass image or video files.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def nearby_hint(raw: str | bytes) -> str:
    """A hint for a missing file that is there under another spelling: `~` left unexpanded
    (quoted in the shell, or written in a config), or a name in another case."""
    if not isinstance(raw, str):
        return ""
    if raw.startswith("~") and os.path.exists(expanded := os.path.expanduser(raw)):
        return f". The shell did not expand ~ (it was quoted): pass {display_name(expanded)}"
    if raw != raw.strip() and os.path.lexists(raw.strip()):  # a list written with trailing blanks
        return f" ({ascii(raw)} has blanks around it; the file is {display_name(raw.strip())})"
    if os.path.islink(raw):
        return f": it is a symbolic link to {display_name(os.readlink(raw))}, which does not exist"
    folder, base = os.path.split(raw)
    other = names_by_lower_case(folder or ".", most=50_000).get(folded(base))
    if not other or other == base:
        return ""
    if unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", base):
        return (
            f" (the folder holds this name with its accents encoded another way, {ascii(other)}, as macOS "
            "writes names: copy the name from the folder's listing)"
        )
    return f" (did you mean {display_name(os.path.join(folder, other))}?)"


def folded(name: str) -> str:
    """A file name as `names_by_lower_case` keys it: lower case, accents in one Unicode form (NFC)."""
    return unicodedata.normalize("NFC", name).lower()


def names_by_lower_case(folder: str, *, most: int | None = None) -> dict[str, str]:
    """`folded` name -> a name in `folder`, listed once per folder state (a --files-from list
    of a million missing files, a card of 10,000 raws: one listing); empty when the folder
    cannot be listed or holds more than `most` entries."""
    try:
        return _listing(os.path.abspath(folder), os.stat(folder).st_mtime_ns, most)
    except OSError:
        return {}


@functools.lru_cache(maxsize=8)
def _listing(folder: str, _mtime_ns: int, most: int | None) -> dict[str, str]:
    found: dict[str, str] = {}
    with os.scandir(folder) as entries:
        for count, entry in enumerate(entries):
            if most is not None and count >= most:
                return {}
            found.setdefault(folded(entry.name), entry.name)
    return found


def _directory(source: str | os.PathLike[str]) -> InputError:
    return InputError(
        f"{display_name(source)} is a directory; pass image files (e.g. {display_name(Path(source) / '*.jpg')})."
    )


def _read(handle: BinaryIO, source: str | os.PathLike[str], size: int = -1) -> bytes:
    try:
        return handle.read(size)
    except OSError as exc:  # EIO, EISDIR on odd file systems, ...
        raise InputError(f"Cannot read {display_name(source)}: {exc.strerror or exc}.") from None


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    stream = stdin if stdin is not None else sys.stdin.buffer
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        raise InputError("'-' reads an image from standard input, but stdin is a terminal; pipe a file in (vlm ask - '...' < photo.jpg).")
    data = stream.read()
    if not data:
        raise InputError("No image bytes on standard input ('-').")
    return data
