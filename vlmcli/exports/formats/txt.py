"""txt: one caption file per image, as kohya-style trainers read them.

In OUT's mirror tree (`OUT/<folder>/<name>.txt`, the images too with --with-images), or
with --beside next to each image. The first caption column goes to `<name>.txt`; with
several prompts, the others to `<name>.<column>.txt`. In OUT, images whose caption file would
be the same, ignoring case (`a.jpg` and `a.png`, `A.jpg` and `a.jpg`) are named as every
format names records (`names.distinct`): the first keeps `a.txt`, the next gets `a_1.txt`
(and with --with-images is copied as `a_1.png`). --beside cannot rename the images: those are
left out and named, and existing caption files are refused before any is written.
A copied image a kohya-style loader would read otherwise than the run did (alpha, 16-bit, a
colour profile, EXIF orientation: `exports.decoded`) is the run's picture, `<name>.png`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from vlmcli.errors import ConfigError, OutputError
from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.names import distinct, folded
from vlmcli.exports.records import Joined, Record
from vlmcli.output_files import make_folder


class TxtExporter(Exporter):
    format = ExportFormat.TXT
    writes_decoded = True

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
        if out is None:
            joined = self._without_clashes(joined, summary)
        stems = self._stems(joined)
        if out is not None and self.options.with_images:
            present = self._copied(joined, out, stems, summary, progress)
        else:
            present = self._present(joined, summary)
        first, *others = list(joined.columns)
        for done, record in enumerate(present, start=1):
            base = Path(record.path).with_name(_stem(Path(record.path).name)) if out is None else out / stems[record.path]
            for column in (first, *others):
                caption = record.captions[column]
                if caption is None:
                    continue
                target = base.with_name(base.name + ("" if column == first else f".{column}") + ".txt")
                self._write_text(target, caption)
                summary.files.append(target)
            count(summary, record)
            if progress is not None and not self.options.with_images:
                progress(done)
        return summary

    def _stems(self, joined: Joined) -> dict[str, str]:
        """record path -> its caption file's name less `.txt`, one of its own ignoring case:
        the export's name for it without its extension (`a.png` -> `a`; `a_1` when `a.jpg` has `a`)."""
        names = self.names(joined)
        files = {r.path: (_stem(names[r.path]) if r.source is None else names[r.path]) + ".txt" for r in joined.records}
        return {path: name.removesuffix(".txt") for path, name in distinct(files).items()}

    def _without_clashes(self, joined: Joined, summary: ExportSummary) -> Joined:
        """--beside: `joined` less the images whose caption file another image's would be,
        ignoring case (`a.jpg` and `a.png` both -> `a.txt`; `A.jpg` and `a.png` on macOS): the
        images cannot be renamed; each is named in `summary.clashes`. An existing caption file
        is refused before anything is written, not halfway."""
        target = {r.path: _caption_file(Path(r.path), "") for r in joined.records}
        sharing: dict[str, list[str]] = {}
        for path, file in target.items():
            sharing.setdefault(folded(str(file)), []).append(path)
        clashing: set[str] = set()
        for group in (g for g in sharing.values() if len(g) > 1):
            clashing.update(group)
            summary.clashes.append(f"{', '.join(group)}: all would be captioned in {target[group[0]]}; rename all but one")
        kept = [r for r in joined.records if r.path not in clashing]
        if not self.options.force:
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

    def _copied(  # noqa: ANN202 - the records copied
        self, joined: Joined, out: Path, stems: dict[str, str], summary: ExportSummary, progress: Progress | None
    ):
        """The records whose image was copied, each under its caption file's stem + its extension."""
        for record, name, data in self.with_bytes(joined, summary, progress):
            self.write_image(data, out / (stems[record.path] + Path(name).suffix))
            yield record

    @staticmethod
    def _write_text(target: Path, caption: str) -> None:
        make_folder(target.parent)
        target.write_text(caption + "\n", encoding="utf-8")


def _stem(name: str) -> str:
    """`a/photo.jpg` -> `a/photo`, as a caption file is named after its image."""
    path = Path(name)
    return str(path.with_name(path.stem)) if path.suffix else name


def _caption_file(image: Path, column: str) -> Path:
    """`photo.jpg` -> `photo.txt` (`photo.<column>.txt` for another caption column)."""
    return image.with_name((image.stem if image.suffix else image.name) + column + ".txt")
