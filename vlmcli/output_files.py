"""Writing a result file or folder the user named with -o: its failures as `OutputError`.

A path under a file (`-o photo.jpg/out`), a folder that cannot be made (`/proc/x`), no
permission or no space left: one line naming the path and the reason, exit 8, instead of
"unexpected FileExistsError" (exit 1, "a bug"). Also the errors that mean results could
not be written at all, wherever they happen (`is_write_failure`: a full disk under stdout).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from vlmcli.errors import OutputError

WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})
"""errno values that only a write raises: the results could not be written."""


def make_folder(path: Path) -> Path:
    """`path` and its parents, made if missing; `OutputError` when they cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        first = _first_file(path)
        why = "a file has that name" if first == path else f"{first} is a file, not a folder"
        raise OutputError(f"Cannot create the folder {path}: {why}.") from None
    except OSError as exc:
        raise OutputError(f"Cannot create {path}: {exc.strerror or exc}.") from None
    return path


def write_text(path: Path, text: str) -> None:
    """`text` (UTF-8) to `path`, its folder made first; `OutputError` when it cannot be written.
    A full disk or a file size limit leaves no cut-off file (`written_whole`)."""
    make_folder(path.parent)
    try:
        with written_whole(path) as partial, open(partial, "x", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise OutputError(f"Cannot write {path}: {exc.strerror or exc}.") from None


@contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A hidden name beside `path` to write to, renamed to `path` when the block ends; removed
    when it raises (a full disk, a file size limit, Ctrl-C): a reader never finds a cut-off file
    under the final name, and an earlier file of that name stays as it was until then."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        with suppress(OSError):
            partial.unlink(missing_ok=True)
        raise


def is_write_failure(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in WRITE_FAILURES


def _first_file(path: Path) -> Path:
    """The part of `path` that exists and is not a folder (`photo.jpg` of `photo.jpg/out`)."""
    return next((part for part in (*reversed(path.parents), path) if part.exists() and not part.is_dir()), path)
