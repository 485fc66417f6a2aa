"""Caption shard files on disk: their names, and how a finished one is published.

    part-00000.parquet, job3-part-00012.jsonl     completed shards (`shard_name`, `parse_shard_name`)
    .part-00001.parquet.<host>.<pid>.tmp         a shard being written (`_TEMP`: removed once its run is gone)

A shard is written under a temporary name, synced, then given its final name with a hard link
(`_publish`: never over an existing shard), and the folder synced (`_fsync_dir`), so a crash
leaves whole shards and temp files, never a half-written `part-*`.
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path

SHARD_FORMATS = ("parquet", "jsonl")
"""The extensions of shard files (the sinks that write them: parquet.py, jsonl.py)."""
_SHARD = re.compile(r"^(?:(?P<label>[A-Za-z0-9-]+)-)?part-(?P<number>\d{5,})\.(?P<ext>[a-z]+)$")
_TEMP = re.compile(r"^\..+\.(?P<host>[A-Za-z0-9_-]+)\.(?P<pid>\d+)\.tmp$")


def shard_name(*, label: str, number: int, extension: str) -> str:
    return f"{label + '-' if label else ''}part-{number:05d}.{extension}"


def parse_shard_name(name: str) -> tuple[str, int, str] | None:
    """(label, number, extension) of a completed shard's file name, else None (temp files, others)."""
    match = _SHARD.match(name)
    if match is None:
        return None
    return match["label"] or "", int(match["number"]), match["ext"]


def shard_files(folder: Path, extension: str) -> list[Path]:
    """Completed shards in `folder` with this extension, in name order (temp files never match)."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if (parsed := parse_shard_name(p.name)) and parsed[2] == extension]
    return sorted(found, key=lambda p: p.name)


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", socket.gethostname()) or "host"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _publish(temp: Path, final: Path) -> bool:
    """Give `temp` the name `final` unless that exists (False then). Atomic either way."""
    try:
        os.link(temp, final)
    except FileExistsError:
        return False
    except OSError:  # no hard links on this file system: check, then rename (still atomic)
        if final.exists():
            return False
        os.replace(temp, final)
        return True
    os.unlink(temp)
    return True
