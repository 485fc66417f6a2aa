"""Where caption rows go: Parquet shards, JSON-lines shards, or `.txt` files beside images.

One interface (`base.Sink`), one class per format, picked by `OutputFormat` through
`registry.make_sink`; the fixed row schema is in `schema`. Importing this package is cheap
(pyarrow loads only when Parquet is written or read).
"""

from vlmcli.sinks.base import ExistingPolicy, OutputFormat, ResumeState, Sink, SinkConfig
from vlmcli.sinks.registry import make_sink, sink_class
from vlmcli.sinks.schema import FIELDS, Row, RowId, Status

__all__ = [
    "FIELDS",
    "ExistingPolicy",
    "OutputFormat",
    "ResumeState",
    "Row",
    "RowId",
    "Sink",
    "SinkConfig",
    "Status",
    "make_sink",
    "sink_class",
]
