"""Parquet shards with the fixed caption schema (the default output).

Read them back with any Parquet reader, ignoring hidden files, e.g.
`pyarrow.dataset.dataset(folder, format="parquet", exclude_invalid_files=True)` or
`pandas.read_parquet(folder)` (both skip names that start with "." by default).
Shards written before the `path_bytes` column existed are read as if it were null.
"""

from __future__ import annotations

from pathlib import Path

from vlmcli.sinks.base import OutputFormat
from vlmcli.sinks.schema import Row, arrow_schema, restored
from vlmcli.sinks.shards import ShardedSink


def read_parquet_shard(path: Path) -> list[Row]:
    """All rows of one completed shard, `path` the real file name (`schema.restored`)."""
    import pyarrow.parquet as pq

    return [restored(row) for row in pq.read_table(path).to_pylist()]


class ParquetSink(ShardedSink):
    format = OutputFormat.PARQUET
    extension = "parquet"

    def write_file(self, path: Path, rows: list[Row]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows, schema=arrow_schema()), path)

    def read_file(self, path: Path) -> list[Row]:
        return read_parquet_shard(path)
