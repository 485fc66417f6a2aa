"""One record per image, one column per prompt: the join every export format writes.

A caption run stores one row per (image, prompt, settings). `join_rows` keeps, for each
(image, prompt), the newest ok row (an older ok row of the same pair, from a rerun with
other settings, is *superseded*), and names a column per prompt:

    one prompt                       -> "caption" (or --caption-column NAME)
    several prompts                  -> "caption_1", "caption_2", ... numbered in the alphabetical
                                        order of the prompts' text, or the names given by
                                        --prompt-name NAME=PROMPT (PROMPT: the text, or "#N")

Rows do not record the order prompts were given in (batches order rows by cost), so the
numbering uses an order every shard, rerun and resume agrees on; the summary prints it.

A `caption-dir --videos` run with the built-in prompts asks images "Describe this image..."
and videos "Describe this video...": one caption per file under two prompt texts. Those two
(and only when no file has both) are one column, "caption", not two half-empty ones.

Error rows are not exported; those whose (image, prompt) has no ok row are counted, and
images with no caption at all get no record. A dataset item's kept columns (`extra`, from
`caption-dir --keep-columns`) go with its record, named in the export as `kept` says.
Pure: no file is read here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vlmcli.errors import ConfigError
from vlmcli.exports.kept import kept_columns
from vlmcli.sinks.schema import Row, Status

RESERVED_COLUMNS = frozenset(
    {"file_name", "image", "image_path", "image_path_bytes", "path", "key", "width", "height", "__key__"}
    | {"sha256", "source", "source_key"}  # webdataset's `.json` and jsonl write these beside the captions
)
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Record:
    path: str
    """The image file, as Python opens it (`schema.original_path`)."""
    key: str | None
    """sha256 of the image bytes when it was captioned."""
    width: int | None
    height: int | None
    captions: dict[str, str | None]
    """column -> caption; None where that prompt has no ok row for this image."""
    source: str | None = None
    """Dataset inputs: the shard the image is in (then `path` is "<source>::<source_key>")."""
    source_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Dataset inputs: the item's kept columns (`caption-dir --keep-columns`), by their own names."""


@dataclass(frozen=True)
class ColumnNaming:
    caption_column: str = "caption"
    prompt_names: tuple[tuple[str, str], ...] = ()
    """(column, prompt text or "#N") pairs, from --prompt-name NAME=PROMPT."""

    def __post_init__(self) -> None:
        for name in (self.caption_column, *(column for column, _ in self.prompt_names)):
            _check_column(name)
        columns = [column for column, _ in self.prompt_names]
        if len(set(columns)) != len(columns):
            raise ConfigError(f"--prompt-name gives one column name twice: {', '.join(columns)}.")

    @classmethod
    def parse(cls, *, caption_column: str, prompt_names: Iterable[str]) -> "ColumnNaming":
        pairs = []
        for item in prompt_names:
            column, sep, prompt = item.partition("=")
            if not sep or not prompt:
                raise ConfigError(f"--prompt-name takes NAME=PROMPT (the prompt's text or #N), not {item!r}.")
            pairs.append((column.strip(), prompt))
        return cls(caption_column=caption_column, prompt_names=tuple(pairs))


@dataclass(frozen=True)
class Joined:
    records: list[Record]
    columns: dict[str, str]
    """column -> prompt text, in `prompt_order`."""
    error_rows: int = 0
    """Error rows whose (image, prompt) has no ok row: not exported."""
    superseded: int = 0
    """Older ok rows of an (image, prompt) that has a newer one."""
    uncaptioned: list[str] = field(default_factory=list)
    """Images with error rows only (no record)."""
    kept: dict[str, str] = field(default_factory=dict)
    """kept column -> its name in the export (`extra_<name>` where an export field has its name)."""
    kept_types: Mapping[str, Any] = field(default_factory=dict)
    """shard source -> the Arrow schema its kept columns had (`sinks.kept_types`);
    tables give a column that type where every shard of its records agrees (`kept_arrow`)."""
    configurations: dict[str, int] = field(default_factory=dict)
    """prompt text -> how many configurations (config_hash) captioned one image under it, where
    more than one did: a rerun with other settings, or two prompt-file lines of one text with
    other constraints not stated in the text. Rows carry nothing else telling them apart, so
    the newer caption of each image is the column's."""


def _check_column(name: str) -> None:
    if not _COLUMN.match(name):
        raise ConfigError(f"Column name {name!r} must be letters, digits, '_', '.', '-' and not start with a digit.")
    if name in RESERVED_COLUMNS:
        raise ConfigError(f"Column name {name!r} is reserved by the export formats; pick another.")


def prompt_order(rows: Iterable[Row]) -> list[str]:
    """The run's prompts, in the alphabetical order of their text (see the module docstring)."""
    return sorted({row["prompt"] for row in rows})


def column_names(prompts: list[str], naming: ColumnNaming) -> dict[str, str]:
    """prompt text -> column name (see the module docstring)."""
    named: dict[str, str] = {}
    for column, ref in naming.prompt_names:
        prompt = _prompt_for(ref, prompts)
        if prompt in named:
            raise ConfigError(f"--prompt-name names the prompt {_short(prompt)!r} twice.")
        named[prompt] = column
    if len(prompts) == 1 and not named:
        return {prompts[0]: naming.caption_column}
    columns = {p: named.get(p, f"{naming.caption_column}_{i}") for i, p in enumerate(prompts, start=1)}
    clash = [c for c in columns.values() if list(columns.values()).count(c) > 1]
    if clash:
        raise ConfigError(f"Two prompts would share the column {clash[0]!r}; name them with --prompt-name.")
    return columns


