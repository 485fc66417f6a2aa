"""JSON-lines shards: the Parquet schema's rows, one JSON object per line, one file per shard.

`created_at` is an ISO 8601 string in UTC (`2026-01-31T12:00:00.123456+00:00`);
`path_bytes` is the base64 of the file name's bytes when it is not UTF-8 (else null);
every other field is the JSON form of the schema value (null where the schema allows it).
Every line is valid UTF-8: `path` and messages hold undecodable bytes as `\\xNN` escapes.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from pathlib import Path

from vlmcli.media.names import utf8_text
from vlmcli.sinks.base import OutputFormat
from vlmcli.sinks.schema import FIELDS, Row, path_bytes, restored, storable
from vlmcli.sinks.shards import ShardedSink


def path_fields(path: str) -> dict[str, str]:
    """A file name in JSON, by the convention of every vlmcli JSON output: `path` as valid
    UTF-8 text (undecodable bytes as `\\xNN`), plus `path_bytes` (base64 of the exact bytes)
    only when the name is not UTF-8."""
    fields = {"path": utf8_text(path)}
    raw = path_bytes(path)
    if raw is not None:
        fields["path_bytes"] = base64.b64encode(raw).decode("ascii")
    return fields


def to_json_line(row: Row) -> str:
    stored = storable(row)
    record = {name: stored[name] for name in FIELDS}
    record["created_at"] = row["created_at"].isoformat()
    if record["path_bytes"] is not None:
        record["path_bytes"] = base64.b64encode(record["path_bytes"]).decode("ascii")
    return json.dumps(record, ensure_ascii=False)


def from_json_line(line: str) -> Row:
    """A row from one JSON line, `path` the real file name (see `schema.restored`)."""
    record = json.loads(line)
    record["created_at"] = datetime.fromisoformat(record["created_at"])
    if record.get("path_bytes") is not None:
        record["path_bytes"] = base64.b64decode(record["path_bytes"])
    return restored(record)


def read_jsonl_shard(path: Path) -> list[Row]:
    with open(path, encoding="utf-8") as lines:
        return [from_json_line(line) for line in lines if line.strip()]


class JsonlSink(ShardedSink):
    format = OutputFormat.JSONL
    extension = "jsonl"

    def write_file(self, path: Path, rows: list[Row]) -> None:
        with open(path, "w", encoding="utf-8") as out:
            for row in rows:
                out.write(to_json_line(row) + "\n")

    def read_file(self, path: Path) -> list[Row]:
        return read_jsonl_shard(path)
