"""imagefolder: the images copied into OUT (the run's decoded picture, a PNG, where `datasets`
would read one otherwise: `exports.decoded`) plus `metadata.jsonl` (`file_name`, one column
per prompt, then a dataset run's kept columns typed as a table's: `exports.kept`), which
`datasets.load_dataset("imagefolder", data_dir=OUT)` loads as an `image` feature with the
other columns. Videos (`caption-dir --videos` rows) are left out and counted: the loader
would take them for pictures and fail (webdataset and jsonl keep them)."""

from __future__ import annotations

import json
from pathlib import Path

from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.kept import column_types, table_fields
from vlmcli.exports.records import Joined
from vlmcli.output_files import written_whole


class ImagefolderExporter(Exporter):
    format = ExportFormat.IMAGEFOLDER
    pictures_only = True
    raw_as_preview = True
    writes_decoded = True
    reader_transposes = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        folder = self.prepare_folder(out)
        summary = ExportSummary(out=folder)
        metadata = folder / "metadata.jsonl"
        types = column_types((r.extra for r in joined.records), joined.kept)
        with written_whole(metadata) as partial, open(partial, "w", encoding="utf-8") as lines:  # never cut off
            for record, name, data in self.with_bytes(joined, summary, progress):
                self.write_image(data, folder / name)
                line = {"file_name": name, **record.captions, **table_fields(record.extra, joined.kept, types)}
                lines.write(json.dumps(line, ensure_ascii=False) + "\n")
                count(summary, record)
        summary.files.append(metadata)
        return summary
