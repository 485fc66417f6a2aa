"""Which columns of a table (or fields of a tar key) are the image, the key and the kept
ones, and what one image cell holds. Pure.

Image column, unless --image-column names it: the column the dataset declares as a
`datasets` `Image` feature, else the first of `image`, `jpg`, `jpeg`, `png`, `webp`, `img`, then
of the columns that name files (`file_name`, `filename`, `file`, `filepath`, ..., `path`).
A cell is raw bytes, a `{bytes, path}` struct (Hugging Face's `Image` storage: bytes win,
else the path), or a string: a path (relative to the table's folder) or a URL, which is
never fetched (an error row says so).

Key column, unless --key-column names it: `__key__` for tars, then `key`, `id`,
`file_name`; a table with none of them keys rows by their number in the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.errors import ConfigError

IMAGE_COLUMNS = ("image", "jpg", "jpeg", "png", "webp", "img")
PATH_COLUMNS = ("file_name", "filename", "file", "filepath", "file_path", "image_path", "img_path", "path")
"""Columns that name image files, tried after IMAGE_COLUMNS: a CSV from pandas or a
spreadsheet, Hugging Face ImageFolder's metadata.csv (`file_name`)."""
KEY_COLUMNS = ("__key__", "key", "id", "file_name")
URL_SCHEMES = ("http://", "https://", "s3://", "gs://", "hf://", "ftp://")


@dataclass(frozen=True)
class ColumnChoice:
    image_column: str | None = None
    """--image-column: None picks it (see the module docstring)."""
    key_column: str | None = None
    """--key-column: None picks it."""
    keep_columns: tuple[str, ...] = ()
    """--keep-columns a,b: copied into each row's `extra` (a JSON object)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "keep_columns", tuple(c.strip() for c in self.keep_columns if c.strip()))


def hf_image_columns(metadata: Mapping[bytes, bytes] | None) -> list[str]:
    """Columns a Parquet/Arrow schema's `huggingface` metadata declares as `Image` features."""
    if not metadata or b"huggingface" not in metadata:
        return []
    try:
        features = json.loads(metadata[b"huggingface"])["info"]["features"]
    except (ValueError, KeyError, TypeError):
        return []
    return [name for name, spec in features.items() if isinstance(spec, dict) and spec.get("_type") == "Image"]


def pick_image_column(names: Sequence[str], *, declared: Sequence[str], requested: str | None, where: str) -> str:
    if requested is not None:
        if requested not in names:
            raise ConfigError(f"--image-column {requested!r} is not a column of {where} (columns: {', '.join(names)}).")
        return requested
    for name in [*declared, *IMAGE_COLUMNS, *PATH_COLUMNS]:
        if name in names:
            return name
    raise ConfigError(f"{where} has no image column (columns: {', '.join(names)}); name it with --image-column.")


def pick_key_column(names: Sequence[str], *, requested: str | None, where: str) -> str | None:
    if requested is not None:
        if requested not in names:
            raise ConfigError(f"--key-column {requested!r} is not a column of {where} (columns: {', '.join(names)}).")
        return requested
    return next((name for name in KEY_COLUMNS if name in names), None)


def check_keep_columns(names: Sequence[str], keep: Sequence[str], *, where: str) -> None:
    missing = [c for c in keep if c not in names]
    if missing:
        raise ConfigError(f"--keep-columns: {', '.join(missing)} not in {where} (columns: {', '.join(names)}).")


@dataclass(frozen=True)
class Cell:
    """What one image cell holds: exactly one of bytes, a path, a URL; or nothing."""

    data: bytes | None = None
    path: str | None = None
    url: str | None = None


def image_cell(value: Any) -> Cell:
    if value is None:
        return Cell()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return Cell(data=bytes(value)) if len(value) else Cell()
    if isinstance(value, Mapping):
        data = value.get("bytes")
        if data:
            return Cell(data=bytes(data))
        return image_cell(value.get("path"))
    if isinstance(value, str):
        if not value:
            return Cell()
        if value.lower().startswith(URL_SCHEMES):
            return Cell(url=value)
        return Cell(path=value)
    return Cell()


def key_text(value: Any) -> str | None:
    """A key cell as text (numbers too); None for a missing key."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    text = str(value)
    return text if text else None


def json_safe(value: Any) -> Any:
    """A kept cell as a JSON value (bytes are not kept: they are the image's job)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
