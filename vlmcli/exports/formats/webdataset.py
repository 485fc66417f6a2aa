"""webdataset: new tar shards `OUT/00000.tar`, ... (`--shard-size` records each).

Each image is one key: `<key>.<ext>` (the image, byte for byte), `<key>.txt` (the first
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
from pathlib import Path

from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.images import media_extension
from vlmcli.exports.kept import kept_fields
from vlmcli.exports.names import extension, webdataset_keys
from vlmcli.exports.records import Joined


def _member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


class WebdatasetExporter(Exporter):
    format = ExportFormat.WEBDATASET
    raw_as_preview = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        folder = self.prepare_folder(out)
        summary = ExportSummary(out=folder)
        names = self.names(joined)  # record path -> name; a dataset item's has no extension (no dot to strip)
        keys = webdataset_keys([names[r.path] for r in joined.records])
        first = next(iter(joined.columns), None)
        tar: tarfile.TarFile | None = None
        in_shard = 0
        try:
            for record, name, data in self.with_bytes(joined, summary, progress):
                if tar is None or in_shard == self.options.shard_size:
                    if tar is not None:
                        tar.close()
                    path = folder / f"{len(summary.files):05d}.tar"
                    tar, in_shard = tarfile.open(path, "w", format=tarfile.PAX_FORMAT), 0
                    summary.files.append(path)
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
        finally:
            if tar is not None:
                tar.close()
        self.remove_stale(summary, r"\d{5}\.tar")
        return summary
