"""The fixed row schema every caption sink writes, and the identity of a row.

One row per (image file, prompt). Columns, in order:

    key                sha256 of the file bytes (hex); null only when the file could not be read
    path               the file as discovered (the user's spelling, joined with its directory)
    status             "ok" or "error"
    error              one-line message when status is "error", else null
    caption            the model's text when status is "ok", else null
    prompt             the prompt text
    model              the model id as given (hub id or folder)
    model_revision     the resolved hub commit (or the requested revision; null for folders)
    config_hash        hash of model id + requested revision + prompt + generation settings
    width, height      original image size (after EXIF rotation); null when unknown
    visual_tokens      placeholder tokens the image took in the prompt
    prompt_tokens      prompt length in tokens (text + visual)
    completion_tokens  generated tokens
    latency_ms         wall time of the engine call that produced the row (shared by its batch)
    created_at         when the row was made (UTC)

A (path, key, config_hash) triple identifies a row: resume skips it when an ok row with
that identity exists. Pure data: pyarrow is imported only by `arrow_schema()`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

FIELDS: tuple[str, ...] = (
    "key",
    "path",
    "status",
    "error",
    "caption",
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
)

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
    """`row` itself, after checking it has exactly the schema's fields (a programming error otherwise)."""
    if tuple(row) != FIELDS and set(row) != set(FIELDS):
        missing, extra = set(FIELDS) - set(row), set(row) - set(FIELDS)
        raise ValueError(f"row does not match the caption schema (missing {sorted(missing)}, extra {sorted(extra)})")
    if not isinstance(row["created_at"], datetime):
        raise ValueError("created_at must be a datetime")
    return row


def storable(row: Row) -> Row:
    """`row` with every string made valid UTF-8 (Parquet and JSON writers refuse anything else).

    A file name that is not UTF-8 reaches Python with lone surrogates; it is stored in its
    readable escaped form (`caf\\xe9.jpg`). `ShardedSink` maps such stored paths back to the
    real names of the files being captioned, so resume still recognises them.
    """
    return {name: stored_text(value) if isinstance(value, str) else value for name, value in row.items()}


def stored_text(text: str) -> str:
    """`text` unchanged if it is valid UTF-8, else with undecodable bytes as `\\xNN` escapes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text


def arrow_schema() -> "pa.Schema":
    """The Parquet schema (pyarrow imported here, lazily)."""
    import pyarrow as pa

    text, count = pa.string(), pa.int32()
    return pa.schema(
        [
            pa.field("key", text),
            pa.field("path", text, nullable=False),
            pa.field("status", text, nullable=False),
            pa.field("error", text),
            pa.field("caption", text),
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
        ]
    )
