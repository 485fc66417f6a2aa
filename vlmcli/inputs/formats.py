"""What kind of input a path is, by its content (names only where content cannot say).

    a file    tar header ("ustar" at byte 257), or a tar's       -> webdataset
              gzip'd, bzip2'd or xz'd (any name); zstd'd and
              named .tar.zst (reading says how to unpack it)
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
              dataset_dict.json (a DatasetDict's save_to_disk)  -> hf: every split's shards, in
                                                                   the order it lists the splits
              shards and no pictures or videos inside: each shard as its kind, every
              kind read (`folder_shards`):
                tar shards (.tar, .tar.gz, .tar.xz, ...)         -> webdataset
                zip archives (.zip, .cbz)                        -> zip
                PDFs (a folder of scans)                         -> pdf
                Parquet files                                    -> parquet; beside archives
                  or PDFs only those that hold pictures, and not one named as an archive
                  (img2dataset's webdataset layout: 00000.parquet of metadata by 00000.tar)
              tar shards or zips and pictures or videos          -> an error: say which
              otherwise                                          -> files
              (tables beside pictures are metadata: img2dataset's default files layout,
              00000/*.jpg beside a metadata 00000.parquet; PDFs beside pictures are skipped
              and counted; a photo folder holding a caption run's output)

Folders are walked (`walk.py`) without hidden entries, symlinked subfolders and `exclude`
(the run's own output folder, whose Parquet shards are never input); in a folder that is
itself a caption run's output, its `part-*` shards are left out too. What the walk could not
list and the symlinked subfolders it did not follow come back with the shards (`Walked`),
for the run to say: no shard inside them is lost without a word.

`--input-format` overrides the detection for every input.
"""

from __future__ import annotations

import enum
import os
from pathlib import Path
from typing import Generic, TypeVar

from vlmcli.errors import ConfigError
from vlmcli.inputs.walk import Listing, is_run_shard, list_tree
from vlmcli.media.kinds import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, is_pdf

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz", ".tar.zst", ".tzst")
CSV_SUFFIXES = (".csv", ".tsv")
JSON_SUFFIXES = (".json", ".jsonl", ".ndjson")
_MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
ZIP_SUFFIXES = (".zip", ".cbz")
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


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


T = TypeVar("T")


class Walked(list[T], Generic[T]):
    """What a folder's walk found (shards, or their paths), with what it did not walk: the
    subfolders it could not list, each (as spelled, why), and the symlinked ones (as spelled)."""

    def __init__(self, items: list[T] | None = None, *, listing: Listing | None = None) -> None:
        super().__init__(items or [])
        self.unreadable: list[tuple[str, str]] = []
        self.linked: list[str] = []
        if listing is not None:
            self.unreadable = [(listing.spelled(name), why) for name, why in listing.unreadable]
            self.linked = [listing.spelled(name) for name in listing.linked]


_ARCHIVES = {InputFormat.WEBDATASET: "tar shards", InputFormat.ZIP: "zip archives"}
_FOLDER_SHARDS = (InputFormat.WEBDATASET, InputFormat.ZIP, InputFormat.PARQUET, InputFormat.PDF)
"""The kinds a folder is read as by itself (its CSVs and JSONs are metadata: --input-format reads them)."""


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


def _compressed_tar(path: Path, head: bytes) -> bool:
    """A gzip'd, bzip2'd or xz'd tar (its first member's header, decompressed); a zstd one by
    its name (reading it says how to unpack it where this Python cannot)."""
    if head.startswith(ZSTD_MAGIC):
        return path.name.lower().endswith((".tar.zst", ".tzst"))
    import bz2
    import gzip
    import lzma

    openers = {b"\x1f\x8b": gzip.open, b"BZh": bz2.open, b"\xfd7zXZ\x00": lzma.open}
    opener = next((o for magic, o in openers.items() if head.startswith(magic)), None)
    if opener is None:
        return False
    try:
        with opener(path, "rb") as inner:
            return is_tar_bytes(inner.read(512))
    except (OSError, EOFError, lzma.LZMAError):
        return False


