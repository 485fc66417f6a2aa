"""A WebDataset tar shard (plain or compressed: gzip, bzip2, xz), read front to back.

WebDataset's convention: a member `dir/abc.seg.png` belongs to key `dir/abc` (everything
before the first dot of the base name) with field `seg.png`. How members become keys (a
plain tar's scattered members, hard and symbolic links, macOS debris, a member appended
twice, a truncated end) is `tar_members`; which members of a key are captioned is
`tar_fields`: a key holding only pictures, two or more (a folder's `IMG_1.jpg` beside
`IMG_1.edited.jpg`, packed by `tar cf`), gives each picture as an item keyed by its member
name; any other key is one item: its image is the first field whose last extension is an
image's (`jpg`, `png`, `webp`, ...), else its video the first that is a video's (`mp4`,
`webm`, ...: video2dataset's shards, captioned with `--videos`), or the field
--image-column names (`--image-column mp4`: the clip of a key that holds its poster `jpg`
too), and its other pictures and clips are counted and said in one warning after the shard.
Its `.json` fields (img2dataset writes one) and its other fields (`txt`, `cls`, ...:
`tar_values`) supply --key-column and --keep-columns; a kept name no key of the shard has is
said in one warning after the shard. A --key-column the shard's first key lacks refuses the
shard, as a table refuses a column it lacks; a later key without it is keyed by `__key__`,
counted, and said in one warning after the shard (`tar_key_column`). A key whose only media is a `pdf` field (document
datasets such as pixparse/pdfa-eng-wds) is read page by page as a PDF file is (`pdf_shard`):
items `<key>::page-0003`, each with the key's kept columns; a document that will not open
is the key's error row. A key with no media, a key seen a second time (a compressed tar's
scattered members, a member appended twice: the first is captioned), and a key whose
picture is a link out of the archive become error rows; a tar that ends early (truncated)
yields what it had, then fails the shard with a message.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vlmcli.errors import InputError
from vlmcli.inputs.columns import ColumnChoice, json_safe
from vlmcli.inputs.tar_fields import PDF_FIELD, KeyPlan, left_out_note, media_field, plan_key
from vlmcli.inputs.tar_key_column import KeyColumn
from vlmcli.inputs.tar_members import KeyGroup, key_groups
from vlmcli.inputs.tar_values import KeptNames, key_meta

__all__ = ["PDF_FIELD", "media_field", "tar_items"]


def tar_items(path: Path, choice: ColumnChoice) -> Iterator[Any]:
    """The shard's items; the shard's own warnings (pictures left out, kept names no key has)
    ride on its last item, as they are known once it is read (a damaged shard's too)."""
    reading = _Reading(path, choice)
    held = None
    try:
        for item in reading.items():
            if held is not None:
                yield held
            held = item
    except InputError:
        if held is not None:
            yield reading.finished(held)
        raise
    if held is not None:
        yield reading.finished(held)


class _Reading:
    """One pass over a shard, with what its end says."""

    def __init__(self, path: Path, choice: ColumnChoice) -> None:
        self.path, self.choice = path, choice
        self.kept = KeptNames(choice.keep_columns)
        self.key_column = KeyColumn(path, choice.key_column)
        self.left_out: list[tuple[str, KeyPlan]] = []
        self.wanted = {*choice.keep_columns, *([choice.key_column] if choice.key_column else [])}

    def items(self) -> Iterator[Any]:
        from vlmcli.inputs.item import ShardItem

        path, choice = self.path, self.choice
        seen: set[str] = set()
        for group in key_groups(path):
            fields = group.fields
            meta = key_meta(fields, wanted=self.wanted)
            meta["__key__"] = group.key
            item_key = self.key_column.key_of(group.key, meta, group.names())
            extra = {c: json_safe(meta.get(c)) for c in choice.keep_columns}
            ordered = group.ordered()
            plan = plan_key([m.name for m in ordered], group.all_names(), image_column=choice.image_column)
            self.kept.saw(meta, group.names(), keys=len(group.members) if plan.split else 1)
            if plan.left_out:
                self.left_out.append((item_key, plan))
            warnings = tuple(_stored_again(path, name, count) for name, count in group.copies.items())
            if plan.split:
                found = self._pictures(group, seen, extra)
            elif item_key in seen:
                error = _repeated(path, item_key, group)
                found = iter([ShardItem(key=f"{item_key}#dup{len(seen)}", error=error, extra=extra)])
                warnings = ()
            else:
                seen.add(item_key)
                found = self._key_items(group, plan, item_key, extra)
            left_out = len(plan.left_out)  # on the key's first item (a PDF's first page), counted once
            for number, item in enumerate(found):
                changes: dict[str, Any] = {"warnings": warnings} if warnings else {}
                if left_out and number == 0:
                    changes["left_out"] = left_out
                yield dataclasses.replace(item, **changes) if changes else item

    def finished(self, item: Any) -> Any:
        """The shard's last item, with the shard's own warnings."""
        notes = [left_out_note(str(self.path), self.left_out)] if self.left_out else []
        if (kept := self.kept.note(str(self.path))) is not None:
            notes.append(kept)
        if (unnamed := self.key_column.note()) is not None:
            notes.append(unnamed)
        return dataclasses.replace(item, warnings=(*item.warnings, *notes)) if notes else item

    def _pictures(self, group: KeyGroup, seen: set[str], extra: dict[str, Any]) -> Iterator[Any]:
        """Each picture of a key that holds only pictures, keyed by its member name (as a folder's files are)."""
        from vlmcli.inputs.item import ShardItem

        for member in group.members:
            if member.name in seen:  # a damaged stream's second copy of a member
                error = _repeated(self.path, member.name, group)
                yield ShardItem(key=f"{member.name}#dup{len(seen)}", error=error, extra=extra)
                continue
            seen.add(member.name)
            kept = {**extra, **({"__key__": member.name} if "__key__" in extra else {})}
            if member.problem is not None:  # a link out of the archive
                yield ShardItem(key=member.name, error=member.problem, extra=kept)
            else:
                yield ShardItem(key=member.name, data=member.data, extra=kept, name=member.name)

    def _key_items(self, group: KeyGroup, plan: KeyPlan, item_key: str, extra: dict[str, Any]) -> Iterator[Any]:
        """The item of one key (its PDF's pages), or its error item."""
        from vlmcli.inputs.item import ShardItem

        chosen = next((m for m in group.members if m.name == plan.chosen), None)
        if chosen is None:
            listed = ", ".join(sorted(group.names())) or "none"
            column = self.choice.image_column
            wanted = "image or video" if column is None else f"{column} field"
            error = f"{self.path}::{item_key} has no {wanted} (fields: {listed})."
            yield ShardItem(key=item_key, error=error, extra=extra)
        elif chosen.problem is not None:  # a link out of the archive
            yield ShardItem(key=item_key, error=chosen.problem, extra=extra)
        elif plan.document:
            yield from _pages(self.path, item_key, chosen.data or b"", self.choice, extra)
        else:
            yield ShardItem(key=item_key, data=chosen.data, extra=extra, name=f"{group.key}.{chosen.field}")


def _stored_again(path: Path, member: str, count: int) -> str:
    """The warning of a member stored `count` times (`tar -r` appended it again)."""
    return f"{path}: member {member} is stored {count} times; the last copy is read (as tar -x does)"


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
