"""Sinks by output format: the one place a format name becomes a class.

Each sink module is imported only when its format is used, so `vlm --help` stays light
and a missing optional library fails only the format that needs it.
"""

from __future__ import annotations

import importlib

from vlmcli.errors import ConfigError
from vlmcli.sinks.base import OutputFormat, Sink, SinkConfig

SINKS: dict[OutputFormat, tuple[str, str]] = {
    OutputFormat.PARQUET: ("vlmcli.sinks.parquet", "ParquetSink"),
    OutputFormat.JSONL: ("vlmcli.sinks.jsonl", "JsonlSink"),
    OutputFormat.TXT: ("vlmcli.sinks.sidecar", "SidecarSink"),
}


def sink_class(fmt: OutputFormat | str) -> type[Sink]:
    try:
        module, name = SINKS[OutputFormat(fmt)]
    except (ValueError, KeyError):
        choices = ", ".join(f.value for f in OutputFormat)
        raise ConfigError(f"Output format must be one of {choices}, not {fmt!r}.") from None
    return getattr(importlib.import_module(module), name)


def make_sink(fmt: OutputFormat | str, config: SinkConfig) -> Sink:
    return sink_class(fmt)(config)
