"""How a caption run read each dataset shard, kept in its output folder, so that `vlm export`
and `vlm report` read the same items back.

A CSV's relative paths start from the run's `--image-root`, keys come from its
`--key-column`, a `.txt` file of paths was a table because `--input-format csv` said so.
Read back without those, every item of such a run was "missing or unreadable". The run
writes them down in `.vlm-datasets.json` in its --output (one entry per shard, merged over
runs; written by the folder sinks, `ShardSink.note_datasets`):

    {"version": 1, "shards": {"/data/llava.json": {"format": "json", "image_column": null,
                                                  "key_column": null, "image_root": "/data/images"}}}

`ShardReadings` answers, per shard, with those notes; the reader's own flags, when given,
win. A shard the notes do not name (a run by an older version) is read as its content says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from vlmcli.inputs.columns import ColumnChoice
from vlmcli.inputs.formats import InputFormat
from vlmcli.inputs.item import ShardItem

NOTES_NAME = ".vlm-datasets.json"
VERSION = 1


@dataclass(frozen=True)
class ShardReading:
    """How one shard was read: its format and the columns the run named."""

    format: InputFormat
    image_column: str | None = None
    key_column: str | None = None
    image_root: str | None = None
    """An absolute folder, or None (paths start from the table's own folder)."""

    @classmethod
    def of(cls, fmt: InputFormat, choice: ColumnChoice) -> "ShardReading":
        root = str(Path(choice.image_root).resolve()) if choice.image_root is not None else None
        return cls(fmt, choice.image_column, choice.key_column, root)

    def to_json(self) -> dict[str, Any]:
        return {"format": self.format.value, "image_column": self.image_column,
                "key_column": self.key_column, "image_root": self.image_root}  # fmt: skip

    @classmethod
    def from_json(cls, data: Any) -> "ShardReading | None":
        """None for an entry this version cannot use (another tool's, a damaged file's)."""
        try:
            fields = {k: data.get(k) for k in ("image_column", "key_column", "image_root")}
            if not all(v is None or isinstance(v, str) for v in fields.values()):
                return None
            return cls(InputFormat(data["format"]), **fields)
        except (AttributeError, KeyError, TypeError, ValueError):
            return None


def load_notes(folder: Path) -> dict[str, ShardReading]:
    """shard source -> how it was read; empty when the folder has no notes (or unreadable ones)."""
    try:
        data = json.loads((folder / NOTES_NAME).read_text(encoding="utf-8"))
        shards = data["shards"] if isinstance(data, dict) else {}
    except (OSError, ValueError, KeyError):
        return {}
    found = {str(s): ShardReading.from_json(v) for s, v in shards.items()} if isinstance(shards, dict) else {}
    return {s: r for s, r in found.items() if r is not None}


def write_notes(folder: Path, readings: Mapping[str, ShardReading], *, temp: Path) -> None:
    """Merge `readings` into the folder's notes (written whole to `temp`, then renamed)."""
    merged = {s: r.to_json() for s, r in {**load_notes(folder), **readings}.items()}
    temp.write_text(json.dumps({"version": VERSION, "shards": merged}, ensure_ascii=False, indent=1), encoding="utf-8")
    os.replace(temp, folder / NOTES_NAME)


class ShardReadings:
    """Reads a run's shards back as the run read them (`items(source)`): the notes of its
    output folder, under the reader's flags (`flags`: those given win)."""

    def __init__(self, notes: Mapping[str, ShardReading] | None = None, flags: ColumnChoice | None = None) -> None:
        self._notes = dict(notes or {})
        self._flags = flags or ColumnChoice()

    @classmethod
    def of_run(cls, folder: Path, flags: ColumnChoice | None = None) -> "ShardReadings":
        return cls(load_notes(folder), flags)

    def choice(self, source: str) -> ColumnChoice:
        note, flags = self._notes.get(source), self._flags
        if note is None:
            return flags
        root = flags.image_root or (Path(note.image_root) if note.image_root and Path(note.image_root).is_dir() else None)
        return replace(
            flags,
            image_column=flags.image_column or note.image_column,
            key_column=flags.key_column or note.key_column,
            image_root=root,
        )

    def items(self, source: str) -> Iterator[ShardItem]:
        """The items of shard `source` (a `VlmError` when it cannot be read)."""
        from vlmcli.inputs.expand import ShardRef
        from vlmcli.inputs.formats import detect_format

        path = Path(source)
        note = self._notes.get(source)
        return ShardRef(path, note.format if note is not None else detect_format(path)).items(self.choice(source))