def file_format(path: Path) -> InputFormat:
    head = _head(path, 512)
    if is_tar_bytes(head) or _compressed_tar(path, head):
        return InputFormat.WEBDATASET
    if head[:4] == b"PAR1":
        return InputFormat.PARQUET
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06") and path.suffix.lower() in ZIP_SUFFIXES:
        return InputFormat.ZIP  # by name too: .docx, .epub and .jar are zips as well
    if is_pdf(head):
        return InputFormat.PDF
    if path.suffix == ".arrow" and head[:4] == b"\xff\xff\xff\xff":
        return InputFormat.HF
    if path.suffix.lower() == ".parquet" and path.is_file():
        return InputFormat.PARQUET  # named so but not one (no PAR1): its reader says so, not "not an image"
    if path.suffix.lower() in CSV_SUFFIXES and path.is_file():
        return InputFormat.CSV
    if path.suffix.lower() in JSON_SUFFIXES and path.is_file():
        return InputFormat.JSON
    return InputFormat.FILES


def is_tar_name(name: str) -> bool:
    return name.lower().endswith(TAR_SUFFIXES)


def dataset_files(folder: Path, fmt: InputFormat, *, exclude: Path | None = None) -> Walked[Path]:
    """The shard files of a dataset folder of format `fmt`, sorted (walked; hidden entries and
    `exclude` skipped), with the subfolders not walked (`Walked`)."""
    if fmt is InputFormat.HF:
        return Walked(_hf_files(folder))
    listing = list_tree(folder, exclude=exclude)
    paths = [folder / name for name in listing.files]
    return Walked([path for path in paths if named_as(path, fmt)], listing=listing)


def named_as(path: Path, fmt: InputFormat) -> bool:
    """Whether `path` is a shard of `fmt` by its name (what --input-format picks in a folder); a
    PDF by its name or by content (a scan saved as .jpg: walking found both skipped)."""
    if fmt is InputFormat.PDF:
        return path.suffix.lower() == ".pdf" or is_pdf(_head(path, 1024))
    if fmt is InputFormat.HF:
        return path.suffix == ".arrow"
    return _shard_format(path.name) is fmt


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


def _hf_files(folder: Path) -> list[Path]:
    """A `save_to_disk` folder's Arrow files, in `state.json`'s order; a DatasetDict's, split by split."""
    splits = dict_splits(folder)
    if splits is not None:
        return [path for split in splits for path in _hf_files(folder / split)]
    return _split_files(folder)


def _split_files(folder: Path) -> list[Path]:
    import json

    try:
        state = json.loads((folder / "state.json").read_text(encoding="utf-8"))
        names = [entry["filename"] for entry in state["_data_files"]]
    except (OSError, ValueError, KeyError, TypeError):
        names = sorted(p.name for p in folder.glob("*.arrow"))
    return [folder / name for name in names]


DICT_FILE = "dataset_dict.json"
"""What `DatasetDict.save_to_disk` writes beside its split folders: `{"splits": ["train", "test"]}`."""
SAVE_FILES = ("dataset_info.json", "state.json")
"""What `Dataset.save_to_disk` writes beside its Arrow files."""


def is_save_to_disk(folder: Path) -> bool:
    """A `save_to_disk` folder, of a Dataset or of a DatasetDict (`dict_splits`); False for one
    that cannot be read (listing it says why)."""
    try:
        return all((folder / name).is_file() for name in SAVE_FILES) or dict_splits(folder) is not None
    except OSError:  # a folder without search permission: is_file() raises
        return False