def _prompt_for(ref: str, prompts: list[str]) -> str:
    if ref.startswith("#") and ref[1:].isdigit():
        number = int(ref[1:])
        if 1 <= number <= len(prompts):
            return prompts[number - 1]
    elif ref in prompts:
        return ref
    else:  # the prompt as typed, without the line stating its constraint that the run appended
        stated = [p for p in prompts if p.split("\n", 1)[0] == ref.strip()]
        if len(stated) == 1:
            return stated[0]
    listed = "; ".join(f"#{i}: {_short(p)!r}" for i, p in enumerate(prompts, start=1))
    raise ConfigError(f"--prompt-name {ref!r} matches none of the run's prompts ({listed}).")


def _short(text: str, limit: int = 50) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def join_rows(rows: list[Row], naming: ColumnNaming | None = None, *, kept_types: Mapping[str, Any] | None = None) -> Joined:
    """One record per captioned image (sorted by path), one column per prompt; `kept_types`:
    what the run recorded of its kept columns' input types (`sinks.kept_types.load_kept_types`)."""
    prompts = prompt_order(rows)
    if not prompts:
        return Joined(records=[], columns={})
    naming = naming or ColumnNaming()
    if _one_per_kind(prompts, rows) and not naming.prompt_names:
        by_prompt = {p: naming.caption_column for p in prompts}
    else:
        by_prompt = column_names(prompts, naming)
    best: dict[tuple[str, str], Row] = {}
    superseded = 0
    for row in rows:
        if row["status"] != Status.OK.value:
            continue
        pair = (row["path"], row["prompt"])
        kept = best.get(pair)
        if kept is None:
            best[pair] = row
            continue
        superseded += 1
        if _newer(row, kept):
            best[pair] = row
    configurations = _configurations(rows)
    failed = {(row["path"], row["prompt"]) for row in rows if row["status"] != Status.OK.value}
    error_rows = sum(1 for row in rows if row["status"] != Status.OK.value and (row["path"], row["prompt"]) not in best)
    images: dict[str, dict[str, Row]] = {}
    for (path, prompt), row in best.items():
        images.setdefault(path, {})[prompt] = row
    records = [_record(path, images[path], by_prompt) for path in sorted(images)]
    uncaptioned = sorted({path for path, _ in failed} - set(images))
    columns: dict[str, str] = {}
    for prompt, column in by_prompt.items():
        columns[column] = f"{columns[column]} | {prompt}" if column in columns else prompt
    return Joined(
        records=records,
        columns=columns,
        error_rows=error_rows,
        superseded=superseded,
        uncaptioned=uncaptioned,
        kept=kept_columns((r.extra for r in records), RESERVED_COLUMNS | set(columns)),
        kept_types=dict(kept_types or {}),
        configurations=configurations,
    )


def _configurations(rows: Iterable[Row]) -> dict[str, int]:
    """prompt -> the number of config hashes of its ok rows, for prompts where one image has ok
    rows of two or more (see `Joined.configurations`)."""
    hashes: dict[tuple[str, str], set[str]] = {}
    for row in rows:
        if row["status"] == Status.OK.value:
            hashes.setdefault((row["path"], row["prompt"]), set()).add(str(row.get("config_hash")))
    counts: dict[str, set[str]] = {}
    for (_, prompt), found in hashes.items():
        if len(found) > 1:
            counts.setdefault(prompt, set()).update(found)
    return {prompt: len(found) for prompt, found in sorted(counts.items())}


def _one_per_kind(prompts: list[str], rows: list[Row]) -> bool:
    """Whether the prompts are caption-dir's built-in image and video prompts, no file with both."""
    from vlmcli.captions.prompts import DEFAULT_PROMPT
    from vlmcli.captions.videos import DEFAULT_VIDEO_PROMPT

    if set(prompts) != {DEFAULT_PROMPT, DEFAULT_VIDEO_PROMPT}:
        return False
    images = {row["path"] for row in rows if row["prompt"] == DEFAULT_PROMPT}
    return not any(row["path"] in images for row in rows if row["prompt"] == DEFAULT_VIDEO_PROMPT)


def _newer(row: Row, than: Row) -> bool:
    a: datetime = row["created_at"]
    b: datetime = than["created_at"]
    return a > b


def _record(path: str, rows: Mapping[str, Row], by_prompt: Mapping[str, str]) -> Record:
    newest = max(rows.values(), key=lambda r: r["created_at"])
    return Record(
        path=path,
        key=newest["key"],
        width=newest["width"],
        height=newest["height"],
        captions=_captions(rows, by_prompt),
        source=newest.get("source"),
        source_key=newest.get("source_key"),
        extra=_kept(rows.values()),
    )


def _kept(rows: Iterable[Row]) -> dict[str, Any]:
    """The kept columns of an image's rows, a newer row's value winning (reruns may keep other columns)."""
    kept: dict[str, Any] = {}
    for row in sorted(rows, key=lambda r: r["created_at"]):
        extra = row.get("extra")
        value = json.loads(extra) if isinstance(extra, str) else extra
        if isinstance(value, dict):
            kept |= value
    return kept


def _captions(rows: Mapping[str, Row], by_prompt: Mapping[str, str]) -> dict[str, str | None]:
    """column -> caption; a column two prompts share takes the one this file has."""
    captions: dict[str, str | None] = {}
    for prompt, column in by_prompt.items():
        if prompt in rows or column not in captions:
            captions[column] = rows[prompt]["caption"] if prompt in rows else None
    return captions
