"""A zip archive of pictures (a Kaggle or Google Drive download, a `.cbz` comic), read in the
archive's order without unpacking it.

Every member whose name is a picture's (`.jpg`, `.png`, ...) or a video's (`.mp4`, ...:
captioned with `--videos`) is one item, keyed by its path
inside the archive. Folders, other files, and what macOS's Archive Utility adds (`__MACOSX/`,
`._photo.jpg` resource forks, `.DS_Store`) are skipped. A member that cannot be read
(encrypted, a bad checksum, a compression method Python lacks) is that item's error; an
archive whose index is missing (truncated) is not readable at all. Members have no columns,
so `--key-column` and `--keep-columns` do not apply.
"""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.item import ShardItem
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def media_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members that are pictures or videos, in the archive's order (from its index: nothing read)."""
    return [info for info in archive.infolist() if _is_media(info)]


def _is_media(info: zipfile.ZipInfo) -> bool:
    if info.is_dir() or info.filename.startswith("__MACOSX/"):
        return False
    base = posixpath.basename(info.filename)
    return not base.startswith(".") and posixpath.splitext(base)[1].lower() in MEDIA_EXTENSIONS


def open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable zip archive (damaged or truncated: {exc}).") from None


def zip_items(path: Path, choice: ColumnChoice) -> Iterator[ShardItem]:
    if choice.key_column or choice.keep_columns:
        raise ConfigError(f"{path}: a zip archive's members have no columns; drop --key-column and --keep-columns.")
    with open_archive(path) as archive:
        for info in media_members(archive):
            try:
                yield ShardItem(key=info.filename, data=archive.read(info), name=info.filename)
            except RuntimeError as exc:  # encrypted: zipfile asks for a password
                yield ShardItem(key=info.filename, error=f"{path}::{info.filename} cannot be read ({exc}).")
            except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError) as exc:
                yield ShardItem(key=info.filename, error=f"{path}::{info.filename} is damaged in the archive ({exc}).")
