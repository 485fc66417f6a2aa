"""txt: one caption file per image, as kohya-style trainers read them.

In OUT's mirror tree (`OUT/<folder>/<name>.txt`, the images too with --with-images), or
with --beside next to each image. The first caption column goes to `<name>.txt`; with
several prompts, the others to `<name>.<column>.txt`. Images whose caption file would be the
same (`a.jpg`, `a.png`) are left out and named; --beside checks for existing caption files
before writing any.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from vlmcli.errors import ConfigError, OutputError
from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.records import Joined, Record
from vlmcli.output_files import make_folder


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
        joined = self._without_clashes(joined, out, summary)
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
                target = _caption_file(image, "" if column == first else f".{column}")
                self._write_text(target, caption)
                summary.files.append(target)
            count(summary, record)
            if progress is not None and not self.options.with_images:
                progress(done)
        return summary

    def _without_clashes(self, joined: Joined, out: Path | None, summary: ExportSummary) -> Joined:
        """`joined` less the images whose caption file another image's would be (`a.jpg` and
        `a.png` both -> `a.txt`: one caption was lost, and --with-images paired both pictures
        with it); each is named in `summary.clashes`. With --beside, an existing caption file
        is refused before anything is written, not halfway."""
        names = self.names(joined)
        target = {r.path: _caption_file(Path(r.path) if out is None else out / names[r.path], "") for r in joined.records}
        sharing: dict[Path, list[str]] = {}
        for path, file in target.items():
            sharing.setdefault(file, []).append(path)
        clashing: set[str] = set()
        for file, group in ((f, g) for f, g in sharing.items() if len(g) > 1):
            clashing.update(group)
            summary.clashes.append(f"{', '.join(group)}: all would be captioned in {file}; rename all but one")
        kept = [r for r in joined.records if r.path not in clashing]
        if self.options.beside and not self.options.force:
            existing = next((target[r.path] for r in kept if target[r.path].exists()), None)
            if existing is not None:
                raise OutputError(f"{existing} exists; pass --force to overwrite caption files beside the images.")
        return dataclasses.replace(joined, records=kept)

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

    @staticmethod
    def _write_text(target: Path, caption: str) -> None:
        make_folder(target.parent)
        target.write_text(caption + "\n", encoding="utf-8")


def _caption_file(image: Path, column: str) -> Path:
    """`photo.jpg` -> `photo.txt` (`photo.<column>.txt` for another caption column)."""
    return image.with_name((image.stem if image.suffix else image.name) + column + ".txt")
