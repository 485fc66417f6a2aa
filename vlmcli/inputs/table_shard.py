"""A table shard: a Parquet file, one Arrow file of a `save_to_disk` dataset, or a CSV/TSV
file. One item per row, read a record batch at a time (only the image, key and kept columns).

An image given as a path is read from disk (relative to the table's folder, or to
`--image-root`); a URL, a
null cell or an unreadable path becomes that row's error, never a stop or a download. A row
img2dataset could not download (its `status` is not "success", its image null) is an item
marked `undownloaded`: it can never be captioned, and runs count it apart instead of
writing an error row for it.
A CSV has no types: its columns are read as text (a key "0007" stays "0007"). Without a
key column a table's rows are keyed by the paths their image cells name (a CSV's text, a
Parquet's string column, Hugging Face's `{bytes, path}` struct), which survive re-sorting
the table; a row naming no file (bytes only, a list of pictures) by its number.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.columns import (
    ColumnChoice,
    check_keep_columns,
    hf_image_columns,
    image_cell,
    json_safe,
    key_text,
    path_key,
    pick_image_column,
    pick_key_column,
    pick_video_column,
)
from vlmcli.inputs.csv_table import open_csv_table
from vlmcli.inputs.item import ShardItem
from vlmcli.inputs.table_errors import damaged, unreadable
from vlmcli.inputs.windows_paths import local_spelling, windows_path, wsl_hint

if TYPE_CHECKING:
    import pyarrow as pa

BATCH_ROWS = 256
Table = Literal["parquet", "arrow", "csv"]
_KIND_NAMES = {"parquet": "Parquet", "arrow": "Arrow", "csv": "CSV"}


def _batches(path: Path, columns: list[str], *, table: Table) -> Iterator["pa.RecordBatch"]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if table == "arrow":
        with pa.memory_map(str(path)) as source:  # zero-copy: pages are read as batches are used
            for batch in pa.ipc.open_stream(source):
                yield batch.select(columns)
        return
    if table == "csv":
        yield from open_csv_table(path, columns)
        return
    yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=columns)


DOWNLOAD_COLUMNS = ("status", "error_message")
"""img2dataset's columns saying whether a row's image was downloaded, and why not."""


def _download_failure(row: Mapping[str, Any]) -> str | None:
    """`img2dataset: failed_to_download: HTTP Error 404` for a row img2dataset could not fetch."""
    status = row.get("status")
    if not isinstance(status, str) or status == "success":
        return None
    message = row.get("error_message")
    return f"img2dataset: {status}" + (f": {str(message).strip()}" if message else "")


def _schema(path: Path, *, table: Table) -> "pa.Schema":
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if table == "arrow":
            with pa.memory_map(str(path)) as source:
                return pa.ipc.open_stream(source).schema
        if table == "csv":
            return open_csv_table(path, None).schema
        return pq.read_schema(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(unreadable(path, _KIND_NAMES[table], exc)) from None


def kept_schema(path: Path, columns: Iterable[str], *, table: Table) -> "pa.Schema":
    """The Arrow fields `columns` (kept columns) have in the table at `path`, with their
    `datasets` features (a `ClassLabel`'s names) in its `huggingface` metadata where the table
    declares them; a CSV's are text, as `table_items` reads them. Only the schema is read
    (a Parquet footer, an Arrow stream's header). What a run records of its kept columns'
    types (`sinks.kept_types`), for `vlm export` to give them back."""
    import json

    import pyarrow as pa

    wanted = list(dict.fromkeys(columns))
    if table == "csv":
        return pa.schema([pa.field(c, pa.string()) for c in wanted])
    schema = _schema(path, table=table)
    fields = [schema.field(i) for c in wanted if len(found := schema.get_all_field_indices(c)) == 1 for i in found]
    features = {}
    if schema.metadata and b"huggingface" in schema.metadata:
        try:
            declared = json.loads(schema.metadata[b"huggingface"])["info"]["features"]
            features = {f.name: declared[f.name] for f in fields if f.name in declared}
        except (ValueError, KeyError, TypeError):
            features = {}
    metadata = {"huggingface": json.dumps({"info": {"features": features}})} if features else None
    return pa.schema(fields, metadata=metadata)


def _image_bytes(
    value: Any, *, folder: Path, where: str, media: str = "image"
) -> tuple[bytes | None, str | None, str | None]:
    """(bytes, why there are none, the file name they came from: its extension tells a
    video whose first bytes do not)."""
    cell = image_cell(value)
    if cell.data is not None:
        return cell.data, None, cell.path
    if cell.problem is not None:
        return None, f"{where}: {cell.problem}.", None
    if cell.url is not None:
        return None, f"{where}: the image is a URL ({cell.url}); vlmcli does not download: fetch the images first (img2dataset).", None
    if cell.path is None:
        return None, f"{where}: no {media} in this row.", None
    written = windows_path(cell.path)
    if written.drive:
        return None, (
            f"{where}: {cell.path} is a Windows path, which names no file here: rewrite the table's paths "
            f"relative to its folder (or to --image-root){wsl_hint(written)}."
        ), None
    relative = local_spelling(cell.path, folder)  # images\\0001.jpg, written on Windows
    target = Path(relative).expanduser() if Path(relative).expanduser().is_absolute() else folder / relative
    try:
        return target.read_bytes(), None, relative
    except OSError as exc:
        return None, f"{where}: cannot read the image file {target} ({exc.strerror or exc}){_from_here(relative, folder)}.", None


def _from_here(path: str, folder: Path) -> str:
    """A hint when a relative path names a file from the current folder, not `folder`."""
    if Path(path).is_absolute() or not os.path.isfile(path) or folder.resolve() == Path.cwd().resolve():
        return ""
    return (
        f"; {path} exists from the current folder, but paths in a table are relative to {folder}: "
        "pass --image-root . (the folder they are written from)"
    )


def _names_files(kind: "pa.DataType") -> bool:
    """Whether an image column of this type may hold paths: text, or Hugging Face's
    `{bytes, path}` struct (not raw bytes, nor a list of pictures, keyed by row number)."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_struct(kind):
        return kind.get_field_index("path") >= 0
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view"


def _holds_pictures(kind: "pa.DataType") -> bool:
    """Whether an image column of this type holds the pictures' bytes (raw bytes, or Hugging
    Face's `{bytes, path}` struct), not only their names."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_struct(kind):
        return kind.get_field_index("bytes") >= 0
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or str(kind) == "binary_view"


def table_items(path: Path, choice: ColumnChoice, *, table: Table = "parquet") -> Iterator[ShardItem]:
    import pyarrow as pa

    schema = _schema(path, table=table)
    names = list(schema.names)
    where = str(path)
    image = pick_image_column(names, declared=hf_image_columns(schema.metadata), requested=choice.image_column, where=where)
    video = pick_video_column(
        names, image=image, declared=hf_image_columns(schema.metadata, kinds=("Video",)), requested=choice.image_column
    )
    key = pick_key_column(names, requested=choice.key_column, where=where)
    if key is None and (table == "csv" or _names_files(schema.field(image).type)):
        key = image  # a path is the row's name: keys survive re-sorting the table
    check_keep_columns(names, choice.keep_columns, where=where)
    if image in choice.keep_columns and _holds_pictures(schema.field(image).type):
        raise ConfigError(
            f"--keep-columns {image}: it is {where}'s image column and holds the pictures themselves "
            "(every row's extra would carry its picture again, as base64 text); the pictures are captioned "
            "and exported anyway: leave it out of --keep-columns."
        )
    reported = [c for c in DOWNLOAD_COLUMNS if c in names]  # img2dataset's: why a row has no image
    columns = list(dict.fromkeys([image, *([video] if video else []), *([key] if key else []), *choice.keep_columns, *reported]))
    read = 0

    def rows() -> Iterator[dict[str, Any]]:
        nonlocal read
        for batch in _batches(path, columns, table=table):
            for record in batch.to_pylist():
                yield record
                read += 1

    try:
        yield from rows_to_items(rows(), path=path, image=image, key=key, choice=choice, video=video)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(damaged(path, read, exc)) from None


def rows_to_items(
    rows: Iterable[Mapping[str, Any]], *, path: Path, image: str, key: str | None, choice: ColumnChoice,
    video: str | None = None,
) -> Iterator[ShardItem]:
    """The items of a table's rows (column name -> value), in order. A row's key is its key
    column's value (the image column's: the path it names, `path_key`), else its number; a
    repeated key gets `#row<number>`. A row with nothing in its image column gives its
    `video` column's clip, if it holds one. A row that could not be parsed carries
    `__problem__` (`json_shard.py`) and is an error item."""
    folder = choice.image_root or path.parent
    seen: set[str] = set()
    for number, row in enumerate(rows):
        named = None if key is None else path_key(row.get(key)) if key == image else key_text(row.get(key))
        item_key = named or f"{number:08d}"
        extra = {c: json_safe(row.get(c)) for c in choice.keep_columns}
        if item_key in seen:
            item_key = f"{item_key}#row{number}"
        seen.add(item_key)
        if "__problem__" in row:
            yield ShardItem(key=item_key, error=f"{path}::{item_key}: {row['__problem__']}.", extra=extra)
            continue
        value = row.get(image)
        if value is None and video is not None:
            value = row.get(video)  # a clip's record in a mix of image and video records
        if isinstance(value, (list, tuple)) and value:  # several pictures in one row: an item each
            pictures = [(f"{item_key}#image{i}", cell) for i, cell in enumerate(value)]
        else:
            pictures = [(item_key, None if isinstance(value, (list, tuple)) else value)]
        for picture_key, cell in pictures:
            media = "image" if video is None else f"image or video (columns {image}, {video})"
            image_data, error, name = _image_bytes(cell, folder=folder, where=f"{path}::{picture_key}", media=media)
            if image_data is None and cell is None and (why := _download_failure(row)) is not None:
                error = f"{error.rstrip('.')} ({why})."
                yield ShardItem(key=picture_key, error=error, extra=extra, undownloaded=True)
                continue
            yield ShardItem(key=picture_key, data=image_data, error=error, extra=extra, name=name)
