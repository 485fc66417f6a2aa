"""A zip archive of pictures (a Kaggle or Google Drive download, a `.cbz` comic), read in the
archive's order without unpacking it.

Every member whose name is a picture's (`.jpg`, `.png`, ...) or a video's (`.mp4`, ...:
captioned with `--videos`) is one item, keyed by its path
inside the archive. A PDF member (a zip of invoices or scans) is read page by page as a PDF
argument is (`inputs.pdf_shard`): its pages are items keyed `<member>::page-0003`, so a row's
path reads `invoices.zip::2024/march.pdf::page-0003`; one that will not open is the member's
error. Folders, other files, and what macOS's Archive Utility adds (`__MACOSX/`,
`._photo.jpg` resource forks, `.DS_Store`) are skipped. A member that cannot be read
(encrypted, a bad checksum, a compression method Python lacks) is that item's error; an
archive whose index is missing (truncated) is not readable at all. Members have no columns,
so `--key-column` and `--keep-columns` do not apply.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.item import SEPARATOR, ShardItem, item_path
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

PDF_EXTENSION = ".pdf"
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | {PDF_EXTENSION}


def media_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members that are pictures, videos or PDFs, in the archive's order (from its index: nothing read)."""
    return [info for info in archive.infolist() if _is_media(info)]


def is_pdf_member(info: zipfile.ZipInfo) -> bool:
    return info.filename.lower().endswith(PDF_EXTENSION)


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
            member = _read(archive, info, path)
            if member.data is not None and is_pdf_member(info):
                yield from _pages(member.data, path, info, choice.page_pixels)
            else:
                yield member


def zip_item(path: Path, key: str, *, page_pixels: int | None = None) -> ShardItem | None:
    """The item `key` names (a member, a PDF member whole, or `<member>::page-0003` of a PDF
    member: only that page is rendered), or None when the archive has no such member."""
    from vlmcli.inputs.pdf_shard import page_item

    member_name, page = _member_and_page(key)
    with open_archive(path) as archive:
        info = next((i for i in media_members(archive) if i.filename == member_name), None)
        if info is None or (page and not is_pdf_member(info)):
            return None
        member = _read(archive, info, path)
    if member.data is None or not page:
        return member
    try:
        return page_item(member.data, key=page, max_pixels=page_pixels, **_as_document(path, member_name))
    except InputError as exc:
        return ShardItem(key=key, error=str(exc))


def _member_and_page(key: str) -> tuple[str, str]:
    """(member, page) of `<member>.pdf::page-0003` (or `#page=3`, as `--json` names a page);
    (key, "") for a key that names no page."""
    match = re.fullmatch(r"(?P<member>.+\.pdf)(?:::(?P<page>.+)|#page=(?P<number>[0-9]+))", key, flags=re.IGNORECASE)
    if match is None:
        return key, ""
    return match["member"], match["page"] or match["number"]


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> ShardItem:
    """The member as an item: its bytes, or why they cannot be read."""
    try:
        return ShardItem(key=info.filename, data=archive.read(info), name=info.filename)
    except RuntimeError as exc:  # encrypted: zipfile asks for a password
        return ShardItem(key=info.filename, error=f"{path}::{info.filename} cannot be read ({exc}).")
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError) as exc:
        return ShardItem(key=info.filename, error=f"{path}::{info.filename} is damaged in the archive ({exc}).")


def _pages(data: bytes, path: Path, info: zipfile.ZipInfo, max_pixels: int | None) -> Iterator[ShardItem]:
    """A PDF member's pages; a document that will not open is one error item, keyed by the member."""
    from vlmcli.inputs.pdf_shard import page_items

    try:
        yield from page_items(data, max_pixels=max_pixels, **_as_document(path, info.filename))
    except InputError as exc:
        yield ShardItem(key=info.filename, error=str(exc))


def _as_document(path: Path, member: str) -> dict[str, str]:
    """How a PDF member's pages are named: in messages `<zip>::<member>`, keyed
    `<member>::page-0003`, exported under `2024/march/`."""
    folder = posixpath.splitext(member)[0] + "/"
    return {"name": item_path(str(path), member), "prefix": f"{member}{SEPARATOR}", "folder": folder}
