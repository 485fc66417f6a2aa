"""Kept columns given back with the Arrow types their input shards had (`sinks.kept_types`).

A run keeps values as JSON (`inputs.columns.json_safe`: an int32 a number, a timestamp ISO
8601 text with its offset, a decimal its digits as text, binary base64 text) and records each
table shard's kept fields. A Parquet export writes a column with that type when every shard
its records come from recorded one, and the same one (`recorded_columns`): int32 stays int32,
`timestamp[us, tz=UTC]` keeps its zone, binary is bytes again, a column null in every row
keeps its type. Otherwise the column is typed from its values as before (`kept_table`), and
`notes` says why: no type recorded for some of its shards (a run of tars, JSON records, a
run by an older version: no note when nothing at all was recorded), two shards giving it
different types, or values that no longer convert (a rerun that kept other data under that
name).

    typed, notes = recorded_columns(joined.records, joined.kept, joined.kept_types)
    arrow_values(["2024-01-01T00:00:00+00:00"], pa.timestamp("us", tz="UTC"))

Text formats (jsonl, webdataset's `.json`, imagefolder's `metadata.jsonl`) keep the JSON
forms; `binary_notes` names their binary columns (written as base64 text).
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from vlmcli.exports.records import Record


@dataclass(frozen=True)
class Recorded:
    type: "pa.DataType"
    feature: Any = None
    """The column's `datasets` feature as its input declared it (a `ClassLabel`), else None:
    `datasets` derives it from the Arrow type."""


def recorded_columns(
    records: Sequence["Record"], kept: Mapping[str, str], kept_types: Mapping[str, "pa.Schema"]
) -> tuple[dict[str, Recorded], dict[str, str]]:
    """(export name -> its recorded type, export name -> why a kept column is typed from its values)."""
    import json

    if not kept_types:
        return {}, {}
    typed: dict[str, Recorded] = {}
    notes: dict[str, str] = {}
    for column, name in kept.items():
        sources = list(dict.fromkeys(r.source for r in records if column in r.extra))
        fields = {s: _field(kept_types.get(s or ""), column) for s in sources}
        missing = [s for s, f in fields.items() if f is None]
        if not sources:
            continue
        if missing:
            notes[name] = (
                f"no input type recorded for {len(missing)} of its {len(sources)} shard(s) ({missing[0]}): typed from its values"
            )
            continue
        types = list(dict.fromkeys(str(f.type) for f in fields.values()))
        if len(types) > 1:
            notes[name] = f"its input shards hold it as {' and '.join(types)}: typed from its values"
            continue
        kind = next(iter(fields.values())).type
        features = {json.dumps(_feature(kept_types[s or ""], column), sort_keys=True) for s in sources}
        feature = _feature(kept_types[sources[0] or ""], column) if len(features) == 1 else None
        try:
            arrow_values([r.extra.get(column) for r in records], kind)
        except Exception as exc:  # noqa: BLE001 - any failure to convert means: type it from its values
            notes[name] = f"its values no longer convert to its input type {kind} ({exc}): typed from its values"
            continue
        typed[name] = Recorded(kind, feature)
    return typed, notes


def _field(schema: "pa.Schema | None", column: str) -> "pa.Field | None":
    if schema is None or schema.get_field_index(column) < 0:
        return None
    return schema.field(column)


def _feature(schema: "pa.Schema", column: str) -> Any:
    import json

    try:
        return json.loads(schema.metadata[b"huggingface"])["info"]["features"].get(column)
    except (TypeError, KeyError, ValueError, AttributeError):
        return None


def arrow_values(values: Sequence[Any], kind: "pa.DataType") -> "pa.Array":
    """Kept JSON values as an array of `kind` (raises when they do not convert)."""
    import pyarrow as pa

    return pa.array([python_value(v, kind) for v in values], type=storage_type(kind)).cast(kind)


def storage_type(kind: "pa.DataType") -> "pa.DataType":
    """The type a column of `kind` is built as from `python_value`s before its cast to `kind`:
    timestamps, dates and decimals as their text (Arrow parses it, zone offsets included)."""
    import pyarrow as pa

    t = pa.types
    if t.is_timestamp(kind) or t.is_date(kind) or t.is_decimal(kind):
        return pa.string()
    if t.is_dictionary(kind):
        return storage_type(kind.value_type)
    if t.is_map(kind):
        return pa.map_(storage_type(kind.key_type), storage_type(kind.item_type))
    if t.is_large_list(kind):
        return pa.large_list(storage_type(kind.value_type))
    if t.is_fixed_size_list(kind):
        return pa.list_(storage_type(kind.value_type), kind.list_size)
    if t.is_list(kind):
        return pa.list_(storage_type(kind.value_type))
    if t.is_struct(kind):
        return pa.struct([pa.field(f.name, storage_type(f.type)) for f in kind])
    return kind


def storage_schema(schema: "pa.Schema") -> "pa.Schema":
    import pyarrow as pa

    return pa.schema([pa.field(f.name, storage_type(f.type)) for f in schema], metadata=schema.metadata)


def python_value(value: Any, kind: "pa.DataType") -> Any:
    """One kept JSON value as a value of `storage_type(kind)`: base64 text as bytes, ISO text as a
    time of day, seconds as a duration; nested values alike."""
    import pyarrow as pa

    t = pa.types
    if value is None:
        return None
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind) or t.is_binary_view(kind):
        return base64.b64decode(value, validate=True) if isinstance(value, str) else value
    if t.is_time(kind):
        return dt.time.fromisoformat(value) if isinstance(value, str) else value
    if t.is_duration(kind):
        return dt.timedelta(seconds=value) if isinstance(value, (int, float)) else value
    if t.is_dictionary(kind):
        return python_value(value, kind.value_type)
    if t.is_map(kind):
        return [(python_value(k, kind.key_type), python_value(v, kind.item_type)) for k, v in value]
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind):
        return [python_value(v, kind.value_type) for v in value]
    if t.is_struct(kind):
        return {f.name: python_value(value.get(f.name), f.type) for f in kind}
    return value


def binary_notes(kept: Mapping[str, str], kept_types: Mapping[str, "pa.Schema"]) -> dict[str, str]:
    """Export name -> a note, for kept columns an input shard held as binary (text formats write them as base64)."""
    if not kept_types:
        return {}
    import pyarrow as pa

    notes = {}
    for column, name in kept.items():
        for schema in kept_types.values():
            field = _field(schema, column)
            if field is not None and _binary(field.type, pa):
                notes[name] = f"binary values ({field.type}), written as base64 text"
                break
    return notes


def _binary(kind: "pa.DataType", pa: Any) -> bool:
    t = pa.types
    if t.is_binary(kind) or t.is_large_binary(kind) or t.is_fixed_size_binary(kind) or t.is_binary_view(kind):
        return True
    if t.is_list(kind) or t.is_large_list(kind) or t.is_fixed_size_list(kind) or t.is_dictionary(kind):
        return _binary(kind.value_type, pa)
    if t.is_struct(kind):
        return any(_binary(f.type, pa) for f in kind)
    return t.is_map(kind) and (_binary(kind.key_type, pa) or _binary(kind.item_type, pa))
