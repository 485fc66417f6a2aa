"""A WebDataset tar shard (plain or compressed: gzip, bzip2, xz), read front to back.

WebDataset's convention: a member `dir/abc.seg.png` belongs to key `dir/abc` (everything
before the first dot of the base name) with field `seg.png`. How members become keys (a
plain tar's scattered members, hard and symbolic links, macOS debris, a member appended
twice, a truncated end) is `tar_members`.
An item is one key: its image is the first field whose last extension is an image's
(`jpg`, `png`, `webp`, ...), else its video the first that is a video's (`mp4`, `webm`,
...: video2dataset's shards, captioned with `--videos`), or the field --image-column names
(`--image-column mp4`: the clip of a key that holds its poster `jpg` too); its `.json` field (img2dataset
writes one) supplies --key-column and --keep-columns fields, `txt` can be kept too. A key
whose only media is a `pdf` field (document datasets such as pixparse/pdfa-eng-wds) is read
page by page as a PDF file is (`pdf_shard`): items `<key>::page-0003`, each with the key's
kept columns; a document that will not open is the key's error row. A key with no media,
a key seen a second time (a compressed tar's scattered members, a member appended twice:
the first is captioned), and a key whose picture is a link out of the archive become error
rows; a tar that ends early (truncated) yields what it had, then fails the shard with a message.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from vlmcli.errors import InputError
from vlmcli.inputs.columns import ColumnChoice, json_safe, key_text
from vlmcli.inputs.tar_members import KeyGroup, key_groups
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

IMAGE_FIELDS = frozenset(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
VIDEO_FIELDS = frozenset(ext.lstrip(".") for ext in VIDEO_EXTENSIONS)
PDF_FIELD = "pdf"


def media_field(fields: Iterable[str]) -> str | None:
    """The first image field, else the first video field, of a key's field names."""
    for kinds in (IMAGE_FIELDS, VIDEO_FIELDS):
        if (found := next((f for f in fields if f.rsplit(".", 1)[-1] in kinds), None)) is not None:
            return found
    return None


def _named_field(fields: list[str], name: str) -> str | None:
    """The field --image-column names (`mp4`, `seg.png`; fields are lower case), if the key has it."""
    wanted = name.lower().lstrip(".")
    return wanted if wanted in fields else None


def tar_items(path: Path, choice: ColumnChoice) -> Iterator[Any]:
    from vlmcli.inputs.item import ShardItem

    seen: set[str] = set()
    for group in key_groups(path):
        key, fields = group.key, group.fields
        meta = _meta(fields)
        meta["__key__"] = key
        item_key = key_text(meta.get(choice.key_column or "__key__")) or key
        extra = {c: json_safe(meta.get(c)) for c in choice.keep_columns}
        if item_key in seen:
            yield ShardItem(key=f"{item_key}#dup{len(seen)}", error=_repeated(path, item_key, group), extra=extra)
            continue
        seen.add(item_key)
        warnings = tuple(_stored_again(path, name, count) for name, count in group.copies.items())
        for item in _key_items(path, group, item_key, choice, extra):
            yield dataclasses.replace(item, warnings=warnings) if warnings else item


def _key_items(path: Path, group: KeyGroup, item_key: str, choice: ColumnChoice, extra: dict[str, Any]) -> Iterator[Any]:
    """The item of one key (its PDF's pages), or its error item."""
    from vlmcli.inputs.item import ShardItem

    key, fields, names = group.key, group.fields, group.names()
    field = media_field(names) if choice.image_column is None else _named_field(names, choice.image_column)
    if field is None and choice.image_column is None and PDF_FIELD in names:
        field = PDF_FIELD
    if field in group.problems:  # a link out of the archive
        yield ShardItem(key=item_key, error=group.problems[field], extra=extra)
    elif field == PDF_FIELD:
        yield from _pages(path, item_key, fields[PDF_FIELD], choice, extra)
    elif field is None:
        listed = ", ".join(sorted(names)) or "none"
        wanted = "image or video" if choice.image_column is None else f"{choice.image_column} field"
        yield ShardItem(key=item_key, error=f"{path}::{item_key} has no {wanted} (fields: {listed}).", extra=extra)
    else:
        yield ShardItem(key=item_key, data=fields[field], extra=extra, name=f"{key}.{field}")


def _stored_again(path: Path, member: str, count: int) -> str:
    """The warning of a member stored `count` times (`tar -r` appended it again)."""
    return f"{path}: member {member} is stored {count} times; the last copy is read (as tar -x does)"


def _meta(fields: dict[str, bytes]) -> dict[str, Any]:
    """A key's `.json` fields (img2dataset writes them) and its `txt`."""
    meta: dict[str, Any] = {}
    if "json" in fields:
        try:
            loaded = json.loads(fields["json"])
            meta = loaded if isinstance(loaded, dict) else {}
        except ValueError:
            meta = {}
    if "txt" in fields:
        meta.setdefault("txt", fields["txt"].decode("utf-8", "replace"))
    return meta


def _repeated(path: Path, item_key: str, group: KeyGroup) -> str:
    """The error row of a key's second copy: why it is there, and how to write the shard."""
    message = f"{path}: key {item_key!r} appears twice in the shard"
    if group.repeats is not None:  # the same member name twice, in a stream that could not be listed to its end
        return (
            f"{message} (member {group.repeats} is in the tar twice, as `tar -r` appends a file again, and the "
            "damaged tar cannot be listed to find its last copy: the first is captioned, this one is not)."
        )
    if item_key == group.key:  # a compressed tar whose members are not grouped by key
        message += " (its members are not grouped by key: write it with `tar --sort=name`, or uncompressed)"
    return f"{message}."


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
