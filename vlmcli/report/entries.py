"""What the report shows: one entry per image, and which entries make the sample. Pure.

An image's status is "error" when any of its prompts has no ok row (it failed, and no
rerun fixed it), else "ok". With more images than `limit`, the sample keeps every error
up to half the limit (errors are what a person looks for) and fills the rest with ok
images drawn uniformly with a fixed seed; entries are shown in path order.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from vlmcli.sinks.schema import Row, Status


@dataclass
class Entry:
    path: str
    status: str = Status.OK.value
    captions: dict[str, str] = field(default_factory=dict)
    """prompt -> caption (ok rows; the newest per prompt)."""
    errors: dict[str, str] = field(default_factory=dict)
    """prompt -> error message, for prompts with no ok row."""
    width: int | None = None
    height: int | None = None
    source: str | None = None
    """Dataset items: the shard the picture is in, and its key there (`path` is "<source>::<key>")."""
    source_key: str | None = None
    notes: str | None = None
    """How the file was read where that differs from what was asked (the newest ok row's `notes`)."""


@dataclass(frozen=True)
class Overview:
    images: int
    errors: int
    rows: int
    prompts: list[str]
    models: list[str]


def entries_from_rows(rows: list[Row]) -> list[Entry]:
    by_path: dict[str, Entry] = {}
    newest: dict[tuple[str, str], Row] = {}
    for row in rows:
        entry = by_path.setdefault(
            row["path"], Entry(path=row["path"], source=row.get("source"), source_key=row.get("source_key"))
        )
        pair = (row["path"], row["prompt"])
        if row["status"] == Status.OK.value:
            kept = newest.get(pair)
            if kept is None or row["created_at"] > kept["created_at"]:
                newest[pair] = row
                entry.captions[row["prompt"]] = row["caption"] or ""
                entry.width, entry.height = row["width"], row["height"]
                entry.notes = row.get("notes") or entry.notes
        elif row["error"]:
            entry.errors[row["prompt"]] = row["error"]
        if entry.width is None:
            entry.width, entry.height = row["width"], row["height"]
    for entry in by_path.values():
        entry.errors = {p: e for p, e in entry.errors.items() if p not in entry.captions}
        entry.status = Status.ERROR.value if entry.errors else Status.OK.value
    return [by_path[p] for p in sorted(by_path)]


def overview(rows: list[Row], entries: list[Entry]) -> Overview:
    return Overview(
        images=len(entries),
        errors=sum(1 for e in entries if e.status == Status.ERROR.value),
        rows=len(rows),
        prompts=list(dict.fromkeys(r["prompt"] for r in rows)),
        models=sorted({r["model"] for r in rows}),
    )


def sample(entries: list[Entry], *, limit: int, seed: int = 0) -> list[Entry]:
    if len(entries) <= limit:
        return list(entries)
    rng = random.Random(seed)
    errors = [e for e in entries if e.status == Status.ERROR.value]
    ok = [e for e in entries if e.status != Status.ERROR.value]
    picked_errors = rng.sample(errors, min(len(errors), limit // 2))
    picked_ok = rng.sample(ok, min(len(ok), limit - len(picked_errors)))
    chosen = {id(e) for e in picked_errors + picked_ok}
    return [e for e in entries if id(e) in chosen]
