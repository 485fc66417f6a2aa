"""Why a model's weights did not load, said in one line: a truncated or missing `.safetensors`
file (what an interrupted download or copy leaves) is named, with how to get a whole copy.

A safetensors file is an 8-byte little-endian header length, a JSON header whose tensors
give `data_offsets` into the data that follows, and the data; a file shorter than its
header's last offset is truncated. Reading the headers costs a few kilobytes per file.
"""

from __future__ import annotations

from pathlib import Path

from vlmcli.engine.readable import permission_message
from vlmcli.engine.safetensors_header import sized_header, tensor_names
from vlmcli.engine.source import ModelSource, dangling, gone_links

__all__ = ["dangling", "needed_bytes", "truncated", "weights_failure"]


def needed_bytes(path: Path) -> int | None:
    """The size `path` must have according to its own header; None if the header is unreadable."""
    sized = sized_header(path)
    if sized is None:
        return None
    length, header = sized
    try:
        ends = [int(header[name]["data_offsets"][1]) for name in tensor_names(header)]
    except (KeyError, IndexError, TypeError, ValueError):
        return None
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


def weights_failure(source: ModelSource, err: BaseException) -> str:
    """One line for weights that did not load; a damaged or missing weights file says which and what to do."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    gone = dangling(source.folder)
    bad = truncated(source.folder) if type(err).__name__ == "SafetensorError" else []
    short = [b for b in bad if "no readable header" not in b]
    missing = (isinstance(err, FileNotFoundError) or "no file named" in first) and ".safetensors" in first
    if isinstance(err, PermissionError):  # unreadable after `check_readable` passed (a race)
        return f"{source.model_id} could not be loaded: {permission_message(Path(err.filename or source.folder))}"
    if gone:
        return gone_links(source.model_id, gone, hub_id=source.model_id if source.revision is not None else None)
    if short:
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
