"""jsonl: one JSON object per image, `{"image_path": ..., "caption": ..., "width", "height"}`
(one key per caption column; a dataset item's `source`, `source_key` and kept columns,
`exports.kept`), in the one file OUT, or on standard output with `-o -`. Paths are absolute, valid UTF-8; a name that is not
UTF-8 also has `image_path_bytes` (base64 of its bytes), as vlmcli's other JSON names files.
An image whose file has gone since the run is skipped and named, as the other formats skip
it (the line would name nothing)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from vlmcli.errors import ConfigError, OutputError
from vlmcli.output_files import make_folder, written_whole
from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.kept_arrow import binary_notes
from vlmcli.exports.kept import kept_fields
from vlmcli.exports.records import Joined
from vlmcli.sinks.jsonl import path_fields


class JsonlExporter(Exporter):
    format = ExportFormat.JSONL
    out_is_file = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        if out is None:
            raise ConfigError("--to jsonl needs -o FILE.jsonl (or -o - for standard output).")
        to_stdout = str(out) == STDOUT
        if out.is_dir() and not to_stdout:
            raise OutputError(f"-o {out} is a folder; --to jsonl writes one file.")
        if out.exists() and not self.options.force and not to_stdout:
            raise OutputError(f"-o {out} exists; choose a new name or pass --force.")
        if not to_stdout:
            make_folder(out.parent)
        summary = ExportSummary(out=out, files=[] if to_stdout else [out])
        summary.kept_notes = binary_notes(joined.kept, joined.kept_types)  # written as base64 text
        with _opened(out) as lines:
            for done, record in enumerate(joined.records, start=1):
                if record.source is None and not os.path.lexists(record.path):
                    summary.missing_images.append(record.path)
                    continue
                named = path_fields(record.path)
                item = {"image_path": named["path"], **record.captions}
                if "path_bytes" in named:
                    item["image_path_bytes"] = named["path_bytes"]
                item |= {"width": record.width, "height": record.height}
                if record.source is not None:
                    item |= {"source": record.source, "source_key": record.source_key}
                item |= kept_fields(record.extra, joined.kept)
                lines.write(json.dumps(item, ensure_ascii=False) + "\n")
                count(summary, record)
                if progress is not None:
                    progress(done)
        return summary


STDOUT = "-"


@contextmanager
def _opened(out: Path) -> Iterator[TextIO]:
    """The file `out`, or standard output for `-o -` (left open)."""
    if str(out) == STDOUT:
        yield sys.stdout
        sys.stdout.flush()
        return
    with written_whole(out) as partial, open(partial, "w", encoding="utf-8") as lines:
        yield lines  # a failed export leaves no cut-off file (nor an empty one) under OUT
