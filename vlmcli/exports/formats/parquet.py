"""parquet: a Hugging Face-loadable dataset, `OUT/train-00000-of-0000N.parquet`.

Columns: `image` (struct of `bytes` and `path`, the image byte for byte, or the run's decoded
picture as a PNG where `datasets` would read it otherwise, `exports.decoded`; declared as the
`datasets` `Image` feature in the schema metadata), `file_name`, one string column per
prompt, `width`, `height`, then a dataset run's kept columns, each with the Arrow type its input
shards had where the run recorded it (`exports.kept_arrow`: int32, timestamps with their zone,
decimals, binary, dictionaries, ...), else one type found from its values (`exports.kept_table`:
lists, structs, int64, float64, bool, text; a column with no one type as JSON text).
`datasets.load_dataset("parquet", data_files=...)` or `load_dataset(OUT)` gives decoded images
with their captions. Files hold `--shard-size` records, written in row groups of 64 so memory
stays bounded by images in flight.
Videos are left out and counted, as for imagefolder.
"""

from __future__ import annotations

import json
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vlmcli.exports.formats.base import ExportFormat, Exporter, ExportSummary, Progress, count
from vlmcli.exports.kept_arrow import recorded_columns, storage_schema
from vlmcli.exports.kept_table import TableColumn, table_columns, table_fields
from vlmcli.exports.records import Joined

if TYPE_CHECKING:
    import pyarrow as pa

ROW_GROUP = 64


def hf_schema(columns: list[str], kept: dict[str, TableColumn] | None = None) -> "pa.Schema":
    """The files' schema: the fixed columns, then `kept` (export name -> its column: lists,
    structs, ... as `kept_table` types them), each also declared as a `datasets` feature."""
    import pyarrow as pa

    kept = kept or {}
    fields = [pa.field("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])), pa.field("file_name", pa.string())]
    fields += [pa.field(c, pa.string()) for c in columns] + [pa.field("width", pa.int32()), pa.field("height", pa.int32())]
    fields += [pa.field(name, column.arrow_type()) for name, column in kept.items()]
    features: dict[str, Any] = {"image": {"_type": "Image"}, "file_name": {"dtype": "string", "_type": "Value"}}
    features |= {c: {"dtype": "string", "_type": "Value"} for c in columns}
    features |= {c: {"dtype": "int32", "_type": "Value"} for c in ("width", "height")}
    features |= {name: f for name, column in kept.items() if (f := column.feature()) is not None}  # None: from Arrow
    return pa.schema(fields, metadata={"huggingface": json.dumps({"info": {"features": features}})})


class ParquetExporter(Exporter):
    format = ExportFormat.PARQUET
    pictures_only = True
    raw_as_preview = True
    writes_decoded = True
    reader_transposes = True

    def export(self, joined: Joined, out: Path | None, *, progress: Progress | None = None) -> ExportSummary:
        import pyarrow as pa
        import pyarrow.parquet as pq

        folder = self.prepare_folder(out)
        summary = ExportSummary(out=folder)
        columns = list(joined.columns)
        recorded, summary.kept_notes = recorded_columns(joined.records, joined.kept, joined.kept_types)
        kept = table_columns((r.extra for r in joined.records), joined.kept, opens_file_fields=False, recorded=recorded)
        summary.kept_as_json = {name: column.mixed for name, column in kept.items() if column.mixed is not None}
        schema = hf_schema(columns, kept)
        built = storage_schema(schema)  # recorded timestamps, dates, decimals as text, cast to `schema`
        writer: pq.ParquetWriter | None = None
        batch: list[dict[str, Any]] = []
        in_file = 0
        parts: list[Path] = []

        def flush() -> None:
            if batch and writer is not None:
                writer.write_table(pa.Table.from_pylist(batch, schema=built).cast(schema))
                batch.clear()

        try:
            for record, name, data in self.with_bytes(joined, summary, progress):
                if writer is None or in_file == self.options.shard_size:
                    flush()
                    if writer is not None:
                        writer.close()
                    parts.append(folder / f".part-{len(parts):05d}.parquet")
                    writer, in_file = pq.ParquetWriter(parts[-1], schema), 0
                batch.append(
                    {"image": {"bytes": data, "path": name}, "file_name": name, **record.captions}
                    | {"width": record.width, "height": record.height}
                    | table_fields(record.extra, joined.kept, kept)
                )
                in_file += 1
                count(summary, record)
                if len(batch) == ROW_GROUP:
                    flush()
            flush()
            if writer is not None:
                writer.close()  # its footer: written whole, or the parts removed below
        except BaseException:  # a full disk, Ctrl-C: no hidden part left behind
            if writer is not None:
                with suppress(Exception):
                    writer.close()
            for part in parts:
                with suppress(OSError):
                    part.unlink(missing_ok=True)
            raise
        for i, part in enumerate(parts):  # the final names need the count
            final = folder / f"train-{i:05d}-of-{len(parts):05d}.parquet"
            part.rename(final)
            summary.files.append(final)
        self.remove_stale(summary, r"train-\d{5}-of-\d{5}\.parquet")
        return summary
