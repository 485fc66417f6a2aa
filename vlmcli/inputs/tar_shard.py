"""A WebDataset tar shard (plain or gzip'd), read front to back as a stream.

WebDataset's convention: a member `dir/abc.seg.png` belongs to key `dir/abc` (everything
before the first dot of the base name) with field `seg.png`; a key's members are
consecutive. An item is one key: its image is the first field whose last extension is an
image's (`jpg`, `png`, `webp`, ...), else its video the first that is a video's (`mp4`,
`webm`, ...: video2dataset's shards, captioned with `--videos`); its `.json` field (img2dataset writes one) supplies
--key-column and --keep-columns fields, `txt` can be kept too. A key with neither
becomes an error row; a tar that ends early (truncated) yields what it had, then fails the
shard with a message.
"""

from __future__ import annotations

import json
import posixpath
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlmcli.errors import InputError
from vlmcli.inputs.columns import ColumnChoice, json_safe, key_text
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

IMAGE_FIELDS = frozenset(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
VIDEO_FIELDS = frozenset(ext.lstrip(".") for ext in VIDEO_EXTENSIONS)


def split_member(name: str) -> tuple[str, str]:
    """("dir/abc", "seg.png") for "dir/abc.seg.png"; (name, "") without a dot."""
    folder, base = posixpath.split(name)
    stem, dot, field = base.partition(".")
    return (posixpath.join(folder, stem) if folder else stem), field.lower() if dot else ""


def _groups(path: Path) -> Iterator[tuple[str, dict[str, bytes]]]:
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


def _media_field(fields: dict[str, bytes]) -> str | None:
    """The first image field, else the first video field."""
    for kinds in (IMAGE_FIELDS, VIDEO_FIELDS):
        if (found := next((f for f in fields if f.rsplit(".", 1)[-1] in kinds), None)) is not None:
            return found
    return None


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
            yield ShardItem(key=f"{item_key}#dup{len(seen)}", error=f"{path}: key {item_key!r} appears twice in the shard.", extra=extra)
            continue
        seen.add(item_key)
        field = _media_field(fields)
        if field is None:
            names = ", ".join(sorted(fields)) or "none"
            yield ShardItem(key=item_key, error=f"{path}::{item_key} has no image or video (fields: {names}).", extra=extra)
            continue
        yield ShardItem(key=item_key, data=fields[field], extra=extra, name=f"{key}.{field}")
