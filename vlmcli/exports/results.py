"""Read back every row a caption run wrote into its output folder (parquet or jsonl shards)."""

from __future__ import annotations

import os
from pathlib import Path

from vlmcli.errors import InputError
from vlmcli.sinks.schema import Row
from vlmcli.sinks.shard_files import shard_files

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


def read_results(folder: str | os.PathLike[str]) -> list[Row]:
    """All rows of all shards in `folder`, in shard order."""
    import importlib

    rows: list[Row] = []
    for shard in result_shards(folder):
        module, name = _READERS[shard.suffix.lstrip(".")]
        reader = getattr(importlib.import_module(module), name)
        try:
            rows.extend(reader(shard))
        except Exception as exc:  # noqa: BLE001 - any reader failure means a damaged shard
            raise InputError(f"Cannot read shard {shard} ({type(exc).__name__}: {exc}).") from None
    return rows
