"""webdataset: new tar shards `OUT/00000.tar`, ... (`--shard-size` records each).

Each image is one key: `<key>.<ext>` (the image, byte for byte; `<key>.png`, the run's decoded
picture, where a decoder would read it otherwise, upright too; a turned JPEG upright as a
JPEG: `exports.decoded`), `<key>.txt` (the first
caption column) and `<key>.json` (the image's relative path, size and sha256, a dataset
item's source and source_key, every caption column, then its kept columns: `exports.kept`).
`webdataset.WebDataset("OUT/{00000..00002}.tar")` reads them; so does any tar reader.
Members are written with fixed owner, mode and mtime 0, so the same results give the same
bytes.
"""

from __future__ import annotations

import io
import json
import tarfile
from contextlib import ExitStack
from pathlib import Path

from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.kept_arrow import binary_notes
from vlmcli.exports.images import media_extension
from vlmcli.exports.kept import kept_fields
from vlmcli.exports.names import extension, webdataset_keys
from vlmcli.exports.records import Joined
from vlmcli.output_files import written_whole


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class WebdatasetExporter(Exporter):
    format = ExportFormat.WEBDATASET
    raw_as_preview = True
    writes_decoded = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        folder = self.prepare_folder(out)
        summary = ExportSummary(out=folder)
        summary.kept_notes = binary_notes(joined.kept, joined.kept_types)  # written as base64 text
        names = self.names(joined)  # record path -> name; a dataset item's has no extension (no dot to strip)
        keys = webdataset_keys([names[r.path] for r in joined.records])
        first = next(iter(joined.columns), None)
        shard = _Shards(folder, summary)
        in_shard = 0
        with shard:
            for record, name, data in self.with_bytes(joined, summary, progress):
                if shard.tar is None or in_shard == self.options.shard_size:
                    tar, in_shard = shard.next(), 0
                key = keys[names[record.path]]
                _member(tar, f"{key}.{extension(name) or media_extension(data)}", data)  # IMG_0001: by its bytes
                if first is not None and record.captions[first] is not None:
                    _member(tar, f"{key}.txt", record.captions[first].encode("utf-8"))
                meta = {"path": name, "width": record.width, "height": record.height, "sha256": record.key}
                if record.source is not None:
                    meta |= {"source": record.source, "source_key": record.source_key}
                meta |= record.captions | kept_fields(record.extra, joined.kept)
                _member(tar, f"{key}.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))
                in_shard += 1
                count(summary, record)
        self.remove_stale(summary, r"\d{5}\.tar")
        return summary


class _Shards:
    """The tars of one export, each written under a hidden name (`output_files.written_whole`)
    and renamed `NNNNN.tar` when closed: a full disk or Ctrl-C leaves no cut-off shard that a
    trainer would read (the shards closed before it stay whole)."""

    def __init__(self, folder: Path, summary: ExportSummary) -> None:
        self._folder, self._summary = folder, summary
        self._stack = ExitStack()
        self.tar: tarfile.TarFile | None = None

    def next(self) -> tarfile.TarFile:
        """The open shard closed (and named), the next one opened."""
        self._stack.close()
        path = self._folder / f"{len(self._summary.files):05d}.tar"
        partial = self._stack.enter_context(written_whole(path))
        self.tar = self._stack.enter_context(tarfile.open(partial, "w", format=tarfile.PAX_FORMAT))
        self._summary.files.append(path)
        return self.tar

    def __enter__(self) -> "_Shards":
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.__exit__(*exc)
