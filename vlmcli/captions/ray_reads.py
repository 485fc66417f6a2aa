"""`--engine ray` reads dataset shards with Ray Data: one read task per shard.

    dataset = read_items(refs, choice)       # a ray.data.Dataset of ITEM_COLUMNS rows, in shard order
    for block in dataset.iter_batches(batch_format="pyarrow", batch_size=None): ...

Each read task runs on a Ray worker (on the node where Ray places it: a cluster reads its
shards in parallel), reads one shard front to back with the reader the local engine uses
(`vlmcli.inputs`: `tar_shard`, `table_shard`) and probes each item there (content hash,
header size: `dataset_items.item_probe`; with `--videos` a clip is written to a temporary
file on the worker, probed there and removed). Only items that can be captioned carry
their bytes (a clip's too: the actor that captions it writes them to a file again). A
shard damaged part way yields the items before the damage and one last row whose
`shard_error` says what happened, as the local engine reports it.

Why a datasource over the shared readers rather than `ray.data.read_webdataset` /
`read_parquet` (checked on Ray 2.60): `read_webdataset(decoder=None)` groups img2dataset
keys as we do (`000010002.jpg/.txt/.json` -> one sample, `.tar.gz` too), but a truncated
tar fails the whole run after retries, where the local engine keeps what was read and
reports the shard; and an item's identity needs per-shard, in-order state that a
block-parallel reader does not keep (row numbers of key-less tables, `#row`/`#dup` for
repeated keys, image paths relative to the table's folder). Reading each shard with the
same reader gives the same items, hence the same rows, by construction; Ray Data still
schedules, parallelises and streams the reads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from vlmcli.captions.dataset_items import item_meta, item_probe
from vlmcli.errors import InputError
from vlmcli.inputs.clip_files import ClipFiles
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.item import item_path

if TYPE_CHECKING:
    import pyarrow as pa

ITEMS_PER_BLOCK = 64
"""Items per Arrow block a read task yields (blocks stream to the driver as they are read)."""

ITEM_COLUMNS = (
    "source", "source_key", "extra", "data", "sha256", "width", "height", "error", "shard_error",
    "kind", "video", "animated", "undownloaded", "warnings", "left_out",
)  # fmt: skip
"""One row per item; a last row with only `source` and `shard_error` for a damaged shard.
`kind`, `animated` and `undownloaded` as the probe's; `video`: a clip's `VideoInfo` as JSON
text; `warnings`: the item's (`ShardItem.warnings`); `left_out`: the pictures and clips its
tar key leaves out beside it (`ShardItem.left_out`)."""


def item_schema() -> "pa.Schema":
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [("source", text), ("source_key", text), ("extra", text), ("data", pa.large_binary()), ("sha256", text),
         ("width", pa.int64()), ("height", pa.int64()), ("error", text), ("shard_error", text),
         ("kind", text), ("video", text), ("animated", pa.bool_()), ("undownloaded", pa.bool_()),
         ("warnings", pa.list_(text)), ("left_out", pa.int64())]
    )  # fmt: skip


def _record(source: str, item: Any, clips: ClipFiles | None) -> dict[str, Any]:
    path = item_path(source, item.key)
    probe = item_probe(path, item, clips=clips)
    if clips is not None:
        clips.discard(path)
    _, key, extra = item_meta(source, item)
    width, height = probe.size if probe.size is not None else (None, None)
    data = item.data if probe.error is None else None
    video = json.dumps(probe.video.to_dict()) if probe.video is not None else None
    return {"source": source, "source_key": key, "extra": extra, "data": data, "sha256": probe.key,
            "width": width, "height": height, "error": probe.error, "shard_error": None,
            "kind": probe.kind, "video": video, "animated": probe.animated, "undownloaded": probe.undownloaded,
            "warnings": list(item.warnings), "left_out": item.left_out}  # fmt: skip


def read_shard(
    ref: ShardRef, choice: ColumnChoice, *, videos: bool = False, per_block: int = ITEMS_PER_BLOCK
) -> Iterator["pa.Table"]:
    """The blocks of one shard (runs inside a Ray read task; plain Python, testable without Ray).
    `videos`: clips are probed as videos (`--videos`), else they are error rows."""
    import pyarrow as pa

    schema = item_schema()
    records: list[dict[str, Any]] = []
    with ClipFiles() if videos else nullcontext() as clips:
        try:
            for item in ref.items(choice):
                records.append(_record(ref.source, item, clips))
                if len(records) >= per_block:
                    yield pa.Table.from_pylist(records, schema=schema)
                    records = []
        except InputError as exc:
            records.append({"source": ref.source, "shard_error": str(exc)})
    if records:
        yield pa.Table.from_pylist(records, schema=schema)


def _shard_size(ref: ShardRef) -> int:
    try:
        return int(os.path.getsize(ref.path))
    except OSError:
        return 0


def _datasource(refs: Sequence[ShardRef], choice: ColumnChoice, videos: bool) -> Any:
    """A `ray.data.Datasource` of the shards' items (built here so Ray is imported lazily)."""
    from ray.data.block import BlockMetadata
    from ray.data.datasource import Datasource, ReadTask

    class ShardDatasource(Datasource):
        def estimate_inmemory_data_size(self) -> int | None:
            return sum(_shard_size(ref) for ref in refs)

        def get_read_tasks(
            self, parallelism: int, per_task_row_limit: int | None = None, data_context: Any = None
        ) -> list[ReadTask]:
            tasks = []
            for ref in refs:  # one task per shard, whatever `parallelism` asks: a shard is read front to back
                meta = BlockMetadata(num_rows=None, size_bytes=_shard_size(ref), exec_stats=None, input_files=(str(ref.path),))
                tasks.append(ReadTask(lambda ref=ref: read_shard(ref, choice, videos=videos), meta, schema=item_schema()))
            return tasks

    return ShardDatasource()


def read_items(refs: Sequence[ShardRef], choice: ColumnChoice, *, videos: bool = False) -> Any:
    """The items of `refs` as a lazy `ray.data.Dataset` that yields them in shard order
    (`preserve_order`, set on the copy of the context the dataset keeps, not on the caller's)."""
    import ray.data

    options = ray.data.DataContext.get_current().execution_options
    before, options.preserve_order = options.preserve_order, True
    try:
        return ray.data.read_datasource(_datasource(refs, choice, videos), override_num_blocks=max(1, len(refs)))
    finally:
        options.preserve_order = before
