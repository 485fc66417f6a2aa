"""caption-dir's prompts as written: plain text, or a JSON object that carries its own constraint.

A prompt file (`--prompt-file`) holds one prompt per line; blank lines and lines starting
with `#` are skipped. A line that starts with `{` is a JSON object, so one run can mix free
and constrained prompts:

    Describe this image in one or two sentences.
    {"prompt": "Indoor or outdoor?", "choice": ["indoor", "outdoor"]}
    {"prompt": "What is in it?", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}
    {"prompt": "Which year?", "regex": "(19|20)[0-9]{2}", "schema_prompt": false}

Keys: `prompt` (required), one of `schema` (an object, inline JSON text, or a file beside the
prompt file) / `choice` / `regex` / `json_mode`, and `schema_prompt`. A prompt with its own
constraint keeps it; a prompt without one (a plain line, `--prompt`) takes the command's
(--schema/--choice/... or the `[caption-dir]` table of config.toml), if any.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vlmcli.errors import ConfigError, InputError, VlmError
from vlmcli.structured.flags import constraint_from_flags
from vlmcli.structured.spec import Constraint
from vlmcli.text_encoding import read_text

KEYS = ("prompt", "schema", "choice", "regex", "json_mode", "schema_prompt")


@dataclass(frozen=True)
class PromptSpec:
    """One prompt as the user wrote it, before the run's constraint and hashing apply."""

    text: str
    constraint: Constraint | None = None
    """Its own constraint; None takes the command's."""
    schema_prompt: bool | None = None
    """State the constraint in this prompt; None follows the command (--[no-]schema-prompt)."""

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ConfigError("Prompts must not be empty.")


def read_prompt_file(path: Path) -> list[PromptSpec]:
    """The file's prompts in order (see the module docstring)."""
    try:
        text = read_text(path)  # UTF-8 (a BOM dropped), or Notepad's UTF-16, or the Windows code page
    except FileNotFoundError:
        raise InputError(f"No such prompt file: {path}") from None
    except OSError as exc:
        raise InputError(f"Cannot read prompt file {path}: {exc}.") from None
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("{"):
            prompts.append(PromptSpec(line))
            continue
        try:
            prompts.append(_entry(line, folder=Path(path).parent))
        except VlmError as exc:
            raise type(exc)(f"Prompt file {path}, line {number}: {exc}") from None
    if not prompts:
        raise ConfigError(f"Prompt file {path} has no prompts (one per line).")
    return prompts


def _entry(line: str, *, folder: Path) -> PromptSpec:
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"a line starting with '{{' must be one JSON object ({exc.msg}).") from None
    if not isinstance(entry, dict):
        raise ConfigError("a line starting with '{' must be one JSON object.")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}; an entry may have: {', '.join(KEYS)}.")
    if not isinstance(entry.get("prompt"), str) or not entry["prompt"].strip():
        raise ConfigError('an entry needs "prompt": a non-empty string.')
    state = entry.get("schema_prompt")
    if state is not None and not isinstance(state, bool):
        raise ConfigError('"schema_prompt" must be true or false.')
    return PromptSpec(entry["prompt"].strip(), constraint=_constraint(entry, folder=folder), schema_prompt=state)


def _constraint(entry: dict[str, Any], *, folder: Path) -> Constraint | None:
    schema, choice, regex = entry.get("schema"), entry.get("choice"), entry.get("regex")
    if isinstance(schema, dict):
        schema = json.dumps(schema, ensure_ascii=False)
    elif isinstance(schema, str) and not schema.lstrip().startswith("{") and not Path(schema).expanduser().is_absolute():
        schema = str(folder / schema)  # a schema file beside the prompt file
    elif schema is not None and not isinstance(schema, str):
        raise ConfigError('"schema" must be a JSON Schema object, inline JSON text or a file name.')
    if choice is not None and (not isinstance(choice, list) or not choice or not all(isinstance(c, str) for c in choice)):
        raise ConfigError('"choice" must be a non-empty list of strings.')
    if regex is not None and not isinstance(regex, str):
        raise ConfigError('"regex" must be a string.')
    if not isinstance(entry.get("json_mode", False), bool):
        raise ConfigError('"json_mode" must be true or false.')
    return constraint_from_flags(schema=schema, choices=choice, regex=regex, json_mode=entry.get("json_mode", False))
