"""Dataset items as the caption planner sees them: one `Probe` per item, and the row
columns (`source`, `source_key`, `extra`) its rows are annotated with. Shared by the
local dataset run (`datasets_run.py`) and the Ray one (`ray_datasets.py`), so both make
the same probes, hence the same plans and rows, from the same items.

    probe = item_probe(item_path(source, item.key), item)   # hash + header size; no pixel decoding
    meta[probe.path] = item_meta(source, item)
    sink.write(annotate(rows, meta))
    groups = shard_groups(meta)(plan.tasks)               # the tasks of each shard, batched apart
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from vlmcli.captions.plan import Task
from vlmcli.captions.probe import HEAD_BYTES, Probe, header_facts, video_probe
from vlmcli.inputs.item import ShardItem
from vlmcli.media.images import raw_by_content
from vlmcli.media.kinds import MediaKind, camera_raw_format, detect_kind
from vlmcli.media.raw_picture import raw_facts
from vlmcli.sinks.schema import Row

if TYPE_CHECKING:
    from vlmcli.inputs.clip_files import ClipFiles

ItemMeta = tuple[str, str, str | None]
"""(source, source_key, extra as JSON text or None) of one item."""
Meta = dict[str, ItemMeta]
"""item path -> its `ItemMeta`."""


def item_meta(source: str, item: ShardItem) -> ItemMeta:
    return source, item.key, json.dumps(item.extra, ensure_ascii=False) if item.extra else None


def item_probe(path: str, item: ShardItem, *, clips: "ClipFiles | None" = None) -> Probe:
    """The probe of one item: its content key and header size, or why it cannot be captioned.
    Only a probe without `error` has bytes worth keeping for captioning.

    With `clips` (`--videos`) a video, or an animated picture, is written to a file of its
    own there and probed as a video (kind "video"); without, a video is an error row that
    says to add --videos, and an animation is a picture (its first frame; `animated`)."""
    if item.undownloaded:
        return Probe(path, None, None, item.error, undownloaded=True)
    if item.data is None:
        return Probe(path, None, None, item.error or f"{path}: no image.")
    key = hashlib.sha256(item.data).hexdigest()
    if detect_kind(item.name or path, item.data[:HEAD_BYTES]) is MediaKind.VIDEO:
        if clips is None:
            return Probe(path, key, None, f"{path} is a video; add --videos to caption videos too.", kind="video")
        return video_probe(path, key, file=clips.add(path, item.data))
    if (raw := camera_raw_format(item.name or "") or raw_by_content(item.data)) is not None:  # its large preview
        return Probe(path, key, *raw_facts(item.data, path, raw))
    size, animated = header_facts(item.data)
    if animated and clips is not None:
        return video_probe(path, key, file=clips.add(path, item.data))
    return Probe(path, key, size, animated=animated)


def annotate(rows: list[Row], meta: Meta) -> list[Row]:
    """Fill each row's `source`, `source_key` and `extra` from its item (rows are changed in place)."""
    for row in rows:
        source, key, extra = meta.get(row["path"], (None, None, None))
        row.update(source=source, source_key=key, extra=extra)
    return rows


def shard_groups(meta: Meta) -> Callable[[list[Task]], list[list[Task]]]:
    """tasks -> the tasks of each shard, in shard order (a task belongs to its first path's
    shard): the groups a dataset run batches apart."""

    def split(tasks: list[Task]) -> list[list[Task]]:
        by_shard: dict[str, list[Task]] = {}
        for task in tasks:
            by_shard.setdefault(meta[task.path][0], []).append(task)
        return list(by_shard.values())

    return split
