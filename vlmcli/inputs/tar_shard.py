"""A WebDataset tar shard (plain or gzip'd), read front to back as a stream.

WebDataset's convention: a member `dir/abc.seg.png` belongs to key `dir/abc` (everything
before the first dot of the base name) with field `seg.png`; a key's members are
consecutive. A plain tar written by `tar cf` from a folder often is not (files come in
directory order); it is read by key through its member index, so each key stays one item
(a compressed one cannot be: its repeated keys are error rows that say how to rewrite it).
An item is one key: its image is the first field whose last extension is an image's
(`jpg`, `png`, `webp`, ...), else its video the first that is a video's (`mp4`, `webm`,
...: video2dataset's shards, captioned with `--videos`), or the field --image-column names
(`--image-column mp4`: the clip of a key that holds its poster `jpg` too); its `.json` field (img2dataset
writes one) supplies --key-column and --keep-columns fields, `txt` can be kept too. A key
whose only media is a `pdf` field (document datasets such as pixparse/pdfa-eng-wds) is read
page by page as a PDF file is (`pdf_shard`): items `<key>::page-0003`, each with the key's
kept columns; a document that will not open is the key's error row. A key with no media
becomes an error row; a tar that ends early (truncated) yields what it had, then fails the
shard with a message.
"""

from __future__ import annotations

import dataclasses
import json
import posixpath
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vlmcli.errors import InputError
from vlmcli.inputs.columns import ColumnChoice, json_safe, key_text
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

IMAGE_FIELDS = frozenset(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
VIDEO_FIELDS = frozenset(ext.lstrip(".") for ext in VIDEO_EXTENSIONS)
PDF_FIELD = "pdf"


def split_member(name: str) -> tuple[str, str]:
    """("dir/abc", "seg.png") for "dir/abc.seg.png"; (name, "") without a dot."""
    folder, base = posixpath.split(name)
    stem, dot, field = base.partition(".")
    return (posixpath.join(folder, stem) if folder else stem), field.lower() if dot else ""


def _groups(path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {field: bytes}) in the shard's order. A plain tar whose members are not grouped
    by key (`tar cf` of a folder lists files in directory order: a.jpg, b.jpg, a.txt, b.txt)
    is read by key through its member index instead, so each key is still one item."""
    scattered = _scattered_keys(path)
    if scattered is not None:
        yield from _indexed_groups(path, scattered)
        return
    yield from _streamed_groups(path)


def _scattered_keys(path: Path) -> dict[str, list[tarfile.TarInfo]] | None:
    """key -> its members, in first-appearance order, when `path` is an uncompressed tar whose
    members are not grouped by key; None otherwise (grouped, compressed, or unreadable: streamed)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(6)
        if head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")):
            return None  # compressed: no random access worth having
        by_key: dict[str, list[tarfile.TarInfo]] = {}
        last: str | None = None
        grouped = True
        with tarfile.open(path, "r:") as tar:  # member headers only: data is skipped
            for member in tar:
                if not member.isfile():
                    continue
                key = split_member(member.name)[0]
                grouped = grouped and (key == last or key not in by_key)
                by_key.setdefault(key, []).append(member)
                last = key
    except (tarfile.TarError, OSError, EOFError):
        return None  # damaged: the stream reads what it can and says where it stopped
    return None if grouped else by_key


def _indexed_groups(path: Path, by_key: dict[str, list[tarfile.TarInfo]]) -> Iterator[tuple[str, dict[str, bytes]]]:
    try:
        with tarfile.open(path, "r:") as tar:
            for key, members in by_key.items():
                fields: dict[str, bytes] = {}
                for member in members:
                    handle = tar.extractfile(member)
                    fields[split_member(member.name)[1]] = handle.read() if handle is not None else b""
                yield key, fields
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"{path}: the tar shard is damaged or truncated ({type(exc).__name__}: {exc}).") from None


def _streamed_groups(path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
    key: str | None = None
    fields: dict[str, bytes] = {}
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                name_key, field = split_member(member.name)
                if name_key != key and key is not None:
                    yield key, fields
                    fields = {}
                key = name_key
                handle = tar.extractfile(member)
                fields[field] = handle.read() if handle is not None else b""
    except (tarfile.TarError, OSError, EOFError) as exc:
        if key is not None:
            yield key, fields
        raise InputError(f"{path}: the tar shard is damaged or truncated ({type(exc).__name__}: {exc}).") from None
    if key is not None:
        yield key, fields


def media_field(fields: Iterable[str]) -> str | None:
    """The first image field, else the first video field, of a key's field names."""
    for kinds in (IMAGE_FIELDS, VIDEO_FIELDS):
        if (found := next((f for f in fields if f.rsplit(".", 1)[-1] in kinds), None)) is not None:
            return found
    return None


def _named_field(fields: dict[str, bytes], name: str) -> str | None:
    """The field --image-column names (`mp4`, `seg.png`; fields are lower case), if the key has it."""
    wanted = name.lower().lstrip(".")
    return wanted if wanted in fields else None


def tar_items(path: Path, choice: ColumnChoice) -> Iterator[Any]:
    from vlmcli.inputs.item import ShardItem

    seen: set[str] = set()
    for key, fields in _groups(path):
        meta: dict[str, Any] = {}
        if "json" in fields:
            try:
                loaded = json.loads(fields["json"])
                meta = loaded if isinstance(loaded, dict) else {}
            except ValueError:
                meta = {}
        if "txt" in fields:
            meta.setdefault("txt", fields["txt"].decode("utf-8", "replace"))
        meta["__key__"] = key
        item_key = key_text(meta.get(choice.key_column or "__key__")) or key
        extra = {c: json_safe(meta.get(c)) for c in choice.keep_columns}
        if item_key in seen:
            message = f"{path}: key {item_key!r} appears twice in the shard"
            if item_key == key:  # a compressed tar whose members are not grouped by key
                message += " (its members are not grouped by key: write it with `tar --sort=name`, or uncompressed)"
            yield ShardItem(key=f"{item_key}#dup{len(seen)}", error=f"{message}.", extra=extra)
            continue
        seen.add(item_key)
        field = media_field(fields) if choice.image_column is None else _named_field(fields, choice.image_column)
        if field == PDF_FIELD or (field is None and choice.image_column is None and PDF_FIELD in fields):
            yield from _pages(path, item_key, fields[PDF_FIELD], choice, extra)
            continue
        if field is None:
            names = ", ".join(sorted(fields)) or "none"
            wanted = "image or video" if choice.image_column is None else f"{choice.image_column} field"
            yield ShardItem(key=item_key, error=f"{path}::{item_key} has no {wanted} (fields: {names}).", extra=extra)
            continue
        yield ShardItem(key=item_key, data=fields[field], extra=extra, name=f"{key}.{field}")


def _pages(path: Path, key: str, data: bytes, choice: ColumnChoice, extra: dict[str, Any]) -> Iterator[Any]:
    """The pages of a key's PDF, keyed `<key>::page-0003` and exported under `<key>/`; a
    document that will not open is one error item, keyed by the key."""
    from vlmcli.inputs.item import SEPARATOR, ShardItem, item_path
    from vlmcli.inputs.pdf_shard import page_items

    name = item_path(str(path), f"{key}.{PDF_FIELD}")
    try:
        for page in page_items(data, name, prefix=f"{key}{SEPARATOR}", folder=f"{key}/", max_pixels=choice.page_pixels):
            yield dataclasses.replace(page, extra=extra)
    except InputError as exc:
        yield ShardItem(key=key, error=str(exc), extra=extra)
