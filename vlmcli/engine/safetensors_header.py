"""Read a `.safetensors` file's header without its tensors.

A safetensors file is an 8-byte little-endian header length, a JSON header naming each
tensor (`dtype`, `shape`, `data_offsets` into the data that follows) plus an optional
`__metadata__` of strings (`{"format": "pt"}`; MLX writes `"mlx"`), then the data. Reading
the header costs a few kilobytes; it tells a truncated file, an empty one (a DeepSpeed ZeRO-3
save without gathered weights), and which tool wrote it.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path


def sized_header(path: Path) -> tuple[int, dict] | None:
    """(the header's length in bytes, the parsed header) of `path`; None if unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return None
            (length,) = struct.unpack("<Q", head)
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error, MemoryError, OverflowError):  # random bytes: any length
        return None
    return (length, header) if isinstance(header, dict) else None


def read_header(path: Path) -> dict | None:
    """The parsed header of `path` (tensors by name, and `__metadata__`); None if unreadable."""
    sized = sized_header(path)
    return sized[1] if sized else None


def tensor_names(header: dict) -> list[str]:
    """The tensors a header names (its `__metadata__` left out)."""
    return [name for name in header if name != "__metadata__"]


def file_format(path: Path) -> str | None:
    """The `format` its writer put in the metadata ("pt", "mlx", ...), or None."""
    header = read_header(path)
    metadata = header.get("__metadata__") if header else None
    value = metadata.get("format") if isinstance(metadata, dict) else None
    return value if isinstance(value, str) else None


def holds_tensors(path: Path) -> bool:
    """False only for a readable header that names no tensor (an empty save)."""
    header = read_header(path)
    return header is None or bool(tensor_names(header))
