"""The interface every export format implements, its options and what it reports."""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from vlmcli.errors import ConfigError, OutputError
from vlmcli.exports.decoded import (
    REASONS,
    decoded_name,
    decoded_png,
    differences,
    turned_jpeg,
    upright_jpeg,
    upright_raw_jpeg,
)
from vlmcli.exports.images import PREVIEW, ImageReader, base_names, final_name
from vlmcli.exports.names import claim_name, taken_names
from vlmcli.media.heif import is_heif
from vlmcli.media.kinds import camera_raw_format
from vlmcli.media.raw_preview import preview_bytes
from vlmcli.exports.records import Joined, Record
from vlmcli.inputs.readings import ShardReadings
from vlmcli.output_files import make_folder


class ExportFormat(str, enum.Enum):
    TXT = "txt"
    IMAGEFOLDER = "imagefolder"
    WEBDATASET = "webdataset"
    PARQUET = "parquet"
    JSONL = "jsonl"


@dataclass(frozen=True)
class ExportOptions:
    shard_size: int = 1000
    """Records per tar (webdataset) or Parquet file."""
    beside: bool = False
    """txt: write each .txt beside its image instead of into OUT."""
    with_images: bool = False
    """txt: copy the images into OUT's mirror tree too."""
    force: bool = False
    """Write into a non-empty OUT (or over an existing file / .txt)."""
    readings: ShardReadings = field(default_factory=ShardReadings)
    """Dataset inputs: how the caption run read each shard (its notes, the flags given)."""

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ConfigError(f"--shard-size must be at least 1, not {self.shard_size}.")
        if self.beside and self.with_images:
            raise ConfigError("--beside writes next to the images; --with-images makes no sense with it.")


@dataclass
class ExportSummary:
    out: Path | None
    records: int = 0
    captions: int = 0
    missing_images: list[str] = field(default_factory=list)
    """Images whose file is gone or unreadable now: their records were skipped."""
    videos_left_out: int = 0
    """Video records a pictures-only format cannot hold (`Exporter.pictures_only`)."""
    files: list[Path] = field(default_factory=list)
    clashes: list[str] = field(default_factory=list)
    """Records left out because their output would be another's (`txt`: `a.jpg` and `a.png`)."""
    removed: list[Path] = field(default_factory=list)
    """Shards of an earlier export into the same folder that this one replaced (`--force`)."""
    decoded: int = 0
    """Pictures written as the run decoded them (a PNG), not byte for byte (`exports.decoded`)."""
    decoded_reasons: dict[str, int] = field(default_factory=dict)
    """reason (`decoded.REASONS`) -> how many of those pictures it applied to."""
    kept_as_json: dict[str, str] = field(default_factory=dict)
    """Tables (imagefolder, parquet): kept column (export name) -> why its values are held as their
    JSON text, not typed (`kept_table`: `integer and text values`)."""
    kept_notes: dict[str, str] = field(default_factory=dict)
    """Kept column (export name) -> how it was written otherwise than its input held it: a
    Parquet column typed from its values, not the type the run recorded (`kept_arrow`: why);
    binary values written as base64 text by the text formats."""

    def count_decoded(self, reasons: tuple[str, ...]) -> None:
        self.decoded += 1
        counts = {reason: self.decoded_reasons.get(reason, 0) + (reason in reasons) for reason in REASONS}
        self.decoded_reasons = {reason: n for reason, n in counts.items() if n}  # in `REASONS` order


Progress = Callable[[int], None]
"""Called with the number of records done so far."""


