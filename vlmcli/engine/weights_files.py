"""Why a model's weights did not load, said in one line: a truncated or missing `.safetensors`
file (what an interrupted download or copy leaves) is named, with how to get a whole copy.

A safetensors file is an 8-byte little-endian header length, a JSON header whose tensors
give `data_offsets` into the data that follows, and the data; a file shorter than its
header's last offset is truncated. Reading the headers costs a few kilobytes per file.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from vlmcli.engine.source import ModelSource


def needed_bytes(path: Path) -> int | None:
    """The size `path` must have according to its own header; None if the header is unreadable."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
            if len(head) < 8:
                return None
            (length,) = struct.unpack("<Q", head)
            header = json.loads(handle.read(length))
    except (OSError, ValueError, struct.error, MemoryError, OverflowError):  # random bytes: any length
        return None
    ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    return 8 + length + max(ends, default=0)


def truncated(folder: Path) -> list[str]:
    """`name (have of need bytes)` for each `.safetensors` file in `folder` shorter than its header says
    (or with no readable header)."""
    found = []
    for path in sorted(folder.glob("*.safetensors")):
        size, need = path.stat().st_size, needed_bytes(path)
        if need is None:
            found.append(f"{path.name} (no readable header, {size:,} bytes)")
        elif size < need:
            found.append(f"{path.name} ({size:,} of {need:,} bytes)")
    return found


def dangling(folder: Path) -> list[str]:
    """Files of `folder` that are links to nothing: a hub snapshot whose blob was deleted
    (an interrupted download, `hf cache` pruning, a cache copied without its blobs)."""
    try:
        return [p.name for p in sorted(folder.iterdir()) if p.is_symlink() and not p.exists()]
    except OSError:
        return []


def weights_failure(source: ModelSource, err: BaseException) -> str:
    """One line for weights that did not load; a damaged or missing weights file says which and what to do."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    gone = dangling(source.folder)
    bad = truncated(source.folder) if type(err).__name__ == "SafetensorError" else []
    short = [b for b in bad if "no readable header" not in b]
    missing = (isinstance(err, FileNotFoundError) or "no file named" in first) and ".safetensors" in first
    if gone:
        what = f"missing: {', '.join(gone)} link{'s' if len(gone) > 1 else ''} to a hub cache blob that is gone"
    elif short:
        what = f"truncated: {', '.join(short)}"
    elif bad:
        what = f"damaged: {', '.join(bad)}, not a safetensors file"
    elif missing:
        what = f"missing ({first.removeprefix('Error ')})"
    else:
        return f"{source.model_id} could not be loaded: {first}"
    again = (
        f"download it again (`hf download {source.model_id} --force-download`)"
        if source.revision is not None
        else "copy or download the folder again"
    )
    return f"{source.model_id} could not be loaded: a weights file is {what}; an interrupted download or copy leaves this: {again}."
