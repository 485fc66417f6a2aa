"""Prompts and the settings hash that tells a rerun what is already done.

`config_hash` covers everything that changes a caption: the model (a hub id, or a folder's
fingerprint, the same however the folder is spelled: `model_identity.py`), requested revision,
prompt, system message, generation settings, resolution policy and the answer's constraint
(--schema/--choice/--regex/--json-mode, or a prompt-file entry's own; absent from the hash
when there is none, so free-text runs keep their hashes): rows of the same prompt text under
different constraints never count as done for each other. It uses the revision
as *requested* (None when not given) so that a rerun can decide what is done before any
model loads; pin `--revision` to tie results to one hub commit (the resolved commit is
recorded in each row's `model_revision`).

Rows written before folders were fingerprinted carry the hash of the folder as it was spelled;
each prompt keeps that hash as an alias (`Prompt.aliases`), so their ok rows still count as done
when the folder is spelled as it was then.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vlmcli.captions.prompt_file import PromptSpec
from vlmcli.errors import ConfigError
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
    aliases: tuple[str, ...] = ()
    """Older hashes of the same settings (the folder as spelled); ok rows under them count as done."""

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ConfigError("Prompts must not be empty.")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return value


def config_hash(
    *, model: str, revision: str | None, prompt: str, system: str | None, generation: Any, resolution: Any = None,
    constraint: Constraint | None = None,
) -> str:
    """A short stable hash (16 hex digits) of the settings that decide a caption."""
    settings = _plain(generation)
    if isinstance(settings, dict) and "repetition_penalty" in settings and settings["repetition_penalty"] is None:
        # the model's own (None) hashes as 1.0 did: its generation_config.json is in the model's identity
        settings["repetition_penalty"] = 1.0
    payload: dict[str, Any] = {
        "model": model,
        "revision": revision,
        "prompt": prompt,
        "system": system,
        "generation": settings,
        "resolution": _plain(resolution),
    }
    if constraint is not None:
        payload["constraint"] = constraint.to_dict()
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def make_prompts(
    prompts: Sequence[PromptSpec | str], *, model: str, revision: str | None, system: str | None, generation: Any,
    resolution: Any = None, constraint: Constraint | None = None, state_constraint: bool = True,
) -> list[Prompt]:
    """The run's prompts (duplicates dropped, order kept), each with its config hash. Each carries
    its own constraint (a prompt-file entry's) or else the run's `constraint`, and states it in
    its text unless its own `schema_prompt` or else `state_constraint` is off."""
    from vlmcli.captions.model_identity import model_identity

    specs = [p if isinstance(p, PromptSpec) else PromptSpec(p) for p in prompts]
    model_key = model_identity(model)
    made: list[Prompt] = []
    seen: set[tuple[str, str]] = set()
    for spec in specs or [PromptSpec(DEFAULT_PROMPT)]:
        own = spec.constraint if spec.constraint is not None else constraint
        state = state_constraint if spec.schema_prompt is None else spec.schema_prompt
        text = with_instruction(spec.text, own, state=state)
        identity = (text, "" if own is None else f"{own.kind}:{own.key()}")
        if identity in seen:
            continue
        seen.add(identity)
        hashes = [
            config_hash(
                model=name, revision=revision, prompt=text, system=system, generation=generation,
                resolution=resolution, constraint=own,
            )
            for name in dict.fromkeys((model_key, model))  # the identity, then the spelling if it differs
        ]
        made.append(Prompt(text=text, index=len(made), config_hash=hashes[0], constraint=own, aliases=tuple(hashes[1:])))
    return made


def prompt_hashes(prompts: Sequence[Prompt]) -> frozenset[str]:
    """Every hash whose rows a run with `prompts` reads back: theirs and their aliases."""
    return frozenset(h for p in prompts for h in (p.config_hash, *p.aliases))