class Exporter(ABC):
    format: ClassVar[ExportFormat]
    out_is_file: ClassVar[bool] = False
    """OUT names one file (jsonl) rather than a folder."""
    pictures_only: ClassVar[bool] = False
    """The format declares its files as `datasets` `Image`s (imagefolder, parquet): a video
    there fails the dataset's loading, so video records are left out and counted."""
    raw_as_preview: ClassVar[bool] = False
    """A camera raw file goes in as its embedded preview JPEG (`<name>.jpg`): a trainer's
    Pillow would read a NEF as its 160x120 thumbnail, and the caption describes the preview
    (turned upright, re-encoded, when the raw's own EXIF turns it)."""
    writes_decoded: ClassVar[bool] = False
    """A picture a trainer's plain Pillow reading would see otherwise than the run did (alpha,
    16-bit, a colour profile: `exports.decoded`) goes in as the run's picture, a PNG."""
    reader_transposes: ClassVar[bool] = False
    """The format's reader applies EXIF orientation itself (`datasets` 2.19+): a JPEG whose
    only difference is its orientation keeps its bytes; else it is written upright."""

    def __init__(self, options: ExportOptions) -> None:
        self.options = options

    @abstractmethod
    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        """Write `joined` to `out`; records whose image is needed and unreadable are skipped and listed."""

    # -- shared helpers --------------------------------------------------------
    def prepare_folder(self, out: Path | None) -> Path:
        if out is None:
            raise ConfigError(f"--to {self.format.value} needs -o OUT (a folder).")
        if str(out) == "-":
            raise ConfigError(f"--to {self.format.value} writes a folder; -o - (standard output) is for --to jsonl.")
        if out.exists() and not out.is_dir():
            raise OutputError(f"-o {out} exists and is not a folder.")
        if out.exists() and any(out.iterdir()) and not self.options.force:
            raise OutputError(f"-o {out} is not empty; choose a new folder or pass --force.")
        return make_folder(out)

    @staticmethod
    def remove_stale(summary: ExportSummary, pattern: str) -> None:
        """Delete this format's shards that an earlier export left in the folder (`--force`)
        and this one did not write: a consumer globbing `*.parquet` would read every row twice."""
        written = {path.name for path in summary.files}
        for path in sorted(summary.out.iterdir()) if summary.out is not None else ():
            if path.is_file() and re.fullmatch(pattern, path.name) and path.name not in written:
                path.unlink()
                summary.removed.append(path)

    def names(self, joined: Joined) -> dict[str, str]:
        """record path -> its name in the export (a dataset item's: without extension, see `images`);
        where the format writes a file as a JPEG of it, also `path + PREVIEW` -> that JPEG's name."""
        return base_names(joined.records, previews=self.raw_as_preview or self.pictures_only)

    def with_bytes(
        self, joined: Joined, summary: ExportSummary, progress: Progress | None
    ) -> Iterator[tuple[Record, str, bytes]]:
        """(record, its name in the export, its image's bytes), read now; records whose image
        is gone or unreadable are skipped and listed."""
        names = self.names(joined)
        taken = taken_names(names.values())
        with closing(ImageReader(self.options.readings)) as reader:
            for record, name, data in self._read_each(joined, summary, progress, names, reader):
                yield self._as_decoded(record, name=name, data=data, summary=summary, taken=taken)

    def _read_each(
        self, joined: Joined, summary: ExportSummary, progress: Progress | None, names: dict[str, str], reader: ImageReader
    ) -> Iterator[tuple[Record, str, bytes]]:
        for done, record in enumerate(joined.records, start=1):
            try:
                if self.pictures_only and reader.is_video(record):
                    summary.videos_left_out += 1  # checked from its head: a clip is never read whole
                    continue
                data = reader.read(record)
            except OSError:
                summary.missing_images.append(record.path)
            else:
                name = final_name(record, names[record.path], data)
                as_jpeg = names.get(record.path + PREVIEW, f"{name}.jpg")  # its own name, kept free (`images`)
                if self.raw_as_preview and record.source is None and camera_raw_format(record.path) is not None:
                    preview = upright_raw_jpeg(data, record.path) or preview_bytes(data)
                    data, name = (preview, as_jpeg) if preview is not None else (data, name)
                elif self.pictures_only and is_heif(data[:64]):  # `datasets` decodes no HEIC without a plugin
                    data, name = heif_as_jpeg(data, name), as_jpeg
                yield record, name, data
            finally:
                if progress is not None:
                    progress(done)

    def _as_decoded(
        self, record: Record, *, name: str, data: bytes, summary: ExportSummary, taken: set[str]
    ) -> tuple[Record, str, bytes]:
        """(record, name, data), or with the run's picture as a PNG (and a `.png` name of its
        own, `names.claim_name`) where a trainer would read `data` otherwise (`exports.decoded`)."""
        if not self.writes_decoded:
            return record, name, data
        reasons = differences(data, name, transposes=self.reader_transposes)
        if turned_jpeg(data, reasons):  # a portrait phone photo: upright, still a JPEG
            jpeg = upright_jpeg(data, name)
            if jpeg is not None:
                summary.count_decoded(reasons)
                return record, name, jpeg
        png = decoded_png(data, name) if reasons else None
        if png is None:
            return record, name, data
        summary.count_decoded(reasons)
        wanted = decoded_name(name, item=record.source is not None)
        return record, (name if wanted == name else claim_name(wanted, taken)), png

    @staticmethod
    def write_image(data: bytes, dst: Path) -> None:
        make_folder(dst.parent)
        dst.write_bytes(data)  # byte for byte


def count(summary: ExportSummary, record: Record) -> None:
    summary.records += 1
    summary.captions += sum(1 for c in record.captions.values() if c is not None)


def heif_as_jpeg(data: bytes, name: str) -> bytes:
    """An iPhone's HEIC picture as a JPEG (quality 95) of the upright, sRGB picture the run
    captioned: loaders read it without a HEIF plugin (one such row stopped a whole dataset)."""
    import io

    from vlmcli.media.images import decode_image

    buffer = io.BytesIO()
    decode_image(data, name, max_pixels=None).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()
