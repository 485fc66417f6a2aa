"""How many samples a dataset shard holds, from its metadata: no image is read or decoded.

    parquet     the footer's row count (`num_rows`)
    hf          the Arrow stream's record batch lengths (memory-mapped: image bytes are not touched)
    csv         its rows, read as text (the pictures it names are not opened)
    zip         its picture members, from the archive's index (a PDF member: its pages, read)
    json        its records (parsed; the pictures they name are not opened)
    webdataset  the keys of the tar's member names, grouped as the reader groups them (a plain
                tar is listed by seeking from header to header; a compressed one has to be
                decompressed to be listed); a key of pictures only: each picture; a key whose
                only media is a PDF: its pages, read. Beside it, the pictures and clips the
                run leaves out beside each key's captioned one (`left_out`, `tar_fields`)

`--dry-run` reports these beside the plan it makes by probing every item. A shard whose
metadata cannot be read counts as None (the probing reports what is wrong with it).
"""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.expand import ShardRef
from vlmcli.inputs.formats import InputFormat
from vlmcli.inputs.shard_labels import shard_labels

SHARDS_NAMED = 4
"""Shards named one by one in the text report (the rest are summed)."""


def parquet_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def arrow_rows(path: Path) -> int:
    import pyarrow as pa

    with pa.memory_map(str(path)) as source:
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def csv_rows(path: Path) -> int:
    from vlmcli.inputs.table_shard import open_csv_table

    return sum(batch.num_rows for batch in open_csv_table(path, None))


def zip_pictures(path: Path) -> int:
    """The archive's items by its index; an archive without one (a download cut short) counts
    the members the run reads from their local headers before the cut (`zip_salvage`)."""
    import zipfile

    from vlmcli.inputs.zip_shard import media_members

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        return _salvaged_pictures(path, exc)
    with archive:
        return sum(_zip_member_items(archive.read(info), info.filename) if _is_pdf(info.filename) else 1
                   for info in media_members(archive))  # fmt: skip


def _salvaged_pictures(path: Path, why: BaseException) -> int:
    """The items of the members read before the damage (an InputError when none is a zip header)."""
    from vlmcli.errors import InputError
    from vlmcli.inputs.zip_salvage import LOCAL, salvage
    from vlmcli.inputs.zip_shard import is_media_name

    with open(path, "rb") as handle:
        if handle.read(4) != LOCAL:
            raise InputError(f"{path}: not a zip archive.")
    total = 0
    try:
        for member in salvage(path, why):
            if is_media_name(member.name):
                total += _zip_member_items(member.data, member.name) if _is_pdf(member.name) else 1
    except InputError:
        pass  # the cut: the run reads these, then reports the shard as damaged
    return total


def _is_pdf(name: str) -> bool:
    return name.lower().endswith(".pdf")


def _zip_member_items(data: bytes | None, name: str) -> int:
    """A PDF member's items: its pages, or one error item when it will not open."""
    from vlmcli.errors import InputError
    from vlmcli.media.pdf_pages import page_count

    try:
        return page_count(data, name) if data is not None else 1
    except (InputError, RuntimeError, OSError, ValueError):
        return 1


def pdf_page_count(path: Path) -> int:
    from vlmcli.media.pdf_pages import page_count

    return page_count(path.read_bytes(), str(path))


def json_records(path: Path) -> int:
    from vlmcli.inputs.json_shard import records

    return sum(1 for _ in records(path))


def tar_keys(path: Path, *, image_column: str | None = None) -> int:
    """Items by the member names, grouped as the reader groups them (`tar_members`: a key, its
    members' last copies where a name is stored twice); a key of pictures only counts each
    (`tar_fields`), a key whose chosen media is a `pdf` field its pages (that member is read)."""
    return tar_census(path, image_column=image_column)[0]


def tar_census(path: Path, *, image_column: str | None = None) -> tuple[int, int]:
    """(items, pictures and clips left out beside their keys' captioned ones), as `tar_items`
    reads the shard with that --image-column."""
    from vlmcli.inputs.tar_fields import plan_key, split_member
    from vlmcli.inputs.tar_members import compression, group_members, is_counted, key_names, open_tar, reads_by_key

    total = left_out = 0
    seen: set[str] = set()
    with open_tar(path) as tar:  # random access: member headers only, data is skipped
        members = [member for member in tar.getmembers() if is_counted(member)]
        names = [m.name for m in members]
        listed = key_names(names)
        for indices in group_members(names, by_key=reads_by_key(names, compressed=compression(path) != "")):
            key = split_member(names[indices[0]])[0]
            group = list(dict.fromkeys(names[i] for i in indices))
            plan = plan_key(group, listed[key], image_column=image_column)  # the order matters to no count
            left_out += len(plan.left_out)
            if plan.split:
                total += len(group)
                continue
            document = key not in seen and plan.document
            chosen = next((members[i] for i in indices if members[i].name == plan.chosen), None)
            total += _pdf_pages(tar, chosen, path) if document and chosen is not None else 1
            seen.add(key)
    return total, left_out


