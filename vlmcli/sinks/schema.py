"""The fixed row schema every caption sink writes, and the identity of a row.

One row per (image file, prompt). Columns, in order:

    key                sha256 of the file bytes (hex); null only when the file could not be read
    path               the file as discovered: absolute, its folders resolved (`vlmcli.sinks.identity`), as
                       valid UTF-8 text: a name that is not UTF-8 has its bytes as `\\xNN` escapes
    path_bytes         the path's exact bytes when it is not valid UTF-8 (binary in Parquet, base64
                       in JSONL), else null: then `path` is the exact name
    status             "ok" or "error"
    error              one-line message when status is "error", else null
    caption            the model's text when status is "ok", else null
    answer_json        with --schema/--choice/--regex/--json-mode: the answer as JSON text when it is complete
                       (valid under its constraint), else null; null for free-text runs
    prompt             the prompt text
    model              the model id as given (hub id or folder)
    model_revision     the resolved hub commit (or the requested revision; null for folders)
    config_hash        hash of model id + requested revision + prompt + generation settings
    width, height      original image size (after EXIF rotation); null when unknown
    visual_tokens      placeholder tokens the image took in the prompt
    prompt_tokens      prompt length in tokens (text + visual)
    completion_tokens  generated tokens
    latency_ms         wall milliseconds from the start of the engine's work on the row's batch (preparing
                       its images) to the row's answer. Static batching: the whole engine call, the same
                       for every row of the batch. Continuous batching: from the start of the admission
                       that prefilled the row (rows prefilled together share that start, whichever was
                       prepared first) to its last token, so rows differ by how long they decoded.
                       Rows of a batch overlap: summing the column counts shared time many times (the
                       summary's rate is the run's throughput). Error rows: the time until the failure,
                       0 or null when the model did not run
    created_at         when the row was made (UTC)
    source             dataset inputs: the shard file (resolved path) the image came from; else null
    source_key         dataset inputs: the item's key in its shard (`__key__`, a key column, or
                       the row number); else null. Such rows have `path` = "<source>::<source_key>"
    extra              dataset inputs: the --keep-columns of the item, as a JSON object; else null
    notes              how the input was read where that differs from what was asked, one sentence
                       each, joined by " "; null when it was read as asked. Videos: the frames that
                       stood in for damaged ones, a scene scan that was cut short

`path` + `path_bytes` is the convention of every vlmcli JSON output too (`describe --json`):
readable text always, the original bytes only when the text cannot say them exactly;
`original_path(row)` gives back the name Python opens (`os.fsdecode` of the bytes).

A (path, key, config_hash) triple identifies a row: resume skips it when an ok row with
that identity exists. Pure data: pyarrow is imported only by `arrow_schema()`.
"""

from __future__ import annotations

import enum
import os
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from vlmcli.media.names import utf8_text

if TYPE_CHECKING:
    import pyarrow as pa

FIELDS: tuple[str, ...] = (
    "key",
    "path",
    "path_bytes",
    "status",
    "error",
    "caption",
    "answer_json",
    "prompt",
    "model",
    "model_revision",
    "config_hash",
    "width",
    "height",
    "visual_tokens",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "created_at",
    "source",
    "source_key",
    "extra",
    "notes",
)

DATASET_FIELDS = ("source", "source_key", "extra")
"""Null for rows of plain files; set for rows of dataset items."""

Row = dict[str, Any]
"""One output row: exactly the keys in FIELDS."""


class Status(str, enum.Enum):
    OK = "ok"
    ERROR = "error"


class RowId(NamedTuple):
    """What makes a row unique: the same file content at the same path with the same settings."""

    path: str
    key: str | None
    config_hash: str


def row_id(row: Row) -> RowId:
    return RowId(row["path"], row["key"], row["config_hash"])


def check_row(row: Row) -> Row:
    """`row` itself, after checking it has exactly the schema's fields (a programming error otherwise).

    `path_bytes` is derived from `path`: a row built without it gets it here; one built
    without the dataset fields (`DATASET_FIELDS`) gets them as null.
    """
    if "path_bytes" not in row and "path" in row:
        row["path_bytes"] = path_bytes(row["path"])
    for name in DATASET_FIELDS:
        row.setdefault(name, None)
    row.setdefault("answer_json", None)  # free-text rows built without it
    row.setdefault("notes", None)
    if tuple(row) != FIELDS and set(row) != set(FIELDS):
        missing, extra = set(FIELDS) - set(row), set(row) - set(FIELDS)
        raise ValueError(f"row does not match the caption schema (missing {sorted(missing)}, extra {sorted(extra)})")
    if not isinstance(row["created_at"], datetime):
        raise ValueError("created_at must be a datetime")
    return row


def path_bytes(path: str) -> bytes | None:
    """The exact bytes of a file name that is not valid UTF-8 (Python holds those bytes as
    lone surrogates); None for a UTF-8 name, which `path` stores exactly."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(path)
    return None


def original_path(row: Row) -> str:
    """The path of a stored row as Python names the file (`path_bytes` when set, else `path`)."""
    raw = row.get("path_bytes")
    return os.fsdecode(bytes(raw)) if raw else row["path"]


def storable(row: Row) -> Row:
    """`row` with every string made valid UTF-8 (Parquet and JSON writers refuse anything else).

    A file name that is not UTF-8 reaches Python with lone surrogates; it is stored in its
    readable escaped form (`caf\\xe9.jpg`) and its exact bytes in `path_bytes`, from which
    the readers (`parquet.py`, `jsonl.py`) give the real name back.
    """
    stored = {name: utf8_text(value) if isinstance(value, str) else value for name, value in row.items()}
    stored["path_bytes"] = path_bytes(row["path"]) or row.get("path_bytes")  # idempotent
    return stored


def restored(row: Row) -> Row:
    """A row read back from a shard, with every schema field (null where an older shard has no
    such column) and `path` as the real file name (`original_path`)."""
    full = {name: row.get(name) for name in FIELDS}
    if full["path_bytes"] is not None:
        full["path_bytes"] = bytes(full["path_bytes"])
        full["path"] = original_path(full)
    return full


def arrow_schema() -> "pa.Schema":
    """The Parquet schema (pyarrow imported here, lazily)."""
    import pyarrow as pa

    text, count = pa.string(), pa.int32()
    return pa.schema(
        [
            pa.field("key", text),
            pa.field("path", text, nullable=False),
            pa.field("path_bytes", pa.binary()),
            pa.field("status", text, nullable=False),
            pa.field("error", text),
            pa.field("caption", text),
            pa.field("answer_json", text),
            pa.field("prompt", text, nullable=False),
            pa.field("model", text, nullable=False),
            pa.field("model_revision", text),
            pa.field("config_hash", text, nullable=False),
            pa.field("width", count),
            pa.field("height", count),
            pa.field("visual_tokens", count),
            pa.field("prompt_tokens", count),
            pa.field("completion_tokens", count),
            pa.field("latency_ms", pa.float64()),
            pa.field("created_at", pa.timestamp("us", tz="UTC"), nullable=False),
            pa.field("source", text),
            pa.field("source_key", text),
            pa.field("extra", text),
            pa.field("notes", text),
        ]
    )
