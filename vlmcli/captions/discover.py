"""Which files a caption run looks at: folders (recursive), `--glob` patterns, `--files-from`.

Files named by the user (an INPUT argument or a `--files-from` line) always get a row,
an error row if they are not images. Files found by walking a folder or matching a glob
are kept when they look like images: by their first bytes (magic), or by an image
extension (so a corrupt `.jpg` still gets its error row); anything else (notes, videos,
the output folder) is ignored. Hidden files and folders are skipped while walking.

Every candidate's path is its resolved form (`vlmcli.sinks.identity`: absolute, folders
resolved, the file's own name kept), so a file gets the same path, hence the same rows,
whatever the current folder and however it was spelled (`mix`, `/abs/mix`, `./mix`,
`mix/../mix`, a symlinked folder); a file reached twice in one run is listed once.
Pure except for listing folders; reading file contents is `probe`'s job.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from vlmcli.errors import InputError
from vlmcli.inputs.windows_paths import local_spelling
from vlmcli.inputs.patterns import is_pattern, pattern_matches
from vlmcli.media.sources import STDIN
from vlmcli.sinks.identity import PathResolver



@dataclass(frozen=True)
class Candidate:
    path: str
    """Absolute, folders resolved (`vlmcli.sinks.identity`): the same file always has the same path."""
    explicit: bool
    """Named by the user: always gets a row. Otherwise kept only if it looks like an image."""


def parse_file_list(data: bytes) -> list[str]:
    """Paths from `--files-from` bytes: NUL-separated if there is a NUL (find -print0), else lines.
    A byte-order mark is dropped: UTF-8 with BOM (Notepad, Excel) is read as UTF-8, UTF-16
    (what Windows PowerShell 5's `dir -Name > list.txt` writes) is decoded first."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = os.fsencode(data.decode("utf-16"))
    data = data.removeprefix(b"\xef\xbb\xbf")
    parts = data.split(b"\0") if b"\0" in data else data.splitlines()
    paths = [os.fsdecode(part.rstrip(b"\r") if b"\0" not in data else part) for part in parts]
    return [p for p in paths if p.strip()]


def read_file_list(source: str, *, stdin: BinaryIO | None = None) -> list[str]:
    if source == STDIN:
        stream = stdin if stdin is not None else sys.stdin.buffer
        if getattr(stream, "isatty", lambda: False)():
            raise InputError("--files-from - reads paths from standard input, but stdin is a terminal; pipe a list in.")
        return parse_file_list(stream.read())
    if source.lower().endswith((".csv", ".tsv")):
        raise InputError(
            f"--files-from takes one path per line, and {source} is a table: pass it as an INPUT "
            f"(vlm caption-dir {source} ...) to caption the files its path column names, with --keep-columns for the rest."
        )
    try:
        return parse_file_list(Path(source).read_bytes())
    except FileNotFoundError:
        raise InputError(f"No such file list: {source}") from None
    except OSError as exc:
        raise InputError(f"Cannot read file list {source}: {exc.strerror or exc}.") from None


def _inside(path: str, folder: Path | None) -> bool:
    if folder is None:
        return False
    try:
        return Path(path).resolve().is_relative_to(folder)
    except OSError:
        return False


def walk(folder: str, *, exclude: Path | None = None) -> Iterator[str]:
    """Files under `folder`, in sorted order, skipping hidden entries and `exclude`."""
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _inside(os.path.join(root, d), exclude))
        for name in sorted(files):
            if not name.startswith("."):
                yield os.path.join(root, name)


def discover(
    *,
    inputs: Sequence[str] = (),
    globs: Sequence[str] = (),
    files_from: str | None = None,
    exclude: Path | None = None,
    stdin: BinaryIO | None = None,
) -> list[Candidate]:
    """Every candidate file once, by resolved path (first mention wins; a user-named file stays explicit)."""
    exclude = exclude.resolve() if exclude is not None else None
    found: dict[str, Candidate] = {}
    resolve = PathResolver()

    def add(path: str, explicit: bool) -> None:
        real = resolve(path)
        if real not in found or (explicit and not found[real].explicit):
            found[real] = Candidate(path=real, explicit=explicit)

    for source in inputs:
        if source == STDIN:
            raise InputError("caption-dir reads files, not stdin; use --files-from - to pipe a list of paths.")
        if os.path.isdir(source):
            for path in walk(source, exclude=exclude):
                add(path, False)
        elif os.path.lexists(source):
            add(source, True)
        elif is_pattern(source):  # quoted, or typed in cmd.exe/PowerShell: a --glob, in effect
            matched = [path for path in pattern_matches(source) if not _inside(path, exclude)]
            if not matched:
                raise InputError(f"No such file or folder: {source} (no file matches it as a pattern either)")
            for path in matched:
                add(path, False)
        else:
            raise InputError(f"No such file or folder: {source}")
    for pattern in globs:
        for path in sorted(glob.glob(pattern, recursive=True)):
            if os.path.isfile(path) and not _inside(path, exclude):
                add(path, False)
    if files_from is not None:
        for path in read_file_list(files_from, stdin=stdin):
            add(local_spelling(path, Path.cwd()), True)  # images\\0001.jpg in a list written on Windows
    return list(found.values())
