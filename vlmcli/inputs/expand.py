"""The INPUT arguments -> the dataset shards to read, in order (or None: plain files).

Each argument may be a shard file, a folder of shards, a `save_to_disk` folder (of a Dataset
or a DatasetDict: every split; its `dataset_dict.json` or `state.json` means the folder), a
brace pattern (`shards/{00000..00099}.tar`, expanded when no file has that literal name) or a
wildcard pattern the shell did not expand (`'shards/*.tar'`, read as a folder of its matches
is: `pattern_shards.py`). `--glob` patterns are read as those, and each line of a
`--files-from` list as an argument naming that file (a list of pictures is known by their
names, no file opened). Formats are detected per argument (`formats.py`) unless
--input-format forces one. One run reads either datasets or plain files and folders, not
both: the rows of the two kinds are keyed differently, and mixing them is almost always a
wrong argument. However a shard is spelled (listed, matched, braced), its rows are keyed by
its resolved path (`ShardRef.source`): a rerun spelling it another way resumes.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from vlmcli.errors import ConfigError, InputError
from vlmcli.inputs.addresses import address_hint
from vlmcli.inputs.braces import expand_braces
from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.formats import (
    InputFormat, Walked, dataset_files, detect_format, folder_shards, is_media_name, is_save_to_disk, saved_folder_of,
)  # fmt: skip
from vlmcli.inputs.item import ShardItem
from vlmcli.inputs.patterns import is_pattern
from vlmcli.inputs.walk import linked_notes, unreadable_text
from vlmcli.inputs.windows_paths import local_spelling
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
    inputs: Sequence[str],
    *,
    forced: InputFormat = InputFormat.AUTO,
    exclude: Path | None = None,
    globs: Sequence[str] = (),
    listed: Sequence[str] = (),
) -> DatasetShards | None:
    """The shards `inputs`, the `globs` patterns (--glob) and the `listed` paths (a
    --files-from list's lines) name, in that order, or None when they all name plain files
    and folders; `exclude`: the output folder (its shards are never input, even inside an
    input folder or matched by a pattern). The subfolders their folders' walks did not reach
    come with them (`DatasetShards`)."""
    found = _Found(forced, exclude)
    for raw in _arguments(inputs):
        if Path(raw).exists():
            found.path(Path(raw), spelled=raw)
        elif is_pattern(raw):  # quoted, or typed in cmd.exe/PowerShell
            found.pattern(raw, given=True)
        elif forced not in (InputFormat.AUTO, InputFormat.FILES) or raw not in inputs:
            raise InputError(f"No such shard: {raw}")
        else:
            found.missing.append(f"No such file or folder: {raw}")  # the plain-files path reports it
    for pattern in globs:
        found.pattern(pattern, given=False)
    for line in listed:
        found.listed(line)
    return found.shards()


class _Found:
    """What the inputs name: shards, plain files (each said as "X is a plain file or folder"),
    and the missing (each its message)."""

    def __init__(self, forced: InputFormat, exclude: Path | None) -> None:
        self.forced, self.exclude = forced, exclude
        self.refs: list[ShardRef] = []
        self.walked = DatasetShards()
        self.plain: list[str] = []
        self.missing: list[str] = []

    def path(self, path: Path, *, spelled: str, listed: bool = False) -> None:
        """An existing file or folder, named by the user (a `save_to_disk` folder's own
        `dataset_dict.json` or `state.json`: its folder)."""
        if path.is_file() and self.forced in (InputFormat.AUTO, InputFormat.HF):
            path = saved_folder_of(path) or path
        if path.is_dir():
            found = _folder(path, self.forced, self.exclude)
            self.refs.extend(ShardRef(f, kind) for f, kind in found)
            self.walked.took(found)
            if not found:
                self.plain.append(f"{spelled} is a plain file or folder")
            return
        if self.forced is not InputFormat.AUTO:
            fmt = self.forced
        else:  # a list of pictures is known by its names: no file opened twice
            fmt = InputFormat.FILES if listed and is_media_name(path) else detect_format(path)
        if fmt is InputFormat.FILES:
            self.plain.append(f"{spelled}{' (in --files-from)' if listed else ''} is a plain file or folder")
        else:
            self.refs.append(ShardRef(path, fmt))

    def pattern(self, pattern: str, *, given: bool) -> None:
        """A pattern's matches (`pattern_shards`); one that matches nothing is an INPUT's error
        (said by the plain-files path as well), a --glob's silence (as for pictures)."""
        from vlmcli.inputs.pattern_shards import pattern_files, pattern_shards

        matches = pattern_files(pattern, exclude=self.exclude)
        if not matches:
            if given and self.forced is not InputFormat.AUTO:
                raise InputError(f"No such shard: {pattern} (no file matches it as a pattern either)")
            if given:
                self.missing.append(f"No such file or folder: {pattern} (no file matches it as a pattern either)")
            return
        shards = pattern_shards(pattern, matches, forced=self.forced)
        self.refs.extend(ShardRef(path, kind) for path, kind in shards)
        if not shards:
            self.plain.append(f"{pattern} matches plain files")

    def listed(self, line: str) -> None:
        """A --files-from line: as an INPUT naming that path (relative to the current folder)."""
        spelled = local_spelling(line, Path.cwd())  # images\\0001.jpg in a list written on Windows
        if not address_hint(line, fetch="") and Path(spelled).exists():
            self.path(Path(spelled), spelled=line, listed=True)
        elif self.forced is not InputFormat.AUTO:
            raise InputError(f"No such shard: {line} (in --files-from)")
        else:
            self.missing.append(f"No such file: {line} (in --files-from)")  # an error row, among pictures

    def shards(self) -> DatasetShards | None:
        if self.refs and self.plain:
            raise ConfigError(_mixed(self.plain[0], self.refs[0]))
        if self.refs and self.missing:
            raise InputError(self.missing[0])
        unique = {ref.source: ref for ref in self.refs}
        if not unique:
            return None
        self.walked.extend(unique.values())
        return self.walked


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
    """Why plain files and shards are not captioned in one run, and what to run instead;
    `plain` says what the plain input is ("photos is a plain file or folder")."""
    if ref.format is InputFormat.PDF:  # --input-format would read the picture as a damaged PDF
        return (
            f"Mixed inputs: {ref.path} is a PDF (its pages are captioned as a dataset), {plain}; caption them in "
            f"separate runs (vlm caption-dir {shlex.quote(str(ref.path))} -o <folder>, then the pictures)."
        )
    return (
        f"Mixed inputs: {plain}, {ref.path} a {ref.format.value} shard; "
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
