"""Kept columns (`caption-dir --keep-columns url,caption`) in an export's per-item metadata.

A dataset run copies the item's chosen fields into each row's `extra` (a JSON object).
Export writes them beside its own fields, each under its own name, in every format that
has per-item metadata: webdataset's `<key>.json`, imagefolder's `metadata.jsonl`, Parquet
columns and jsonl fields (txt holds captions only). Every record has every kept column
(null where its item had none), so a table's column is never half missing.

    kept_columns([{"url": ..., "caption": ...}], taken={"caption", "file_name", ...})
        -> {"url": "url", "caption": "extra_caption"}

A kept column whose name an export field already has (a one-prompt run's `caption`, `width`,
`path`, `source`, ...: `records.RESERVED_COLUMNS` and the caption columns) is written as
`extra_<name>` (`extra_caption`: img2dataset's alt text beside the new caption), never over
the export's own field; one ending in `file_name` (which `datasets` would open as a file) as
`<name>_kept`; the summary names each such column.

Tables (imagefolder and Parquet, read by `datasets` with one type per column): a column whose
values are all text, all booleans or all numbers (nulls aside) keeps them; any other (lists,
objects, a mix) holds each value as its JSON text (a text value too: `"x"` with its quotes, so
`json.loads` reads every cell of the column), and the table loads. Pure.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from typing import Any

from vlmcli.exports.names import claim

PREFIX = "extra_"
"""Before a kept column's name when an export field has that name."""


class ColumnType(str, enum.Enum):
    """A kept column's type in a table; the value is its `datasets` `Value` dtype."""

    TEXT = "string"
    INTEGER = "int64"
    NUMBER = "float64"
    BOOLEAN = "bool"
    JSON = "json"
    """Lists, objects or mixed types: each value as its JSON text (a `string` column)."""

    @property
    def dtype(self) -> str:
        return "string" if self is ColumnType.JSON else self.value


FILE_COLUMN_SUFFIX = "file_name"
"""`datasets`' imagefolder reads `file_name` and every `*_file_name` column of metadata.jsonl as a
file to open: a kept column so named (or renamed to `extra_file_name`) would fail the load."""


def kept_columns(extras: Iterable[Mapping[str, Any]], taken: Iterable[str]) -> dict[str, str]:
    """kept column -> its name in the export, in the order the columns first appear; a name
    ending in `file_name` gets `_kept` after it (`FILE_COLUMN_SUFFIX`), `file_name_kept`."""
    taken = set(taken)
    columns = list(dict.fromkeys(column for extra in extras for column in extra))
    used = taken | {column for column in columns if column not in taken and not _a_file_column(column)}
    names = {}
    for column in columns:
        if _a_file_column(column):
            names[column] = claim(f"{column}_kept", used)
        else:
            names[column] = claim(PREFIX + column, used) if column in taken else column
    return names


def _a_file_column(name: str) -> bool:
    return name.endswith(FILE_COLUMN_SUFFIX)


def kept_fields(extra: Mapping[str, Any], kept: Mapping[str, str]) -> dict[str, Any]:
    """One record's kept values under their export names (JSON values, as the run kept them)."""
    return {name: extra.get(column) for column, name in kept.items()}


def column_types(extras: Iterable[Mapping[str, Any]], kept: Mapping[str, str]) -> dict[str, ColumnType]:
    """export name -> the table type of its values across every record (see the module docstring)."""
    seen: dict[str, set[ColumnType]] = {name: set() for name in kept.values()}
    for extra in extras:
        for column, name in kept.items():
            value = extra.get(column)
            if value is not None:
                seen[name].add(_type_of(value))
    return {name: _one_type(types) for name, types in seen.items()}


def table_fields(extra: Mapping[str, Any], kept: Mapping[str, str], types: Mapping[str, ColumnType]) -> dict[str, Any]:
    """One record's kept values as a table row holds them (`column_types`)."""
    fields = kept_fields(extra, kept)
    return {name: _as_type(value, types[name]) for name, value in fields.items()}


def _type_of(value: Any) -> ColumnType:
    if isinstance(value, bool):
        return ColumnType.BOOLEAN
    if isinstance(value, int):
        return ColumnType.INTEGER
    if isinstance(value, float):
        return ColumnType.NUMBER
    return ColumnType.TEXT if isinstance(value, str) else ColumnType.JSON


def _one_type(types: set[ColumnType]) -> ColumnType:
    if not types:
        return ColumnType.TEXT
    if types == {ColumnType.INTEGER, ColumnType.NUMBER}:
        return ColumnType.NUMBER
    return next(iter(types)) if len(types) == 1 else ColumnType.JSON


def _as_type(value: Any, kind: ColumnType) -> Any:
    if value is None:
        return None
    if kind is ColumnType.JSON:
        return json.dumps(value, ensure_ascii=False)  # text too: every cell of the column is JSON
    return float(value) if kind is ColumnType.NUMBER else value
