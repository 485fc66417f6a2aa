"""Read back every row a caption run wrote into its output folder (parquet or jsonl shards)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from vlmcli.errors import InputError
from vlmcli.sinks.schema import Row
from vlmcli.sinks.shard_files import shard_files

if TYPE_CHECKING:
    import pyarrow as pa

_READERS = {  # shard extension -> (module, function): imported only for the format present
    "parquet": ("vlmcli.sinks.parquet", "read_parquet_shard"),
    "jsonl": ("vlmcli.sinks.jsonl", "read_jsonl_shard"),
}


def result_shards(folder: str | os.PathLike[str]) -> list[Path]:
    """The completed shards in `folder` (hidden temp files of a running job are not shards)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder} is not a folder of caption results (the --output of `vlm caption-dir`).")
    shards = [path for ext in _READERS for path in shard_files(folder, ext)]
    if not shards:
        raise InputError(
            f"{folder} has no caption shards (part-*.parquet or part-*.jsonl); "
            "pass the --output folder of `vlm caption-dir --format parquet|jsonl`."
        )
    return sorted(shards)


class Results(list[Row]):
    """A run's rows, with the Arrow types its kept columns had in their input shards
    (`kept_types`: shard source -> schema of its kept columns, `sinks.kept_types`; empty for a
    run that recorded none), which `records.join_rows` passes on to the export."""

    def __init__(self, rows: list[Row] | None = None, *, kept_types: "dict[str, pa.Schema] | None" = None) -> None:
        super().__init__(rows or [])
        self.kept_types = kept_types or {}


def read_results(folder: str | os.PathLike[str]) -> Results:
    """All rows of all shards in `folder`, in shard order."""
    import importlib

    from vlmcli.sinks.kept_types import load_kept_types

    rows = Results(kept_types=load_kept_types(Path(folder)))
    for shard in result_shards(folder):
        module, name = _READERS[shard.suffix.lstrip(".")]
        reader = getattr(importlib.import_module(module), name)
        try:
            rows.extend(reader(shard))
        except Exception as exc:  # noqa: BLE001 - any reader failure means a damaged shard
            raise InputError(f"Cannot read shard {shard} ({type(exc).__name__}: {exc}).") from None
    return rows
