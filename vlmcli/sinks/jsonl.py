"""JSON-lines shards: the Parquet schema's rows, one JSON object per line, one file per shard.

`created_at` is an ISO 8601 string in UTC (`2026-01-31T12:00:00.123456+00:00`); every other
field is the JSON form of the schema value (null where the schema allows it).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from vlmcli.sinks.base import OutputFormat
from vlmcli.sinks.schema import FIELDS, Row
from vlmcli.sinks.shards import ShardedSink


def to_json_line(row: Row) -> str:
    record = {name: row[name] for name in FIELDS}
    record["created_at"] = row["created_at"].isoformat()
    return json.dumps(record, ensure_ascii=False)


def from_json_line(line: str) -> Row:
    record = json.loads(line)
    record["created_at"] = datetime.fromisoformat(record["created_at"])
    return {name: record.get(name) for name in FIELDS}


class JsonlSink(ShardedSink):
    format = OutputFormat.JSONL
    extension = "jsonl"

    def write_file(self, path: Path, rows: list[Row]) -> None:
        with open(path, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(to_json_line(row) + "\n")

    def read_file(self, path: Path) -> list[Row]:
        with open(path, encoding="utf-8") as lines:
            return [from_json_line(line) for line in lines if line.strip()]
