"""txt: one caption file per image, as kohya-style trainers read them.

In OUT's mirror tree (`OUT/<folder>/<name>.txt`, the images too with --with-images), or
with --beside next to each image. The first caption column goes to `<name>.txt`; with
several prompts, the others to `<name>.<column>.txt`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from vlmcli.errors import ConfigError, OutputError
from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.records import Joined, Record


class TxtExporter(Exporter):
    format = ExportFormat.TXT

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        if self.options.beside:
            if out is not None:
                raise ConfigError("--beside writes next to the images; drop -o.")
            if any(r.source is not None for r in joined.records):
                raise ConfigError("--beside needs image files; these captions are of dataset items: use -o DIR.")
            return self._write(joined, None, progress)
        return self._write(joined, self.prepare_folder(out), progress)

    def _write(self, joined: Joined, out: Path | None, progress: Progress | None) -> ExportSummary:
        summary = ExportSummary(out=out)
        if out is not None and self.options.with_images:
            named = ((record, name) for record, name, data in self._copied(joined, out, summary, progress))
        else:
            names = self.names(joined)
            named = ((record, names[record.path]) for record in self._present(joined, summary))
        first, *others = list(joined.columns)
        for done, (record, name) in enumerate(named, start=1):
            image = Path(record.path) if out is None else out / name
            for column in (first, *others):
                caption = record.captions[column]
                if caption is None:
                    continue
                suffix = ".txt" if column == first else f".{column}.txt"
                target = image.with_name(image.stem + suffix) if image.suffix else image.with_name(image.name + suffix)
                self._write_text(target, caption)
                summary.files.append(target)
            count(summary, record)
            if progress is not None and not self.options.with_images:
                progress(done)
        return summary

    @staticmethod
    def _present(joined: Joined, summary: ExportSummary) -> Iterator[Record]:
        """The records whose image file is still there (dataset items: their shard is read by
        other formats only); a file that has gone is skipped and listed, as when images are
        copied, so no caption file is left for a picture nobody has."""
        for record in joined.records:
            if record.source is None and not os.path.isfile(record.path):
                summary.missing_images.append(record.path)
                continue
            yield record

    def _copied(self, joined: Joined, out: Path, summary: ExportSummary, progress: Progress | None):  # noqa: ANN202
        for record, name, data in self.with_bytes(joined, summary, progress):
            self.write_image(data, out / name)
            yield record, name, data

    def _write_text(self, target: Path, caption: str) -> None:
        if self.options.beside and target.exists() and not self.options.force:
            raise OutputError(f"{target} exists; pass --force to overwrite caption files beside the images.")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(caption + "\n", encoding="utf-8")
