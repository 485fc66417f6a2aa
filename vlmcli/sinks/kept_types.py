"""The Arrow types of a dataset run's kept columns (`caption-dir --keep-columns`), kept beside
its shards so that `vlm export` gives them back.

A row's `extra` holds its kept values as JSON (`inputs.columns.json_safe`): an int32 is a
number, a timestamp ISO 8601 text, binary base64 text. JSON alone cannot say the int32 was
not an int64, nor that the text was a timestamp with its zone. So when a run first writes a
row of a table shard (Parquet, a `save_to_disk` Arrow file, a CSV read by pyarrow) with kept
columns, it reads that shard's schema (its footer or header only: `table_shard.kept_schema`)
and writes the kept columns' fields down in `.vlm-kept-types.json` in its --output (one per
`--shard` label, `.vlm-kept-types.<label>.json`: jobs of an array never write one file
together), merged over runs, before the shard holding the row is published:

    {"version": 1, "shards": {"/data/train-0.parquet": {
        "types": {"n": "int32", "t": "timestamp[us, tz=UTC]"},       # for people
        "schema": "<base64 of the Arrow IPC schema of those fields>"}}}  # for export

Shards of other kinds (tar, JSON records, zip, PDF) have no Arrow types: export types their
kept columns from the values, as it does for outputs written before this file existed.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmcli.sinks.schema import Row

if TYPE_CHECKING:
    import pyarrow as pa

    from vlmcli.inputs.readings import ShardReading

PREFIX, SUFFIX = ".vlm-kept-types", ".json"
VERSION = 1
TABLES = {"parquet": "parquet", "hf": "arrow", "csv": "csv"}
"""Input format -> the `table_shard` table it is read as: the shards whose columns have Arrow types."""


def types_name(label: str) -> str:
    return f"{PREFIX}.{label}{SUFFIX}" if label else PREFIX + SUFFIX


class KeptTypes:
    """What one run learns of its shards' kept columns: `learn(rows)` before the rows are
    published, then `write` when it learnt something."""

    def __init__(self) -> None:
        self._tables: dict[str, str] = {}
        self._seen: set[str] = set()
        self._learnt: dict[str, dict[str, Any]] = {}

    def note_formats(self, readings: "Mapping[str, ShardReading]") -> None:
        for source, reading in readings.items():
            if (table := TABLES.get(reading.format.value)) is not None:
                self._tables[source] = table

    def learn(self, rows: Iterable[Row]) -> bool:
        """Read the kept columns' types of the table shards `rows` come from, for shards not
        seen before in this run; whether anything was learnt. A shard whose schema cannot be read
        now (moved away) is left out: export types those columns from their values."""
        from vlmcli.errors import VlmError
        from vlmcli.inputs.table_shard import kept_schema

        learnt = False
        for row in rows:
            source, extra = row.get("source"), row.get("extra")
            if not source or not extra or source in self._seen or source not in self._tables:
                continue
            self._seen.add(source)
            try:
                columns = list(json.loads(extra))
                schema = kept_schema(Path(source), columns, table=self._tables[source])  # type: ignore[arg-type]
            except (VlmError, OSError, ValueError, TypeError):
                continue
            self._learnt[source] = entry(schema)
            learnt = True
        return learnt

    def record(self, rows: Iterable[Row], folder: Path, *, label: str, temp: Callable[[str], Path]) -> None:
        """`learn` from `rows`, and write the label's file when something was learnt."""
        if self.learn(rows):
            self.write(folder, label=label, temp=temp(types_name(label).lstrip(".")))

    def write(self, folder: Path, *, label: str, temp: Path) -> None:
        """Merge what was learnt into the label's file (written whole to `temp`, then renamed)."""
        target = folder / types_name(label)
        merged = {**_shards(target), **self._learnt}
        temp.write_text(json.dumps({"version": VERSION, "shards": merged}, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(temp, target)


def entry(schema: "pa.Schema") -> dict[str, Any]:
    return {
        "types": {f.name: str(f.type) for f in schema},
        "schema": base64.b64encode(schema.serialize().to_pybytes()).decode("ascii"),
    }


def _shards(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    shards = data.get("shards") if isinstance(data, dict) else None
    return shards if isinstance(shards, dict) else {}


def load_kept_types(folder: Path) -> dict[str, "pa.Schema"]:
    """shard source -> the schema of its kept columns, from every label's file in `folder`;
    empty for a run that recorded none (an older version's, a run of tars). A shard two files
    give different schemas is left out (its columns are typed from their values)."""
    try:
        names = sorted(p for p in os.listdir(folder) if p.startswith(PREFIX) and p.endswith(SUFFIX))
    except OSError:
        return {}
    if not names:
        return {}
    import pyarrow as pa

    found: dict[str, pa.Schema | None] = {}
    for name in names:
        for source, data in _shards(folder / name).items():
            try:
                schema = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(data["schema"])))
            except (KeyError, TypeError, ValueError, pa.ArrowException):
                schema = None
            if source in found and (found[source] is None or schema is None or not found[source].equals(schema)):
                schema = None
            found[source] = schema
    return {source: schema for source, schema in found.items() if schema is not None}
