"""The INPUT arguments -> the dataset shards to read, in order (or None: plain files).

Each argument may be a shard file, a folder of shards, a `save_to_disk` folder, or a
brace pattern (`shards/{00000..00099}.tar`, expanded when no file has that literal name).
Formats are detected per argument (`formats.py`) unless --input-format forces one. One run
reads either datasets or plain files and folders, not both: the rows of the two kinds are
keyed differently, and mixing them is almost always a wrong argument.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.braces import expand_braces
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.formats import InputFormat, Walked, dataset_files, detect_format, folder_shards, is_save_to_disk
from vlmcli.inputs.item import ShardItem
from vlmcli.inputs.walk import linked_notes, unreadable_text
from vlmcli.sinks.identity import resolved_path


def _readers() -> dict[InputFormat, Callable[[Path, ColumnChoice], Iterator[ShardItem]]]:
    from vlmcli.inputs.table_shard import table_items
    from vlmcli.inputs.json_shard import json_items
    from vlmcli.inputs.pdf_shard import pdf_items
    from vlmcli.inputs.tar_shard import tar_items
    from vlmcli.inputs.zip_shard import zip_items

    return {
        InputFormat.WEBDATASET: tar_items,
        InputFormat.PARQUET: table_items,
        InputFormat.HF: partial(table_items, table="arrow"),
        InputFormat.CSV: partial(table_items, table="csv"),
        InputFormat.ZIP: zip_items,
        InputFormat.JSON: json_items,
        InputFormat.PDF: pdf_items,
    }


@dataclass(frozen=True)
class ShardRef:
    path: Path
    format: InputFormat

    @property
    def source(self) -> str:
        """The shard's resolved path: the `source` of its rows, whatever the spelling."""
        return resolved_path(str(self.path))

    def items(self, choice: ColumnChoice) -> Iterator[ShardItem]:
        """The shard's items, read through its resolved path: their messages name the shard as
        its rows do, however the path was spelled (`mix.json::v2`, not beside `/data/mix.json::v2`)."""
        return _readers()[self.format](Path(self.source), choice)


class DatasetShards(list[ShardRef]):
    """`dataset_shards`' shards, with what walking their folders did not reach, for the run to
    say as it says it of plain folders: `unreadable`, the message of each subfolder that could
    not be listed (a shard error: exit 9), and `linked`, the symlinked subfolders not followed
    (as spelled: `notes`)."""

    def __init__(self, refs: Sequence[ShardRef] = ()) -> None:
        super().__init__(refs)
        self.unreadable: list[str] = []
        self.linked: list[str] = []

    def took(self, walked: Walked) -> None:
        self.unreadable += [unreadable_text(spelled, why) for spelled, why in walked.unreadable]
        self.linked += walked.linked

    def notes(self) -> list[str]:
        """One-line notes for stderr: the symlinked folders not followed."""
        return linked_notes(self.linked)


def _arguments(inputs: Sequence[str]) -> list[str]:
    out: list[str] = []
    for raw in inputs:
        out.extend([raw] if Path(raw).exists() else expand_braces(raw))
    return out


def dataset_shards(
    inputs: Sequence[str], *, forced: InputFormat = InputFormat.AUTO, exclude: Path | None = None
) -> DatasetShards | None:
    """The shards `inputs` name, or None when they are plain files and folders; `exclude`: the
    output folder (its shards are never input, even inside an input folder). The subfolders
    their folders' walks did not reach come with them (`DatasetShards`)."""
    refs: list[ShardRef] = []
    walked = DatasetShards()
    plain: list[str] = []
    for raw in _arguments(inputs):
        path = Path(raw)
        if not path.exists():
            if forced not in (InputFormat.AUTO, InputFormat.FILES) or raw not in inputs:
                raise InputError(f"No such shard: {raw}")
            plain.append(raw)  # the plain-files path reports it as a missing input
            continue
        if path.is_dir():
            found = _folder(path, forced, exclude)
            refs.extend(ShardRef(f, kind) for f, kind in found)
            walked.took(found)
            if not found:
                plain.append(raw)
            continue
        fmt = detect_format(path) if forced is InputFormat.AUTO else forced
        if fmt is InputFormat.FILES:
            plain.append(raw)
        else:
            refs.append(ShardRef(path, fmt))
    if refs and plain:
        raise ConfigError(_mixed(plain[0], refs[0]))
    unique = {ref.source: ref for ref in refs}
    if not unique:
        return None
    walked.extend(unique.values())
    return walked


def _folder(path: Path, forced: InputFormat, exclude: Path | None) -> Walked[tuple[Path, InputFormat]]:
    """A folder's shards with the kind of each (every kind it holds, or the one forced); empty
    when it is a folder of plain files."""
    if forced is InputFormat.FILES:
        return Walked()
    if forced is InputFormat.AUTO:
        found = folder_shards(path, exclude=exclude)
        if not found and is_save_to_disk(path):  # not detect_format: that would walk the folder again
            raise InputError(f"{path} holds no hf shards.")
        return found
    files = dataset_files(path, forced, exclude=exclude)
    if not files:
        unread = "".join(f" ({unreadable_text(spelled, why)})" for spelled, why in files.unreadable[:1])
        raise InputError(f"{path} holds no {forced.value} shards{unread}.")
    found: Walked[tuple[Path, InputFormat]] = Walked([(f, forced) for f in files])
    found.unreadable, found.linked = files.unreadable, files.linked
    return found


def _mixed(plain: str, ref: ShardRef) -> str:
    """Why plain files and shards are not captioned in one run, and what to run instead."""
    if ref.format is InputFormat.PDF:  # --input-format would read the picture as a damaged PDF
        return (
            f"Mixed inputs: {ref.path} is a PDF (its pages are captioned as a dataset), {plain} a plain file or "
            f"folder; caption them in separate runs (vlm caption-dir {shlex.quote(str(ref.path))} -o <folder>, then the pictures)."
        )
    return (
        f"Mixed inputs: {plain} is a plain file or folder, {ref.path} a {ref.format.value} shard; "
        "caption them in separate runs (or force one kind with --input-format)."
    )


_NO_COLUMNS = {InputFormat.ZIP: "a zip archive's members", InputFormat.PDF: "a PDF's pages"}


def check_columns_apply(refs: Sequence[ShardRef], *, key_column: str | None, keep_columns: Sequence[str]) -> None:
    """--key-column and --keep-columns name columns of tables and tar keys; refused when no
    shard of the run has any (zips and PDFs only), before anything is read. Beside shards that
    have them, a zip's or a PDF's items simply have none (their kept columns are empty)."""
    if not (key_column or any(keep_columns)) or not refs:
        return
    if all(ref.format in _NO_COLUMNS for ref in refs):
        first = refs[0]
        raise ConfigError(f"{first.source}: {_NO_COLUMNS[first.format]} have no columns; drop --key-column and --keep-columns.")
