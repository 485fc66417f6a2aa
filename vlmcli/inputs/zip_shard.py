"""A zip archive of pictures (a Kaggle or Google Drive download, a `.cbz` comic), read in the
archive's order without unpacking it.

Every member whose name is a picture's (`.jpg`, `.png`, ...) or a video's (`.mp4`, ...:
captioned with `--videos`) is one item, keyed by its path
inside the archive. A PDF member (a zip of invoices or scans) is read page by page as a PDF
argument is (`inputs.pdf_shard`): its pages are items keyed `<member>::page-0003`, so a row's
path reads `invoices.zip::2024/march.pdf::page-0003`; one that will not open is the member's
error. Folders, other files, and what macOS's Archive Utility adds (`__MACOSX/`,
`._photo.jpg` resource forks, `.DS_Store`: `archive_names`) are skipped. A name the archive
holds twice (Python's zipfile writes a name again when asked, with only a warning) gives each copy an item:
`a.jpg`, then `a.jpg#2`. A member that cannot be read (encrypted, a bad checksum, a
compression method Python lacks) is that item's error; an archive whose index is missing (a
download cut short) gives the members its local headers hold, then fails the shard
(`zip_salvage`). Members have no columns, so `--key-column` and `--keep-columns` do not apply.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from vlmcli.errors import InputError
from vlmcli.inputs.archive_names import is_debris
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.item import SEPARATOR, ShardItem, item_path
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

PDF_EXTENSION = ".pdf"
COPY = "#"
"""Between a repeated member's name and its copy number: `a.jpg#2`."""
ENCRYPTED = 0x1
"""The general-purpose flag bit of a password-protected member."""
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS | {PDF_EXTENSION}


def media_members(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The members that are pictures, videos or PDFs, in the archive's order (from its index: nothing read)."""
    return [info for info in archive.infolist() if not info.is_dir() and is_media_name(info.filename)]


def is_media_name(name: str) -> bool:
    return not is_debris(name) and posixpath.splitext(name)[1].lower() in MEDIA_EXTENSIONS


def is_pdf_member(info: zipfile.ZipInfo) -> bool:
    return info.filename.lower().endswith(PDF_EXTENSION)


def member_keys(names: Sequence[str]) -> list[str]:
    """Each member's key: its name; a name the archive holds again is `a.jpg#2`, `a.jpg#3`,
    ... so every copy is captioned and found again. Pure."""
    seen: dict[str, int] = {}
    return [_key(name, seen) for name in names]


def _key(name: str, seen: dict[str, int]) -> str:
    """`name`, or `name#<copy>` when `seen` (updated) holds it already."""
    seen[name] = seen.get(name, 0) + 1
    return name if seen[name] == 1 else f"{name}{COPY}{seen[name]}"


def open_archive(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise InputError(f"{path}: not a readable zip archive (damaged or truncated: {exc}).") from None


def zip_items(path: Path, choice: ColumnChoice) -> Iterator[ShardItem]:
    """The archive's items; its members have no columns (`--keep-columns` of a run over zips
    beside tars or tables leaves theirs empty: `expand.check_columns_apply`)."""
    for member in _members(path):
        if member.data is not None and _is_pdf(member.name):
            yield from _pages(member.data, path, member, choice.page_pixels)
        else:
            yield member


def _members(path: Path, wanted: str | None = None) -> Iterator[ShardItem]:
    """The media members as items, keyed (`member_keys`), in order (`wanted`: that key's only).
    An archive without its index (a download cut short) gives what its local headers hold,
    then an InputError (`zip_salvage`)."""
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        yield from _salvaged(path, exc, wanted)
        return
    with archive:
        infos = media_members(archive)
        for key, info in zip(member_keys([i.filename for i in infos]), infos):
            if wanted is None or key == wanted:
                yield _read(archive, info, path, key)


def _salvaged(path: Path, why: BaseException, wanted: str | None) -> Iterator[ShardItem]:
    from vlmcli.inputs.zip_salvage import salvage

    seen: dict[str, int] = {}
    for member in salvage(path, why):
        if not is_media_name(member.name):
            continue
        key = _key(member.name, seen)
        if wanted is not None and key != wanted:
            continue
        if member.problem is not None:
            yield ShardItem(key=key, error=_problem(path, key, member.problem), name=member.name)
        else:
            yield ShardItem(key=key, data=member.data, name=member.name)


def zip_item(path: Path, key: str, *, page_pixels: int | None = None) -> ShardItem | None:
    """The item `key` names (a member, a PDF member whole, or `<member>::page-0003` of a PDF
    member: only that page is rendered), or None when the archive has no such member (an
    InputError when it cannot be read, or is cut off before it)."""
    from vlmcli.inputs.pdf_shard import page_item

    member_key, page = _member_and_page(key)
    member = next(_members(path, member_key), None)  # an archive cut before it: its InputError says so
    if member is None or (page and not _is_pdf(member.name)):
        return None
    if member.data is None or not page:
        return member
    try:
        return page_item(member.data, key=page, max_pixels=page_pixels, **_as_document(path, member))
    except InputError as exc:
        return ShardItem(key=key, error=str(exc))


def _is_pdf(name: str | None) -> bool:
    return (name or "").lower().endswith(PDF_EXTENSION)


def _member_and_page(key: str) -> tuple[str, str]:
    """(member key, page) of `<member>.pdf::page-0003` (or `#page=3`, as `--json` names a
    page; a repeated member's `<member>.pdf#2::page-0003`); (key, "") for a key that names no page."""
    match = re.fullmatch(
        r"(?P<member>.+\.pdf(?:#[0-9]+)?)(?:::(?P<page>.+)|#page=(?P<number>[0-9]+))", key, flags=re.IGNORECASE
    )
    if match is None:
        return key, ""
    return match["member"], match["page"] or match["number"]


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, key: str) -> ShardItem:
    """The member as an item: its bytes, or why they cannot be read."""
    if info.flag_bits & ENCRYPTED:
        return ShardItem(key=key, error=_problem(path, key, "it is encrypted (password-protected)"), name=info.filename)
    try:
        return ShardItem(key=key, data=archive.read(info), name=info.filename)
    except (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError, EOFError) as exc:
        return ShardItem(key=key, error=f"{path}::{key} is damaged in the archive ({exc}).", name=info.filename)


def _problem(path: Path, key: str, problem: str) -> str:
    """A member's error row: what is wrong, and for a password what to do."""
    message = f"{path}::{key} cannot be read: {problem}"
    if "encrypted" in problem:
        message += f"; unpack the archive with its password first (unzip -P PASSWORD {path.name}, or 7z x) and caption the folder"
    return f"{message}."


def _pages(data: bytes, path: Path, member: ShardItem, max_pixels: int | None) -> Iterator[ShardItem]:
    """A PDF member's pages; a document that will not open is one error item, keyed by the member."""
    from vlmcli.inputs.pdf_shard import page_items

    try:
        yield from page_items(data, max_pixels=max_pixels, **_as_document(path, member))
    except InputError as exc:
        yield ShardItem(key=member.key, error=str(exc))


def _as_document(path: Path, member: ShardItem) -> dict[str, str]:
    """How a PDF member's pages are named: in messages `<zip>::<member>`, keyed
    `<member>::page-0003`, exported under `2024/march/` (a second copy's under `2024/march#2/`)."""
    name = member.name or member.key
    folder = posixpath.splitext(name)[0] + member.key[len(name) :] + "/"
    return {"name": item_path(str(path), member.key), "prefix": f"{member.key}{SEPARATOR}", "folder": folder}
