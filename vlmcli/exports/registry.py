"""Export formats by name: the one place a `--to` value becomes an `Exporter` class."""

from __future__ import annotations

import importlib

from vlmcli.errors import ConfigError
from vlmcli.exports.formats.base import ExportFormat, Exporter

EXPORTERS: dict[ExportFormat, tuple[str, str]] = {
    ExportFormat.TXT: ("vlmcli.exports.formats.txt", "TxtExporter"),
    ExportFormat.IMAGEFOLDER: ("vlmcli.exports.formats.imagefolder", "ImagefolderExporter"),
    ExportFormat.WEBDATASET: ("vlmcli.exports.formats.webdataset", "WebdatasetExporter"),
    ExportFormat.PARQUET: ("vlmcli.exports.formats.parquet", "ParquetExporter"),
    ExportFormat.JSONL: ("vlmcli.exports.formats.jsonl", "JsonlExporter"),
}


def exporter_class(fmt: ExportFormat | str) -> type[Exporter]:
    try:
        module, name = EXPORTERS[ExportFormat(fmt)]
    except (ValueError, KeyError):
        choices = ", ".join(f.value for f in ExportFormat)
        raise ConfigError(f"--to must be one of {choices}, not {fmt!r}.") from None
    return getattr(importlib.import_module(module), name)