def dict_splits(folder: Path) -> list[str] | None:
    """A DatasetDict folder's splits, in the order its `dataset_dict.json` lists them (each a
    `save_to_disk` folder below it); None for any other folder."""
    import json

    try:
        splits = json.loads((folder / DICT_FILE).read_text(encoding="utf-8"))["splits"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(splits, list) or not all(isinstance(s, str) and _plain_name(s) for s in splits):
        return None
    try:
        return splits if all(all((folder / s / n).is_file() for n in SAVE_FILES) for s in splits) else None
    except OSError:
        return None


def _plain_name(name: str) -> bool:
    """A split name that is one folder below (never `..`, `a/b` or hidden)."""
    return bool(name) and not name.startswith(".") and "/" not in name and os.sep not in name


def saved_folder_of(path: Path) -> Path | None:
    """The `save_to_disk` folder whose own metadata file `path` is (`dataset_dict.json` of a
    DatasetDict, `state.json` or `dataset_info.json` of a Dataset): passing it means its folder."""
    folder = path.parent
    if path.name == DICT_FILE:
        return folder if dict_splits(folder) is not None else None
    if path.name in SAVE_FILES:
        return folder if is_save_to_disk(folder) and dict_splits(folder) is None else None
    return None


def folder_shards(folder: Path, *, exclude: Path | None = None) -> Walked[tuple[Path, InputFormat]]:
    """The dataset shards of a folder with the kind of each, in walking order; empty for a
    folder of plain files (see the module docstring). Every kind is read: tar shards beside
    zips, a Parquet of pictures beside them; none is left out unsaid, and the subfolders not
    walked (unreadable, symlinked) come with them (`Walked`) for the run to name."""
    if is_save_to_disk(folder):
        return Walked([(path, InputFormat.HF) for path in _hf_files(folder)])
    found: list[tuple[Path, InputFormat]] = []
    picture: Path | None = None
    listing = list_tree(folder, exclude=exclude)
    for name in listing.files:
        if listing.run_output and os.sep not in name and is_run_shard(name):
            continue  # a caption run's own output shards: captions, never input
        path = folder / name
        kind = _shard_format(path.name)
        if kind in _FOLDER_SHARDS:
            found.append((path, kind))
        elif picture is None and is_media_name(path):
            picture = path
    found = shards_beside(found, picture, holder=f"{folder} holds")
    return Walked(found, listing=listing) if found else Walked()  # plain files: `discover` walks and says


def is_media_name(path: Path) -> bool:
    """Named as a picture or a video (what makes a folder a folder of pictures)."""
    return path.suffix.lower() in _MEDIA_EXTENSIONS


def shards_beside(
    found: list[tuple[Path, InputFormat]], picture: Path | None, *, holder: str
) -> list[tuple[Path, InputFormat]]:
    """The shards to read among those a folder holds (or a pattern matches), `picture` the first
    picture or video beside them: none beside pictures (tables are then metadata, PDFs skipped
    and counted), a `ConfigError` for archives beside pictures (`holder`, "DIR holds", says
    where); a Parquet beside archives or PDFs only when it holds pictures."""
    archives = [(path, kind) for path, kind in found if kind in _ARCHIVES]
    if picture is not None:
        if archives:
            raise ConfigError(_pictures_and_archives(holder, archives, picture))
        return []
    if not all(kind is InputFormat.PARQUET for _, kind in found):  # else a Parquet dataset (img2dataset's parquet layout)
        stems = {_stem(path.name) for path, _ in archives}
        found = [(path, kind) for path, kind in found if kind is not InputFormat.PARQUET or _holds_pictures(path, stems)]
    return found


def _pictures_and_archives(holder: str, archives: list[tuple[Path, InputFormat]], picture: Path) -> str:
    """Say which to caption: the archives of each kind found, or the pictures."""
    kinds = list(dict.fromkeys(kind for _, kind in archives))
    named = ", ".join(f"{_ARCHIVES[kind]} ({next(p for p, k in archives if k is kind).name})" for kind in kinds)
    flags = ", ".join(f"--input-format {kind.value}" for kind in kinds)
    return (
        f"{holder} both {named} and pictures or videos ({picture.name}); say which to caption: "
        f"{flags} or --input-format files."
    )


def _stem(name: str) -> str:
    """`00000` for `00000.tar.gz` and `00000.parquet`."""
    return name.split(".", 1)[0]


def _holds_pictures(table: Path, archive_stems: set[str]) -> bool:
    """A Parquet beside archives or PDFs is a shard of its own when it holds pictures (a
    declared `Image`/`Video` feature, a column named `image`, `jpg`, `video`, ...); else, and
    when it shares its name with an archive (img2dataset writes `00000.parquet` beside
    `00000.tar`), it is metadata."""
    if _stem(table.name) in archive_stems:
        return False
    from vlmcli.inputs.columns import IMAGE_COLUMNS, VIDEO_COLUMNS, column_folded, hf_image_columns

    try:
        import pyarrow.parquet as pq

        schema = pq.read_schema(table)
    except Exception:  # noqa: BLE001 - unreadable: read it as a shard, whose error says what is wrong
        return True
    folded = {column_folded(name) for name in schema.names}  # `Image`, `File Name`: as columns are matched
    return bool(hf_image_columns(schema.metadata)) or any(column_folded(n) in folded for n in (*IMAGE_COLUMNS, *VIDEO_COLUMNS))


def folder_format(folder: Path, *, exclude: Path | None = None) -> InputFormat:
    """The kind of a folder's shards (the first's, when it holds several: `folder_shards` lists
    each with its own); FILES for a folder of plain files."""
    if is_save_to_disk(folder):
        return InputFormat.HF
    shards = folder_shards(folder, exclude=exclude)
    return shards[0][1] if shards else InputFormat.FILES


def detect_format(path: Path, *, exclude: Path | None = None) -> InputFormat:
    return folder_format(path, exclude=exclude) if path.is_dir() else file_format(path)
