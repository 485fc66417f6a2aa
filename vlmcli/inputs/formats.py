"""What kind of input a path is, by its content (names only where content cannot say).

    a file    tar header ("ustar" at byte 257) or gzip'd tar   -> webdataset
              "PAR1" at both ends                               -> parquet
              an Arrow IPC stream (`.arrow`, save_to_disk)      -> hf
              anything else                                     -> files (an image, a video)
    a folder  dataset_info.json + state.json                    -> hf (save_to_disk)
              tar shards inside (img2dataset's webdataset layout; its .parquet/.json
              siblings are metadata)                             -> webdataset
              Parquet files inside (img2dataset's parquet layout, a hub dataset's data/) -> parquet
              otherwise (img2dataset's files layout too)         -> files

`--input-format` overrides the detection for every input.
"""

from __future__ import annotations

import enum
import gzip
import os
from pathlib import Path

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")


class InputFormat(str, enum.Enum):
    AUTO = "auto"
    FILES = "files"
    WEBDATASET = "webdataset"
    PARQUET = "parquet"
    HF = "hf"


def _head(path: Path, size: int) -> bytes:
    """The first `size` bytes of a regular file; nothing for FIFOs, devices and the unreadable
    (opening a FIFO blocks until a writer comes)."""
    try:
        if not path.is_file():
            return b""
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def is_tar_bytes(head: bytes) -> bool:
    return len(head) >= 262 and head[257:262] == b"ustar"


def file_format(path: Path) -> InputFormat:
    head = _head(path, 512)
    if is_tar_bytes(head):
        return InputFormat.WEBDATASET
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as inner:
                if is_tar_bytes(inner.read(512)):
                    return InputFormat.WEBDATASET
        except (OSError, EOFError):
            pass
    if head[:4] == b"PAR1":
        return InputFormat.PARQUET
    if path.suffix == ".arrow" and head[:4] == b"\xff\xff\xff\xff":
        return InputFormat.HF
    return InputFormat.FILES


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def dataset_files(folder: Path, fmt: InputFormat) -> list[Path]:
    """The shard files of a dataset folder of format `fmt`, sorted (walked; hidden entries skipped)."""
    if fmt is InputFormat.HF:
        return _hf_files(folder)
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if (fmt is InputFormat.WEBDATASET and is_tar_name(name)) or (
                fmt is InputFormat.PARQUET and name.endswith(".parquet")
            ):
                found.append(Path(root) / name)
    return found


def _hf_files(folder: Path) -> list[Path]:
    import json

    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        names = sorted(p.name for p in folder.glob("*.arrow"))
    return [folder / name for name in names]


def folder_format(folder: Path) -> InputFormat:
    if (folder / "dataset_info.json").is_file() and (folder / "state.json").is_file():
        return InputFormat.HF
    for fmt in (InputFormat.WEBDATASET, InputFormat.PARQUET):
        if dataset_files(folder, fmt):
            return fmt
    return InputFormat.FILES


def detect_format(path: Path) -> InputFormat:
    return folder_format(path) if path.is_dir() else file_format(path)
