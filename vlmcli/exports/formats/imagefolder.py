"""imagefolder: the images copied into OUT (the run's decoded picture, a PNG, where `datasets`
would read one otherwise: `exports.decoded`) plus `metadata.jsonl` (`file_name`, one column
per prompt, then a dataset run's kept columns, one type each: lists, objects, numbers as
themselves, `exports.kept_table`), which
`datasets.load_dataset("imagefolder", data_dir=OUT)` loads as an `image` feature with the
other columns. Videos (`caption-dir --videos` rows) are left out and counted: the loader
would take them for pictures and fail (webdataset and jsonl keep them).

`datasets` types metadata.jsonl's columns from its first 10 MiB and fails on a later value of
another type: a column (or a list's items, an object's field) null or empty in every record of
the first few MiB would be typed null, and the load would fail where its first value came. The
record that first gives such a place a value is written first instead (`types_first`): records
are in path order but for those few, and exports small enough never move one."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.kept_arrow import binary_notes
from vlmcli.exports.kept_table import TableColumn, table_columns, table_fields, typed_paths, typing_paths
from vlmcli.exports.records import Joined, Record
from vlmcli.output_files import written_whole

TYPE_WINDOW = 4 << 20
"""Bytes of metadata.jsonl within which every type is seen (`datasets` reads 10 MiB; lines are
estimated from the records' full paths, longer than their names in the export)."""


class ImagefolderExporter(Exporter):
    format = ExportFormat.IMAGEFOLDER
    pictures_only = True
    raw_as_preview = True
    writes_decoded = True
    reader_transposes = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        folder = self.prepare_folder(out)
        summary = ExportSummary(out=folder)
        summary.kept_notes = binary_notes(joined.kept, joined.kept_types)  # written as base64 text
        metadata = folder / "metadata.jsonl"
        kept = table_columns((r.extra for r in joined.records), joined.kept, opens_file_fields=True)
        summary.kept_as_json = {name: column.mixed for name, column in kept.items() if column.mixed is not None}
        joined = dataclasses.replace(joined, records=types_first(joined, kept))
        with written_whole(metadata) as partial, open(partial, "w", encoding="utf-8") as lines:  # never cut off
            for record, name, data in self.with_bytes(joined, summary, progress):
                self.write_image(data, folder / name)
                line = {"file_name": name, **record.captions, **table_fields(record.extra, joined.kept, kept)}
                lines.write(json.dumps(line, ensure_ascii=False) + "\n")
                count(summary, record)
        summary.files.append(metadata)
        return summary


def types_first(joined: Joined, kept: dict[str, TableColumn]) -> list[Record]:
    """`joined.records`, but for those that first give a kept column (a list's items, an
    object's field) a value past the first `TYPE_WINDOW` bytes of metadata: those go first."""
    records, window = joined.records, TYPE_WINDOW
    wanted, size, first = typing_paths(kept), 0, []
    for i, record in enumerate(records):
        if not wanted:
            break
        found = typed_paths(record.extra, joined.kept, kept) & wanted
        if found and size > window:
            first.append(i)
        wanted -= found
        line = {"file_name": record.path, **record.captions, **table_fields(record.extra, joined.kept, kept)}
        size += len(json.dumps(line, ensure_ascii=False).encode("utf-8")) + 1
    if not first:
        return records
    moved = set(first)
    return [records[i] for i in first] + [r for i, r in enumerate(records) if i not in moved]
