"""imagefolder: the images copied into OUT plus `metadata.jsonl` (`file_name` + one column
per prompt), which `datasets.load_dataset("imagefolder", data_dir=OUT)` loads as an `image`
feature with the caption columns. Videos (`caption-dir --videos` rows) are left out and
counted: the loader would take them for pictures and fail (webdataset and jsonl keep them)."""

from __future__ import annotations

import json
from pathlib import Path

from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.records import Joined


class ImagefolderExporter(Exporter):
    format = ExportFormat.IMAGEFOLDER
    pictures_only = True
    raw_as_preview = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        folder = self.prepare_folder(out)
        summary = ExportSummary(out=folder)
        metadata = folder / "metadata.jsonl"
        with open(metadata, "w", encoding="utf-8") as lines:
            for record, name, data in self.with_bytes(joined, summary, progress):
                self.write_image(data, folder / name)
                lines.write(json.dumps({"file_name": name, **record.captions}, ensure_ascii=False) + "\n")
                count(summary, record)
        summary.files.append(metadata)
        return summary