def _pdf_pages(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> int:
    """A key's PDF member's pages, read (one error item when it will not open)."""
    from vlmcli.errors import InputError
    from vlmcli.inputs.tar_members import member_bytes
    from vlmcli.media.pdf_pages import page_count

    try:
        data = member_bytes(tar, member, path)
        return page_count(data, member.name) if isinstance(data, bytes) else 1
    except (InputError, RuntimeError, OSError, ValueError, tarfile.TarError):  # unreadable: one error item
        return 1


COUNTERS: dict[InputFormat, Callable[[Path], int]] = {
    InputFormat.PARQUET: parquet_rows,
    InputFormat.HF: arrow_rows,
    InputFormat.WEBDATASET: tar_keys,  # shard_count takes its census (`left_out` too)
    InputFormat.CSV: csv_rows,
    InputFormat.ZIP: zip_pictures,
    InputFormat.JSON: json_records,
    InputFormat.PDF: pdf_page_count,
}


@dataclass(frozen=True)
class ShardCount:
    source: str
    format: InputFormat
    samples: int | None
    """Samples by the shard's metadata; None when it cannot be read."""
    left_out: int = 0
    """A tar's pictures and clips the run leaves out beside their keys' captioned ones (`tar_fields`)."""


def shard_count(ref: ShardRef, *, image_column: str | None = None) -> ShardCount:
    """`image_column`: the run's --image-column (a tar's keys are read by it)."""
    left_out = 0
    try:
        if ref.format is InputFormat.WEBDATASET:
            samples, left_out = tar_census(ref.path, image_column=image_column)
        else:
            samples = COUNTERS[ref.format](ref.path)
    except Exception:  # noqa: BLE001 - unreadable metadata: the probing says why
        samples = None
    return ShardCount(source=ref.source, format=ref.format, samples=samples, left_out=left_out)


@dataclass(frozen=True)
class DatasetCounts:
    """The shards of a dataset run and their sample counts (`--dry-run`)."""

    shards: tuple[ShardCount, ...]
    damaged: tuple[str, ...] = field(default=())
    """Shards that could not be read to the end while probing: the message of each."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "shards", tuple(self.shards))
        object.__setattr__(self, "damaged", tuple(self.damaged))

    @classmethod
    def of(
        cls, refs: Sequence[ShardRef], *, damaged: Sequence[str] = (), columns: ColumnChoice | None = None
    ) -> "DatasetCounts":
        """`columns`: the run's (a tar's keys are read by its --image-column)."""
        image_column = columns.image_column if columns is not None else None
        return cls(shards=tuple(shard_count(ref, image_column=image_column) for ref in refs), damaged=tuple(damaged))

    @property
    def samples(self) -> int | None:
        """All samples by the metadata; None when a shard's metadata could not be read."""
        counts = [s.samples for s in self.shards]
        return None if None in counts else sum(c for c in counts if c is not None)

    @property
    def left_out(self) -> int:
        return sum(s.left_out for s in self.shards)

    def to_dict(self) -> dict[str, Any]:
        return {
            "shards": [
                {"source": s.source, "format": s.format.value, "samples": s.samples, "left_out": s.left_out}
                for s in self.shards
            ],
            "samples": self.samples,
            "left_out": self.left_out,
            "damaged": list(self.damaged),
        }

    def text(self) -> str:
        kinds = sorted({s.format.value for s in self.shards})
        total = "unknown" if self.samples is None else f"{self.samples}"
        labels = shard_labels([s.source for s in self.shards])  # a DatasetDict's splits: train/data-00000-of-00001.arrow
        named = ", ".join(self._named(s, label) for s, label in zip(self.shards[:SHARDS_NAMED], labels))
        more = f", ... {len(self.shards) - SHARDS_NAMED} more" if len(self.shards) > SHARDS_NAMED else ""
        plural = "s" if len(self.shards) != 1 else ""
        line = f"Dataset: {len(self.shards)} {'/'.join(kinds)} shard{plural}, {total} samples by their metadata ({named}{more})"
        if self.left_out:
            line += f"\n{left_out_line(self.left_out, [s for s in self.shards if s.left_out])}"
        for message in self.damaged:
            line += f"\nDamaged shard: {message}"
        return line

    def _named(self, shard: ShardCount, label: str) -> str:
        """`00001.tar: 3`; a damaged shard's count is what is read before the damage."""
        count = "?" if shard.samples is None else f"{shard.samples}"
        if shard.samples is not None and any(m.startswith(f"{shard.source}:") for m in self.damaged):
            count += " before the damage"
        return f"{label}: {count}"


def left_out_line(count: int, shards: Sequence[ShardCount]) -> str:
    """The dry run's line for a tar's pictures and clips left out beside their keys' captioned ones."""
    named = ", ".join(f"{Path(s.source).name}: {s.left_out}" for s in shards[:SHARDS_NAMED])
    more = f", ... {len(shards) - SHARDS_NAMED} more" if len(shards) > SHARDS_NAMED else ""
    return (
        f"Not captioned: {count} picture{'s' if count != 1 else ''} or clip{'s' if count != 1 else ''} beside "
        f"the captioned field of their WebDataset keys ({named}{more}); "
        "--image-column FIELD names the field to caption"
    )
