"""Where an exported record's image comes from, and its name in the export.

A record of a plain file reads the file; a record of a dataset item (`source` set) reads
its shard again, one shard at a time (records come sorted by path, "<shard>::<key>", so
each shard is read once; its items wait in a temporary spool file, not in memory: a
shard of clips runs to gigabytes). Names:

    a file              its path relative to the common folder of the run's files
    a dataset item      "<key>.<ext>" (or "<shard>/<key>.<ext>" when a key's name repeats in
                        another shard: the shard's path relative to the shards' common folder,
                        without its extension, so a/scan.pdf and b/scan.pdf stay apart), the
                        extension from the image's (or clip's) bytes; in the key "/", "\\" (a
                        path written on Windows) and "." become "_"

Two records never share a name (`names.distinct`): keys that flatten alike in one shard
(`x/a.jpg`, `x_a.jpg`) give the second "x_a_jpg_1", and an item's name never equals a
file's name without its extension (its extension comes later, from its bytes). Names are
unique ignoring case; no file is named as a folder the items need (`scan` beside `scan/`);
a raw or HEIF file's JPEG name (`x.nef.jpg`) is its own where the format writes one. A picture
written as the run decoded it (`exports.decoded`) is named `<name>.png` (`scan.tif.png`; an
item's `<key>.png`) once it is read, clear of every other name (`names.claim_name`).
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path

from vlmcli.exports.names import claim, distinct, item_name, parent_folders, relative_names
from vlmcli.media.kinds import camera_raw_format
from vlmcli.exports.records import Record
from vlmcli.inputs.readings import ShardReadings
from vlmcli.inputs.spool import Spool

_SIGNATURES = (
    (b"\xff\xd8\xff", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF8", "gif"),
    (b"II*\x00", "tif"),
    (b"MM\x00*", "tif"),
    (b"BM", "bmp"),
    (b"8BPS", "psd"),
    (b"icns", "icns"),
    (b"DDS ", "dds"),
    (b"\x59\xa6\x6a\x95", "ras"),
    (b"/* XPM */", "xpm"),
    (b"SIMPLE  =", "fits"),
)


def media_extension(data: bytes) -> str:
    """"jpg", "png", "webp", ... from the bytes, "mp4", "webm", ... for a video (a clip in a
    shard, `caption-dir --videos`); "img" when unknown."""
    from vlmcli.media.kinds import MediaKind, detect_kind

    if detect_kind("", data[:64]) is MediaKind.VIDEO:
        return _video_extension(data[:64])
    if data[:1] == b"G" and data[188:189] == b"G":  # MPEG-TS: a sync byte every 188-byte packet
        return "ts"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return "avif" if data[8:12] in (b"avif", b"avis") else "heic"
    return next((ext for magic, ext in _SIGNATURES if data.startswith(magic)), "img")


def _video_extension(head: bytes) -> str:
    if head[4:8] == b"ftyp":
        return {b"qt  ": "mov", b"3gp4": "3gp", b"3gp5": "3gp", b"3gp6": "3gp"}.get(head[8:12], "mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: its DocType says WebM or Matroska
        return "webm" if b"webm" in head else "mkv"
    if head.startswith(b"RIFF"):
        return "avi"
    if head.startswith(b"FLV"):
        return "flv"
    return "mpg" if head.startswith(b"\x00\x00\x01") else "wmv"


def base_names(records: list[Record], *, previews: bool = False) -> dict[str, str]:
    """record path -> its name in the export, one of its own ignoring case (`names.distinct`);
    a dataset item's name has no extension yet. With `previews` (formats that write a camera
    raw or HEIF file as a JPEG, `<name>.jpg`), that name is one of its own too, under
    `path + PREVIEW`: `x.nef` goes in as `x.nef.jpg`, and a real `x.nef.jpg` beside it
    becomes `x.nef_1.jpg`."""
    items = [r for r in records if r.source is not None]
    keys = {r.path: _item_name(r.source_key or "item") for r in items}
    shards: dict[str, set[str]] = {}
    for r in items:
        shards.setdefault(keys[r.path], set()).add(r.source or "")
    if any(len(sources) > 1 for sources in shards.values()):  # img2dataset's keys never are: keep them as they are
        folders = shard_folders([r.source or "" for r in items])
        keys = {r.path: posixpath.join(folders[r.source or ""], keys[r.path]) for r in items}
    item_folders = frozenset(folder for key in keys.values() for folder in parent_folders(key))
    files = _file_names([r.path for r in records if r.source is None], item_folders, previews=previews)
    return files | distinct(keys, _stems(files.values()))


PREVIEW = "\0"
"""`names[path + PREVIEW]`: the name of a plain file's JPEG in an export that converts it
(a camera raw's preview, a HEIF picture); NUL sorts it right after the file's own path."""
HEIF_EXTENSIONS = frozenset({".heic", ".heif", ".hif"})


def _file_names(paths: list[str], item_folders: frozenset[str], *, previews: bool) -> dict[str, str]:
    """Plain files' names: their paths relative to the common folder, distinct, none a folder
    of the items (`scan` beside a PDF's pages in `scan/`); with `previews`, a camera raw or
    HEIF file's JPEG name as one more (`path + PREVIEW`), right after its own in sorted order."""
    relative = relative_names(paths)
    wanted = dict(relative)
    if previews:
        wanted |= {p + PREVIEW: f"{name}.jpg" for p, name in relative.items() if _converted(name)}
    return distinct(wanted, item_folders)


def _converted(name: str) -> bool:
    """Whether a file so named may go into an export as a JPEG of it (`<name>.jpg`)."""
    return camera_raw_format(name) is not None or posixpath.splitext(name)[1].lower() in HEIF_EXTENSIONS


def _stems(names: Iterable[str]) -> frozenset[str]:
    """The bases an item's name (`<base>.<ext>`, no dot in `<base>`'s last part) must not have:
    each name and each dotted folder up to the first dot of its last part (`a.b/x.jpg`: `a`, `a.b/x`)."""
    stems = set()
    for name in names:
        for part in (*parent_folders(name), name):
            folder, base = posixpath.split(part)
            if part != name and "." not in base.lstrip("."):
                continue  # a folder without a dot is never an item's `<base>.<ext>`
            stem = (base.split(".", 1)[0] if base.lstrip(".") else base) or base
            stems.add(posixpath.join(folder, stem) if folder else stem)
    return frozenset(stems)


def _item_name(key: str) -> str:
    """A dataset item's key as a file name (`names.item_name`: no `#` either)."""
    return item_name(key)


def shard_folders(sources: list[str]) -> dict[str, str]:
    """shard path -> the folder its items go to in an export: its path relative to the shards'
    common folder, without extension ("a/scan" for /d/a/scan.pdf); a name two shards would
    share ("x.tar" and "x.tar.gz") gets "_1", "_2"."""
    folders: dict[str, str] = {}
    used: set[str] = set()
    for source, name in sorted(relative_names(sorted(set(sources))).items()):
        folder, base = posixpath.split(name)
        stem = base.split(".", 1)[0] or "shard"
        folders[source] = claim(posixpath.join(folder, stem) if folder else stem, used, fold=True)
    return folders


def final_name(record: Record, base: str, data: bytes) -> str:
    return f"{base}.{media_extension(data)}" if record.source is not None else base


class ImageReader:
    """`read(record)`: the image bytes (OSError when the file or item is gone). Dataset items
    are read back as the run read their shards (`inputs.readings`)."""

    def __init__(self, readings: ShardReadings | None = None) -> None:
        self.readings = readings or ShardReadings()
        self._source: str | None = None
        self._items: Spool | None = None  # the current shard's items, on disk (a shard of clips is GBs)
        self._names: dict[str, str | None] = {}

    def is_video(self, record: Record) -> bool:
        """Whether the record's file or item is a video (a `caption-dir --videos` row), told by
        its first bytes (and name: an MPEG-TS clip's bytes do not say); False when unreadable."""
        from vlmcli.media.kinds import MediaKind, detect_kind

        if record.source is None:
            try:
                with open(record.path, "rb") as handle:
                    head, name = handle.read(64), record.path
            except OSError:
                return False
        else:
            if record.source != self._source:
                self._load(record.source)
            key = record.source_key or ""
            if self._items is None or key not in self._items:
                return False
            head, name = self._items.read(key, limit=64), self._names.get(key) or ""
        return detect_kind(name, head) is MediaKind.VIDEO

    def read(self, record: Record) -> bytes:
        if record.source is None:
            return Path(record.path).read_bytes()
        if record.source != self._source:
            self._load(record.source)
        key = record.source_key or ""
        if self._items is None or key not in self._items:
            raise OSError(f"{record.source_key!r} is not in {record.source} any more")
        return self._items.read(key)

    def close(self) -> None:
        if self._items is not None:
            self._items.close()
            self._items = None

    def _load(self, source: str) -> None:
        from vlmcli.errors import VlmError

        self.close()
        self._source, self._items, self._names = source, Spool(), {}
        if not Path(source).exists():
            return
        try:
            for item in self.readings.items(source):
                if item.data is not None:
                    self._items.add(item.key, item.data)
                self._names[item.key] = item.name
        except VlmError:
            pass  # a damaged shard: what was read stays; the rest are missing
