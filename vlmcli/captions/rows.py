"""Build output rows (`vlmcli.sinks.schema`) from engine results and failures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from vlmcli.captions.prompts import Prompt
from vlmcli.structured.verdict import constraint_note
from vlmcli.sinks.schema import Row, Status, path_bytes

if TYPE_CHECKING:
    from vlmcli.engine.events import GenerationResult


@dataclass(frozen=True)
class RowContext:
    """What every row of a run shares. `model` is recorded as `display_model` gives it: a
    folder's absolute path (however it was typed), a hub id as given."""

    model: str
    revision: str | None

    def __post_init__(self) -> None:
        from vlmcli.captions.model_identity import display_model

        object.__setattr__(self, "model", display_model(self.model))


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _base(ctx: RowContext, *, path: str, key: str | None, prompt: Prompt) -> Row:
    return {
        "key": key,
        "path": path,
        "path_bytes": path_bytes(path),
        "status": Status.OK.value,
        "error": None,
        "caption": None,
        "answer_json": None,
        "prompt": prompt.text,
        "model": ctx.model,
        "model_revision": ctx.revision,
        "config_hash": prompt.config_hash,
        "width": None,
        "height": None,
        "visual_tokens": None,
        "prompt_tokens": None,
        "completion_tokens": None,
        "latency_ms": None,
        "created_at": utc_now(),
        "source": None,
        "source_key": None,
        "extra": None,
        "notes": None,
    }


def one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip()) or "unknown error"


def error_row(
    ctx: RowContext,
    *,
    path: str,
    key: str | None,
    prompt: Prompt,
    message: str,
    size: tuple[int, int] | None = None,
    latency_ms: float | None = None,
) -> Row:
    row = _base(ctx, path=path, key=key, prompt=prompt)
    row.update(status=Status.ERROR.value, error=one_line(message), latency_ms=latency_ms)
    if size is not None:
        row.update(width=size[0], height=size[1])
    return row


def ok_row(
    ctx: RowContext, *, path: str, key: str, prompt: Prompt, result: "GenerationResult", latency_ms: float
) -> Row:
    row = _base(ctx, path=path, key=key, prompt=prompt)
    image = result.images[0] if result.images else None
    row.update(
        caption=result.text,
        answer_json=answer_json(result),
        width=image.width if image else None,
        height=image.height if image else None,
        visual_tokens=result.visual_tokens,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        latency_ms=round(latency_ms, 3),
        notes=constraint_note(result),
    )
    return row


def joined_notes(*parts: str | None) -> str | None:
    """A row's notes from several sources (reading notes, the constraint's), None when none."""
    return " ".join(part for part in parts if part) or None


def answer_json(result: "GenerationResult") -> str | None:
    """The constrained answer as JSON text (`"indoor"`, `{"count": 3}`); None for free text, and
    for an answer --max-tokens cut before it was complete (`caption` keeps the raw text)."""
    if not getattr(result, "valid", None):
        return None
    return json.dumps(result.parsed, ensure_ascii=False)


def copy_row(row: Row, *, path: str) -> Row:
    """The same result for another file with identical bytes (duplicates are captioned once)."""
    return {**row, "path": path, "path_bytes": path_bytes(path), "created_at": utc_now()}
