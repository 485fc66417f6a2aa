"""Prompts and the settings hash that tells a rerun what is already done.

`config_hash` covers everything that changes a caption: model id, requested revision,
prompt, system message, generation settings, resolution policy and the answer's constraint
(--schema/--choice/--regex/--json-mode; absent from the hash when there is none, so free-text
runs keep their hashes). It uses the revision
as *requested* (None when not given) so that a rerun can decide what is done before any
model loads; pin `--revision` to tie results to one hub commit (the resolved commit is
recorded in each row's `model_revision`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmcli.errors import ConfigError, InputError
from vlmcli.structured.prompt import with_instruction
from vlmcli.structured.spec import Constraint

DEFAULT_PROMPT = "Describe this image in one or two sentences."


@dataclass(frozen=True)
class Prompt:
    text: str
    index: int
    """Position among the run's prompts (ties in batching keep this order)."""
    config_hash: str
    constraint: Constraint | None = None
    """What the answer must look like; `text` then already states it (unless --no-schema-prompt)."""

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ConfigError("Prompts must not be empty.")


def read_prompt_file(path: Path) -> list[str]:
    """One prompt per line; blank lines and lines starting with `#` are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"No such prompt file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"Cannot read prompt file {path}: {exc}.") from None
    prompts = [line.strip() for line in text.splitlines()]
    prompts = [p for p in prompts if p and not p.startswith("#")]
    if not prompts:
        raise ConfigError(f"Prompt file {path} has no prompts (one per line).")
    return prompts


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def config_hash(
    *, model: str, revision: str | None, prompt: str, system: str | None, generation: Any, resolution: Any = None,
    constraint: Constraint | None = None,
) -> str:
    """A short stable hash (16 hex digits) of the settings that decide a caption."""
    payload: dict[str, Any] = {
        "model": model,
        "revision": revision,
        "prompt": prompt,
        "system": system,
        "generation": _plain(generation),
        "resolution": _plain(resolution),
    }
    if constraint is not None:
        payload["constraint"] = constraint.to_dict()
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_prompts(
    texts: list[str], *, model: str, revision: str | None, system: str | None, generation: Any, resolution: Any = None,
    constraint: Constraint | None = None, state_constraint: bool = True,
) -> list[Prompt]:
    """The run's prompts (duplicates dropped, order kept), each with its config hash; with a
    `constraint`, each prompt states it (unless `state_constraint` is off) and carries it."""
    unique = list(dict.fromkeys(texts)) or [DEFAULT_PROMPT]
    sent = [with_instruction(text, constraint, state=state_constraint) for text in unique]
    return [
        Prompt(
            text=text,
            index=index,
            config_hash=config_hash(
                model=model, revision=revision, prompt=text, system=system, generation=generation, resolution=resolution,
                constraint=constraint,
            ),
            constraint=constraint,
        )
        for index, text in enumerate(sent)
    ]
