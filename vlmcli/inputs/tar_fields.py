"""Which members of a tar key are captioned. Pure: member names in, a plan out.

WebDataset names a member `dir/abc.seg.png` key `dir/abc`, field `seg.png` (everything after
the first dot of the base name), and that is what real shards need: `k.jpg` beside its mask
`k.seg.png` and `k.json` is one sample. A tar of a folder (`tar cf photos.tar photos`) holds
`IMG_1.jpg` beside `IMG_1.edited.jpg`, `v1.2.final.jpg` beside `v1.3.final.jpg`: by that rule
one key each, whose first picture alone was captioned, silently. So:

    split       a key whose members, across the whole shard, are two or more pictures and
                nothing else (no `.json`, `.txt`, `.cls`, clip or PDF beside them), read with no
                --image-column: each picture is an item of its own, keyed by its member name
                (`photos/IMG_1.edited.jpg`), as the folder's files are. A key with a single
                member keeps its WebDataset key (`photos/IMG_2` for `photos/IMG_2.jpg`): every
                shard that read right before reads the same.
    one field   any other key is one WebDataset sample: the field --image-column names, else
                its first picture field, else its first clip's, else its `pdf` (read page by
                page). Its other pictures and clips (a mask beside its photo, the clip beside a
                poster) are `left_out` when no --image-column chose: counted, and said in one
                warning per shard. --image-column also turns splitting off: `--image-column jpg`
                reads a `k.jpg` + `k.seg.png` shard (no sidecars) one sample per key.

A field is told by its last extension (`seg.png` is a picture, `jpg.json` is not), as
webdataset's decoders tell it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass

from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

IMAGE_FIELDS = frozenset(ext.lstrip(".") for ext in IMAGE_EXTENSIONS)
VIDEO_FIELDS = frozenset(ext.lstrip(".") for ext in VIDEO_EXTENSIONS)
PDF_FIELD = "pdf"


def split_member(name: str) -> tuple[str, str]:
    """("dir/abc", "seg.png") for "dir/abc.seg.png"; (name, "") without a dot."""
    folder, base = posixpath.split(name)
    stem, dot, suffix = base.partition(".")
    return (posixpath.join(folder, stem) if folder else stem), suffix.lower() if dot else ""


def last_extension(field: str) -> str:
    return field.rsplit(".", 1)[-1]


def is_picture(field: str) -> bool:
    return last_extension(field) in IMAGE_FIELDS


def is_media(field: str) -> bool:
    """A picture or a clip: what an item is captioned from (a PDF is read apart)."""
    return last_extension(field) in IMAGE_FIELDS or last_extension(field) in VIDEO_FIELDS


def media_field(fields: Sequence[str]) -> str | None:
    """The first picture field, else the first clip's, of a key's field names."""
    for kinds in (IMAGE_FIELDS, VIDEO_FIELDS):
        if (found := next((f for f in fields if last_extension(f) in kinds), None)) is not None:
            return found
    return None


def splits(shard_names: Sequence[str], *, image_column: str | None) -> bool:
    """Whether a key whose members across the shard are `shard_names` is read picture by picture."""
    if image_column is not None or len(set(shard_names)) < 2:
        return False
    return all(is_picture(split_member(name)[1]) for name in shard_names)


@dataclass(frozen=True)
class KeyPlan:
    """What one group of a key's members gives: `split` (each member an item), else the
    captioned member (`chosen`, None: the key has none to caption) and the pictures and clips
    left out beside it (`left_out`, member names)."""

    split: bool
    chosen: str | None = None
    left_out: tuple[str, ...] = ()

    @property
    def document(self) -> bool:
        """The chosen member is a PDF, read page by page."""
        return self.chosen is not None and split_member(self.chosen)[1] == PDF_FIELD


def plan_key(names: Sequence[str], shard_names: Sequence[str], *, image_column: str | None) -> KeyPlan:
    """The plan of a group whose members are `names` (those with bytes first, then those
    without: a link out of the archive), of a key whose members across the shard are
    `shard_names` (the group's own when the shard could not be listed)."""
    if splits(shard_names, image_column=image_column):
        return KeyPlan(split=True)
    fields = [split_member(n)[1] for n in names]
    if image_column is not None:
        wanted = image_column.lower().lstrip(".")
        chosen = next((n for n, f in zip(names, fields) if f == wanted), None)
        return KeyPlan(split=False, chosen=chosen)
    field = media_field(fields)
    if field is None:
        chosen = next((n for n, f in zip(names, fields) if f == PDF_FIELD), None)
        return KeyPlan(split=False, chosen=chosen)
    chosen = names[fields.index(field)]
    left_out = tuple(n for n, f in zip(names, fields) if n != chosen and is_media(f))
    return KeyPlan(split=False, chosen=chosen, left_out=left_out)


def left_out_note(shard: str, plans: Sequence[tuple[str, KeyPlan]]) -> str:
    """The warning of a shard's keys (key, plan) whose other pictures or clips were not captioned."""
    members = [n for _, plan in plans for n in plan.left_out]
    clips = sum(1 for n in members if not is_picture(split_member(n)[1]))
    key, first = plans[0]
    chosen = split_member(first.chosen or "")[1]
    others = ", ".join(split_member(n)[1] for n in first.left_out)
    keys = f"{len(plans)} keys hold" if len(plans) != 1 else "1 key holds"
    return (
        f"{shard}: {_noun(len(members) - clips, clips)} not captioned: {keys} several pictures or clips, and a "
        f"key with other fields is one WebDataset sample, one field captioned (key {key}: {chosen} captioned, "
        f"{others} not); --image-column FIELD names the field to caption"
    )


def _noun(pictures: int, clips: int) -> str:
    counted = ((pictures, "picture"), (clips, "clip"))
    parts = [f"{count} {word}{'s' if count != 1 else ''}" for count, word in counted if count]
    return " and ".join(parts)
