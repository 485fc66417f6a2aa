"""What kind of input a path is, by its content (names only where content cannot say).

    a file    tar header ("ustar" at byte 257) or gzip'd tar   -> webdataset
              "PAR1" at both ends                               -> parquet
              an Arrow IPC stream (`.arrow`, save_to_disk)      -> hf
              "PK" and named `.zip` or `.cbz`                   -> zip (a download of pictures)
              named `.csv` or `.tsv` (no magic to tell a table) -> csv (a path column: pandas'
                                                                   `to_csv`, spreadsheets)
              named `.json`, `.jsonl` or `.ndjson`               -> json (LLaVA-style records,
                                                                   `datasets`' `to_json`)
              "%PDF-" first                                     -> pdf (each page an item)
              anything else                                     -> files (an image, a video)
    a folder  dataset_info.json + state.json                    -> hf (save_to_disk)
              tar shards and no pictures or videos inside (img2dataset's webdataset
              layout; its .parquet/.json siblings are metadata)  -> webdataset
              tar shards and pictures or videos                  -> an error: say which
              zip archives (.zip, .cbz) and no pictures or videos -> zip (and with: an error)
              Parquet files and no pictures or videos inside (img2dataset's parquet
              layout, a hub dataset's data/)                     -> parquet
              PDFs and nothing else to caption (a folder of scans) -> pdf (with pictures: files,
                                                                   the PDFs skipped and counted)
              otherwise                                          -> files
              (img2dataset's default files layout: 00000/*.jpg beside a metadata
              00000.parquet; a photo folder holding a caption run's output)

Folders are walked without hidden entries and without `exclude` (the run's own output
folder, whose Parquet shards are never input).

`--input-format` overrides the detection for every input.
"""

from __future__ import annotations

import enum
import gzip
import os
from collections.abc import Iterator
from pathlib import Path

from vlmcli.errors import ConfigError
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_pdf

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz")
CSV_SUFFIXES = (".csv", ".tsv")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
_MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
ZIP_SUFFIXES = (".zip", ".cbz")


class InputFormat(str, enum.Enum):
    AUTO = "auto"
    FILES = "files"
    WEBDATASET = "webdataset"
    PARQUET = "parquet"
    HF = "hf"
    CSV = "csv"
    ZIP = "zip"
    JSON = "json"
    PDF = "pdf"


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
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") and path.suffix.lower() in ZIP_SUFFIXES:
        return InputFormat.ZIP  # by name too: .docx, .epub and .jar are zips as well
    if is_pdf(head):
        return InputFormat.PDF
    if path.suffix == ".arrow" and head[:4] == b"\xff\xff\xff\xff":
        return InputFormat.HF
    if path.suffix.lower() in CSV_SUFFIXES and path.is_file():
        return InputFormat.CSV
    if path.suffix.lower() in JSON_SUFFIXES and path.is_file():
        return InputFormat.JSON
    return InputFormat.FILES


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def dataset_files(folder: Path, fmt: InputFormat, *, exclude: Path | None = None) -> list[Path]:
    """The shard files of a dataset folder of format `fmt`, sorted (walked; hidden entries and
    `exclude` skipped)."""
    if fmt is InputFormat.HF:
        return _hf_files(folder)
    if fmt is InputFormat.PDF:  # by name, and by content (a scan saved as .jpg): walking found both skipped
        return [path for path in _walk(folder, exclude) if path.suffix.lower() == ".pdf" or is_pdf(_head(path, 1024))]
    return [path for path in _walk(folder, exclude) if _shard_format(path.name) is fmt]


def _shard_format(name: str) -> InputFormat | None:
    if is_tar_name(name):
        return InputFormat.WEBDATASET
    if name.lower().endswith(ZIP_SUFFIXES):
        return InputFormat.ZIP
    if name.lower().endswith(CSV_SUFFIXES):
        return InputFormat.CSV  # a folder's CSVs and JSONs are read only with --input-format: they are metadata
    if name.lower().endswith(JSON_SUFFIXES):
        return InputFormat.JSON
    if name.lower().endswith(".pdf"):
        return InputFormat.PDF
    return InputFormat.PARQUET if name.endswith(".parquet") else None


def _walk(folder: Path, exclude: Path | None) -> Iterator[Path]:
    """Files under `folder` in sorted order, without hidden entries or the folder `exclude`."""
    skip = exclude.resolve() if exclude is not None else None
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and (skip is None or Path(root, d).resolve() != skip))
        yield from (Path(root) / name for name in sorted(files) if not name.startswith("."))


def _hf_files(folder: Path) -> list[Path]:
    import json

    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        names = sorted(p.name for p in folder.glob("*.arrow"))
    return [folder / name for name in names]


def folder_format(folder: Path, *, exclude: Path | None = None) -> InputFormat:
    if (folder / "dataset_info.json").is_file() and (folder / "state.json").is_file():
        return InputFormat.HF
    archive: tuple[Path, InputFormat] | None = None  # the first tar or zip shard
    picture: Path | None = None
    tables = documents = False
    for path in _walk(folder, exclude):
        kind = _shard_format(path.name)
        if archive is None and kind in (InputFormat.WEBDATASET, InputFormat.ZIP):
            archive = (path, kind)
        tables = tables or kind is InputFormat.PARQUET
        documents = documents or kind is InputFormat.PDF
        if picture is None and path.suffix.lower() in _MEDIA_EXTENSIONS:
            picture = path
        if archive is not None and picture is not None:
            shard, fmt = archive
            raise ConfigError(
                f"{folder} holds both {'tar shards' if fmt is InputFormat.WEBDATASET else 'zip archives'} "
                f"({shard.name}) and pictures or videos ({picture.name}); say which to caption: "
                f"--input-format {fmt.value} or --input-format files."
            )
    if archive is not None:
        return archive[1]
    if picture is None and tables:
        return InputFormat.PARQUET
    return InputFormat.PDF if picture is None and documents else InputFormat.FILES


def detect_format(path: Path, *, exclude: Path | None = None) -> InputFormat:
    return folder_format(path, exclude=exclude) if path.is_dir() else file_format(path)
