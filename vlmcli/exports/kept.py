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
the export's own field; one ending in `file_name` or `file_names` (which `datasets` would open as
files) as `<name>_kept`; the summary names each such column.

Tables (imagefolder and Parquet, read by `datasets` with one type per column) hold each column
typed as the run kept it: lists, objects, numbers, booleans and text; a column with no one type as
each value's JSON text, said in the summary (`kept_table`). Parquet gives a column the Arrow type
its input shards had where the run recorded one (`kept_arrow`). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from vlmcli.exports.names import claim

PREFIX = "extra_"
"""Before a kept column's name when an export field has that name."""


FILE_COLUMN_SUFFIXES = ("file_name", "file_names")
"""`datasets`' imagefolder reads `file_name` and every `*_file_name` column of metadata.jsonl as a
file to open (`file_names`, `*_file_names`: a list of them): a kept column so named (or renamed to
`extra_file_name`) would fail the load."""


def kept_columns(extras: Iterable[Mapping[str, Any]], taken: Iterable[str]) -> dict[str, str]:
    """kept column -> its name in the export, in the order the columns first appear; a name
    ending in `file_name` or `file_names` gets `_kept` after it (`FILE_COLUMN_SUFFIXES`), `file_name_kept`."""
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
    return name.endswith(FILE_COLUMN_SUFFIXES)


def kept_fields(extra: Mapping[str, Any], kept: Mapping[str, str]) -> dict[str, Any]:
    """One record's kept values under their export names (JSON values, as the run kept them)."""
    return {name: extra.get(column) for column, name in kept.items()}
